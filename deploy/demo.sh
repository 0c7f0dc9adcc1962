#!/usr/bin/env bash
# The README's demo command: installs, builds and shows flexchain working.
# It grows with the project; today it builds everything and exercises the
# parts that exist (identities for the default local cluster).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
build=${FLEXCHAIN_BUILD_DIR:-build}
cmake -S . -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)"

cli="$build/client/flexchain"
if [[ -x $cli ]]; then
  out=$(mktemp -d /tmp/flexchain-demo.XXXXXX)
  echo "== flexchain crypto generate (default local cluster) -> $out"
  "$cli" crypto generate --config deploy/local/cluster.yaml --out "$out"
  find "$out" -type f | sort | sed "s|$out/||"
fi
