#!/usr/bin/env bash
# The README's test command: installs what is needed, builds with warnings as
# errors, and runs every test through ctest (unit, cluster, soft-RoCE VM).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh --vm
build=${FLEXCHAIN_BUILD_DIR:-build}
cmake -S . -B "$build" -DFLEXCHAIN_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 900
