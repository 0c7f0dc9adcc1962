#!/usr/bin/env bash
# The README's demo command: installs the dependencies, builds, starts the
# default local cluster (deploy/local/cluster.yaml), runs SmallBank against it
# for 30 seconds, stops the cluster and verifies the storage replica's ledger.
# Ctrl-C at any point stops the cluster.
#   FLEXCHAIN_BUILD_DIR   build directory (default build)
#   FLEXCHAIN_DEMO_CONFIG cluster YAML (default: deploy/local/cluster.yaml with
#                         its data under a fresh /tmp/flexchain-demo.XXXXXX)
#   FLEXCHAIN_TRANSPORT   tcp, rdma or auto (default: the YAML's)
set -euo pipefail
cd "$(dirname "$0")/.."

# ==== flexchain-bench arguments of the demo (after --config FILE) ==========
BENCH_ARGS=(--workload smallbank --duration 30)
# ===========================================================================

bash deploy/install-deps.sh
build=${FLEXCHAIN_BUILD_DIR:-build}
config=${FLEXCHAIN_DEMO_CONFIG:-deploy/local/cluster.yaml}
launcher=deploy/local/cluster.sh
cmake -S . -B "$build" >/dev/null
cmake --build "$build" -j"$(nproc)"

findbin() { find "$build" -maxdepth 3 -type f -name "$1" -perm -u+x | sort | head -n 1; }
cli=$(findbin flexchain)
bench=$(findbin flexchain-bench)
[[ -n $cli ]] || { echo "demo: the flexchain CLI was not built" >&2; exit 1; }

running=0
stop_cluster() {
	if [[ $running = 1 ]]; then
		running=0
		echo "== stopping the cluster"
		bash "$launcher" stop --config "$config"
	fi
}
trap 'stop_cluster' EXIT
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT TERM

# The demo's data is its own: a copy of the YAML whose nodes keep their data
# under a fresh directory (the crypto material stays beside the YAML), so a
# demo never mixes with, or removes, the data of an earlier cluster.
if [[ -z ${FLEXCHAIN_DEMO_CONFIG:-} ]]; then
	demo_root=$(mktemp -d /tmp/flexchain-demo.XXXXXX)
	python3 - "$config" "$demo_root" <<'PY'
import os, sys, yaml
src, root = sys.argv[1], sys.argv[2]
c = yaml.safe_load(open(src))
c["crypto_dir"] = os.path.join(os.path.dirname(os.path.abspath(src)), c.get("crypto_dir", "crypto"))
for n in c["orderers"] + c["storage"]["replicas"]:
    n["data_dir"] = os.path.join(root, n["id"])
yaml.safe_dump(c, open(os.path.join(root, "cluster.yaml"), "w"), sort_keys=False)
PY
	config=$demo_root/cluster.yaml
fi

echo "== starting the local cluster ($config)"
start_args=(--config "$config" --build "$build")
[[ -z ${FLEXCHAIN_TRANSPORT:-} ]] || start_args+=(--transport "$FLEXCHAIN_TRANSPORT")
running=1
bash "$launcher" start "${start_args[@]}"
# start may have written a configuration with another transport
run_config=$config
[[ -z ${FLEXCHAIN_TRANSPORT:-} ]] ||
	run_config=$(python3 -c 'import sys, yaml, os
c = yaml.safe_load(open(sys.argv[1]))
dirs = [os.path.dirname(n["data_dir"]) for n in c["orderers"] + c["storage"]["replicas"] if n.get("data_dir")]
p = os.path.join(os.path.commonpath(dirs), "cluster.yaml") if dirs else ""
print(p if p and os.path.exists(p) else sys.argv[1])' "$config")

if [[ -n $bench ]]; then
	echo "== SmallBank for 30 s: $bench --config $run_config ${BENCH_ARGS[*]}"
	"$bench" --config "$run_config" "${BENCH_ARGS[@]}"
else
	echo "== flexchain-bench is not built yet: no SmallBank run"
fi

# `ledger verify` reads the replica's RocksDB offline: stop the cluster first.
stop_cluster
storage_id=$(python3 -c 'import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["storage"]["replicas"][0]["id"])' "$config")
echo "== flexchain ledger verify --config $run_config --id $storage_id"
"$cli" ledger verify --config "$run_config" --id "$storage_id"
[[ -z ${demo_root:-} ]] || echo "== the demo's data stays in $demo_root (remove it when done)"
