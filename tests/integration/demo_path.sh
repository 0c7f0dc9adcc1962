#!/bin/sh
# ctest integration/demo-path: the README demo's path at small scale.
# deploy/local/cluster.sh starts the default local cluster (moved to free
# ports, tcp), flexchain-bench runs SmallBank for 8 s with --ledger-check and
# --json, then every transaction the bench saw finish is looked up in the
# ledger (flexchain tx status) and must be there with the bench's status,
# height and index; the heights the bench names must all be readable with
# `flexchain block show --json` and their per-status counts must cover the
# bench's; the cluster stops with no process left and `flexchain ledger
# verify` passes on the storage replica's data directory.
# Env: FC_SRC (source tree), FC_BUILD (build tree).
set -eu
test_name=demo-path
. "$FC_SRC/tests/integration/cluster_lib.sh"
. "$FC_SRC/tests/deploy/local_lib.sh"
need_bench

cfg=$tmp/cluster.yaml
local_yaml "$cfg" "$tmp/data"

cl start >"$tmp/start.log" 2>&1 || fail "cluster.sh start"
grep 'nodes healthy' "$tmp/start.log"

# SmallBank, closed loop, small scale.
"$bench" --config "$cfg" --workload smallbank --accounts 200 --concurrency 8 --duration 8 \
	--setup-batch 32 --seed 7 --timeout-ms 20000 --json "$tmp/bench.json" \
	--ledger-check "$tmp/ledger.txt" >"$tmp/bench.out" 2>"$tmp/bench.log" ||
	fail "flexchain-bench exited non-zero"
cat "$tmp/bench.out"
[ -s "$tmp/ledger.txt" ] || fail "the bench wrote no --ledger-check file"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/bench.json" ||
	fail "--json is not JSON"
committed=$(awk '$2 == "valid"' "$tmp/ledger.txt" | wc -l)
[ "$committed" -gt 0 ] || fail "no transaction committed as valid"

# Every transaction of the file, as the ledger has it.
ledger_agrees "$tmp/ledger.txt"
n=$(wc -l <"$tmp/ledger.txt")
echo "ledger check: all $n transactions of the bench ($committed valid) are in the ledger with the bench's status, height and index"

# One pass over the heights the bench names: each block's per-status counts
# are at least the bench's for that height.
for h in $(awk '{print $3}' "$tmp/ledger.txt" | sort -n -u); do
	"$cli" block show "$h" --config "$cfg" --json >"$tmp/block.json" 2>>"$tmp/block.log" ||
		fail "block show $h"
	python3 - "$tmp/block.json" "$tmp/ledger.txt" "$h" <<'PY' || fail "block $h disagrees with the bench"
import json, sys, collections
b = json.load(open(sys.argv[1]))
h = sys.argv[3]
want = collections.Counter(l.split()[1] for l in open(sys.argv[2]) if l.split()[2] == h)
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if isinstance(v, dict) and "valid" in v and all(isinstance(x, int) for x in v.values()):
                return v
            r = find(v)
            if r is not None:
                return r
    return None
counts = find(b) or {}
for st, n in want.items():
    if counts.get(st, 0) < n:
        sys.exit("height %s: %d %s in the block, the bench saw %d" % (h, counts.get(st, 0), st, n))
PY
done
echo "block check: $(awk '{print $3}' "$tmp/ledger.txt" | sort -u | wc -l) blocks agree"

storage_id=$(python3 -c 'import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["storage"]["replicas"][0]["id"])' "$cfg")
stop_and_verify "$storage_id"
[ "$in_ledger" = "$n" ] || fail "the ledger holds $in_ledger transactions, the bench saw $n finish"
echo "demo path: ok"
