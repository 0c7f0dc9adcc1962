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
local_two_compute '
cfg["memory"]["region_mb"] = 1
cfg["memory"]["high_watermark"] = 0.5
cfg["memory"]["low_watermark"] = 0.3
'
bench_size="--records 3000 --value-size 512 --setup-batch 64"
mem_mport=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["memory"]["nodes"][0]["metrics_port"])' "$cfg")
# loads RESULT: fc_memory_loads_total series whose labels contain RESULT
loads() {
	curl -s -m 2 "http://127.0.0.1:$mem_mport/metrics" |
		awk -v r="$1" 'index($1, "fc_memory_loads_total{") == 1 && index($1, r) {s += $2}
		     END {printf "%d\n", s}'
}

local_start
rundir=$tmp/data/run
run_bench setup 3
check_run setup "setup: 3000 records of 512 bytes"

cl_config add-storage
cl_config remove-storage storage0
pid0=$(cat "$rundir/storage0.pid" 2>/dev/null || true)
if [ -n "$pid0" ] && kill -0 "$pid0" 2>/dev/null; then fail "storage0 still runs"; fi
echo "storage0 removed and stopped"

ok0=$(loads ok)
bad0=$(loads fail)
run_bench after 8 --no-setup
check_run after "storage-e0 alone"
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
