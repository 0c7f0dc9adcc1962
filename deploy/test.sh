#!/usr/bin/env bash
# The README's test command: installs what is needed, builds with warnings as
# errors, and runs every test through ctest (unit, cli, integration, and the
# soft-RoCE and systemd VM layers), then shows what the VM runs printed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh --vm
build=${FLEXCHAIN_BUILD_DIR:-build}
cmake -S . -B "$build" -DFLEXCHAIN_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
set +e
ctest --output-on-failure -j"$(nproc)" --timeout 900 | tee ctest-output.log
rc=${PIPESTATUS[0]}
set -e

# ctest hides the output of passing tests; the soft-RoCE runs' summaries are
# worth seeing (test counts from inside the VM, and whether rdma was used).
for log in tests/rxe/vm*/console.log; do
	[[ -f $log ]] || continue
	echo "== soft-RoCE VM: $(dirname "$log")"
	grep -E '^(FC_RXE_DEVICE|backend used|transport contract|\[  (PASSED|FAILED|SKIPPED)  \]|\[==========\] .* run)' "$log" || true
done
if [[ -f tests/systemd/vm/console.log ]]; then
	echo "== systemd VM: tests/systemd/vm"
	grep -E '^vm: ' tests/systemd/vm/console.log || true
fi
# ctest's summary once more, last, so it closes the output.
echo
grep -E 'tests passed, [0-9]+ tests? failed out of' ctest-output.log | tail -1 || true
exit $rc
