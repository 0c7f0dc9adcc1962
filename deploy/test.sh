#!/usr/bin/env bash
# The README's test command: installs what is needed, builds with warnings as
# errors, and runs every test through ctest (unit, cli, integration, and the
# soft-RoCE VM layer), then shows what the VM runs printed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh --vm
build=${FLEXCHAIN_BUILD_DIR:-build}
cmake -S . -B "$build" -DFLEXCHAIN_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
rc=0
ctest --output-on-failure -j"$(nproc)" --timeout 900 || rc=$?

# ctest hides the output of passing tests; the soft-RoCE runs' summaries are
# worth seeing (test counts from inside the VM, and whether rdma was used).
for log in tests/rxe/vm*/console.log; do
	[[ -f $log ]] || continue
	echo "== soft-RoCE VM: $(dirname "$log")"
	grep -E '^(FC_RXE_DEVICE|backend used|transport contract|\[  (PASSED|FAILED|SKIPPED)  \]|\[==========\] .* run)' "$log" || true
done
exit $rc
