#!/bin/sh
# ctest integration/storage_join_readers: compute servers and memory nodes
# read from the storage replicas of the configuration in force, not only
# those of the cluster file. The cluster file has one storage replica
# (storage0); the memory node's region is small (1 MB), so reads miss and
# the memory node loads from the storage pool.
#   1. a short bench run creates 3000 records of 512 bytes (more than the
#      region holds: evictions);
#   2. `cluster.sh add-storage` adds storage-e0 (config update, VALID);
#      `cluster.sh remove-storage storage0` takes the file's only replica out
#      of the configuration (VALID) and stops it;
#   3. a bench run on storage-e0 alone: transactions commit VALID (the
#      compute servers validate with the replicas in force) and the memory
#      node serves loads (fc_memory_loads_total{...ok...} grows) with no
#      failed load.
# Env: FC_SRC (source tree), FC_BUILD (build tree).
set -eu
test_name=storage_join_readers
. "$FC_SRC/tests/integration/cluster_lib.sh"
. "$FC_SRC/tests/deploy/local_lib.sh"
need_bench

cfg=$tmp/cluster.yaml
local_yaml "$cfg" "$tmp/data"
python3 - "$cfg" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
seen, keep = set(), []
for n in cfg["compute"]:
    if n["org"] not in seen:
        seen.add(n["org"])
        keep.append(n)
cfg["compute"] = keep
cfg["memory"]["region_mb"] = 1
cfg["memory"]["high_watermark"] = 0.5
cfg["memory"]["low_watermark"] = 0.3
yaml.safe_dump(cfg, open(sys.argv[1], "w"), sort_keys=False)
PY

run_bench() {
	rn=$1
	secs=$2
	shift 2
	"$bench" --config "$cfg" --workload ycsb --records 3000 --value-size 512 --read-ratio 0.5 \
		--dist uniform --concurrency 16 --duration "$secs" --setup-batch 64 \
		--timeout-ms 20000 --json "$tmp/$rn.json" "$@" >"$tmp/$rn.out" 2>"$tmp/$rn.log" ||
		{ cat "$tmp/$rn.log" >&2; fail "flexchain-bench ($rn) exited non-zero"; }
	echo "---- $rn"
	cat "$tmp/$rn.out"
	python3 - "$tmp/$rn.json" <<'PY' || fail "$rn: no VALID commit, or a failure other than MVCC conflict"
import json, sys
s = json.load(open(sys.argv[1]))["status"]
bad = {k: v for k, v in s.items() if k not in ("valid", "mvcc_read_conflict") and v}
if bad:
    sys.exit("statuses other than valid / mvcc_read_conflict: %s" % bad)
if not s.get("valid"):
    sys.exit("no transaction committed VALID")
PY
}
mem_mport=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["memory"]["nodes"][0]["metrics_port"])' "$cfg")
# loads RESULT: fc_memory_loads_total series whose labels contain RESULT
loads() {
	curl -s -m 2 "http://127.0.0.1:$mem_mport/metrics" |
		awk -v r="$1" 'index($1, "fc_memory_loads_total{") == 1 && index($1, r) {s += $2}
		     END {printf "%d\n", s}'
}

cl start >"$tmp/start.log" 2>&1 || { cat "$tmp/start.log" >&2; tail -n 5 "$tmp"/data/logs/*.log >&2; fail "cluster.sh start"; }
grep 'nodes healthy' "$tmp/start.log"
rundir=$tmp/data/run
run_bench setup 3

cl add-storage >"$tmp/add.log" 2>&1 || { cat "$tmp/add.log" >&2; fail "add-storage"; }
cat "$tmp/add.log"
grep -q 'status=TX_VALID' "$tmp/add.log" || fail "the add-storage config transaction is not VALID"
cl remove-storage storage0 >"$tmp/remove.log" 2>&1 || { cat "$tmp/remove.log" >&2; fail "remove-storage storage0"; }
cat "$tmp/remove.log"
grep -q 'status=TX_VALID' "$tmp/remove.log" || fail "the remove-storage config transaction is not VALID"
pid0=$(cat "$rundir/storage0.pid" 2>/dev/null || true)
if [ -n "$pid0" ] && kill -0 "$pid0" 2>/dev/null; then fail "storage0 still runs"; fi
echo "storage0 removed and stopped"

ok0=$(loads ok)
bad0=$(loads fail)
run_bench after 8 --no-setup
ok1=$(loads ok)
bad1=$(loads fail)
echo "memory loads served: $ok0 -> $ok1; failed: $bad0 -> $bad1"
[ "$ok1" -gt "$ok0" ] || fail "the memory node served no load after storage0 was removed"
[ "$bad1" = "$bad0" ] || fail "memory loads failed after storage0 was removed"
grep -q 'storage replicas changed' "$tmp/data/logs/memory0.log" ||
	fail "memory0 did not switch storage replicas"
for f in "$tmp"/data/logs/compute-*.log; do
	grep -q 'storage replicas changed' "$f" || fail "$(basename "$f") did not switch storage replicas"
done
echo "PASS: compute servers and the memory node read from the replicas in force"
