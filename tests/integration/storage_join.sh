#!/bin/sh
# ctest integration/storage_join: a storage replica added to a running local
# cluster while flexchain-bench runs (YCSB on the kv contract, closed loop).
# The cluster has two storage replicas with write quorum 2, so a block is
# durable only once both have it.
#   1. a short bench run creates the records;
#   2. during a second run: `cluster.sh add-storage` starts storage-e0 (it
#      catches up from storage0/storage1 before it is healthy) and makes it a
#      write target (config update --add-storage, VALID); then storage1 is
#      killed (-9): the quorum of 2 now needs storage-e0, and the chain keeps
#      committing;
#   3. `cluster.sh remove-storage storage1` (config update, VALID) and a
#      third short run on {storage0, storage-e0}.
# Checked: no transaction fails except by MVCC conflict; blocks commit after
# the kill; every transaction the bench saw finish is in the ledger as the
# bench saw it; storage-e0 and storage0 end at the same height with the same
# head and genesis hashes; `flexchain ledger verify` passes on both after stop
# and counts the same transactions.
# Env: FC_SRC (source tree), FC_BUILD (build tree).
set -eu
test_name=storage_join
. "$FC_SRC/tests/integration/cluster_lib.sh"
. "$FC_SRC/tests/deploy/local_lib.sh"

# two compute servers (the first of each organisation); a second storage
# replica on the ports of a dropped compute server; write quorum 2
local_two_compute '
s0 = cfg["storage"]["replicas"][0]
cfg["storage"]["replicas"].append({"id": "storage1", "org": s0["org"], "host": "127.0.0.1",
                                   "port": spare[0]["port"], "metrics_port": spare[0]["metrics_port"],
                                   "data_dir": argv[0] + "/storage1"})
cfg["storage"]["write_quorum"] = 2
' "$tmp/data"

# height MPORT: fc_storage_applied_height of the replica with that metrics port
height() {
	curl -s -m 2 "http://127.0.0.1:$1/metrics" |
		awk '$1 == "fc_storage_applied_height" {printf "%d\n", $2}'
}

local_start
rundir=$tmp/data/run
s0_mport=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["storage"]["replicas"][0]["metrics_port"])' "$cfg")

# 1. the records
run_bench setup 4
check_run setup "2 storage replicas, write quorum 2"

# 2. add storage-e0, kill storage1, while the bench runs
run_bench_bg joining 24 --no-setup
sleep 3
cl_config add-storage
line=$(grep '^storage ' "$rundir/added") || fail "storage-e0 not in run/added"
set -- $line
[ "$2" = storage-e0 ] || fail "added replica is '$2', not storage-e0"
e0_port=$5
e0_mport=$6
e0_dir=$7
cl status >"$tmp/status.out" 2>&1 || { cat "$tmp/status.out" >&2; fail "cluster.sh status"; }
grep -E '^storage +storage-e0 +[0-9]+ +running +healthy' "$tmp/status.out" ||
	{ cat "$tmp/status.out" >&2; fail "status does not list storage-e0 as running and healthy"; }
# storage-e0 receives appends (the chain moves past the config block on it)
h_add=$(height "$e0_mport")
n=0
while [ "$(height "$e0_mport")" -le "$h_add" ]; do
	n=$((n + 1))
	[ $n -lt 300 ] || fail "storage-e0 stays at height $h_add after the config update"
	sleep 0.1
done
sleep 2
kill -9 "$(cat "$rundir/storage1.pid")"
h_kill=$(height "$e0_mport")
echo "storage1 killed (-9) at height $h_kill of storage-e0"
wait $bpid || fail "flexchain-bench during the join exited non-zero"
check_run joining "add-storage storage-e0, then storage1 killed (write quorum 2 of 3)"
h_after=$(height "$e0_mport")
[ "$h_after" -gt "$h_kill" ] || fail "no block committed after storage1 was killed (height $h_after)"
echo "blocks committed after the kill: heights $h_kill -> $h_after"
grep -q 'joined: ledger caught up' "$tmp/data/logs/storage-e0.log" || fail "storage-e0 did not log its catch-up"

# 3. take the dead replica out of the configuration; the chain goes on
cl_config remove-storage storage1
run_bench after 4 --no-setup
check_run after "storage0 + storage-e0 (storage1 removed)"

cat "$tmp"/setup.ledger "$tmp"/joining.ledger "$tmp"/after.ledger >"$tmp/all.ledger"
ledger_agrees "$tmp/all.ledger"
echo "ledger check: all $(wc -l <"$tmp/all.ledger") transactions are in the ledger as the bench saw them"

# storage-e0 holds the same chain as storage0: same height, head and genesis
qcfg=$tmp/query.yaml
python3 - "$cfg" "$qcfg" "$e0_port" "$e0_dir" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
cfg["storage"]["replicas"].append({"id": "storage-e0", "org": "Org1", "host": "127.0.0.1",
                                   "port": int(sys.argv[3]), "data_dir": sys.argv[4]})
yaml.safe_dump(cfg, open(sys.argv[2], "w"), sort_keys=False)
PY
n=0
while :; do
	a=$(height "$s0_mport")
	b=$(height "$e0_mport")
	[ -n "$a" ] && [ "$a" = "$b" ] && break
	n=$((n + 1))
	[ $n -lt 100 ] || fail "heights differ: storage0 $a, storage-e0 $b"
	sleep 0.1
done
for h in 0 "$a"; do
	for r in storage0 storage-e0; do
		"$cli" block show "$h" --config "$qcfg" --replica "$r" --json >"$tmp/block-$r-$h.json" ||
			fail "block show $h on $r"
	done
	ha=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hash"])' "$tmp/block-storage0-$h.json")
	hb=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["hash"])' "$tmp/block-storage-e0-$h.json")
	[ -n "$ha" ] && [ "$ha" = "$hb" ] || fail "block $h: storage0 $ha, storage-e0 $hb"
done
echo "storage-e0 = storage0: height $a, head hash $ha"

bash "$launcher" stop --config "$cfg" --timeout 60 >"$tmp/stop.log" 2>&1 || fail "cluster.sh stop"
[ -z "$(leftovers)" ] || fail "processes left after stop: $(leftovers)"
"$cli" ledger verify --config "$cfg" --data-dir "$e0_dir" >"$tmp/verify-e0.out" 2>&1 ||
	{ cat "$tmp/verify-e0.out" >&2; fail "ledger verify storage-e0"; }
"$cli" ledger verify --config "$cfg" --id storage0 >"$tmp/verify-s0.out" 2>&1 ||
	{ cat "$tmp/verify-s0.out" >&2; fail "ledger verify storage0"; }
cat "$tmp/verify-e0.out"
t0=$(sed -n 's/^transactions: \([0-9]*\).*/\1/p' "$tmp/verify-s0.out")
t1=$(sed -n 's/^transactions: \([0-9]*\).*/\1/p' "$tmp/verify-e0.out")
[ -n "$t1" ] && [ "$t0" = "$t1" ] || fail "ledger verify counts differ: storage0 $t0, storage-e0 $t1"
echo "storage_join: ok"
