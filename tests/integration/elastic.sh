#!/bin/sh
# ctest integration/elastic: the local cluster grows and shrinks while
# flexchain-bench runs (YCSB on the kv contract, closed loop).
# Shapes, each with the bench's report printed:
#   1. 2 compute servers (one per organisation), 1 memory node: 6 s;
#   2. one 24 s run during which compute goes 2 -> 4 (cluster.sh add-compute
#      2) -> 2 (remove-compute 2: SIGTERM drains) and memory 1 -> 2
#      (cluster.sh add-memory: identity, node, config transaction);
#   3. 4 compute servers: 6 s (`flexchain cluster status` first lists the
#      joined servers and the added memory node, all healthy).
# In every run no transaction fails except by MVCC conflict (refused 0,
# unknown 0, no other invalid status), every transaction the bench saw finish
# is in the ledger with the bench's status, height and index (flexchain tx
# status), and after stop `flexchain ledger verify` passes.
# Env: FC_SRC (source tree), FC_BUILD (build tree).
set -eu
test_name=elastic
. "$FC_SRC/tests/integration/cluster_lib.sh"
. "$FC_SRC/tests/deploy/local_lib.sh"
local_two_compute
local_start

# 1. two compute servers (the setup creates the records)
run_bench shape2 6
check_run shape2 "2 compute servers, 1 memory node"

# 2. scaling while the bench runs
run_bench_bg scaling 24 --no-setup
sleep 3
cl add-compute 2 >"$tmp/add.log" 2>&1 || fail "add-compute 2"
cat "$tmp/add.log"
sleep 5
cl remove-compute 2 >"$tmp/remove.log" 2>&1 || fail "remove-compute 2"
cat "$tmp/remove.log"
sleep 2
cl_config add-memory # the shard-map config transaction
wait $bpid || fail "flexchain-bench during scaling exited non-zero"
check_run scaling "while scaling compute 2 -> 4 -> 2 and memory 1 -> 2"

# 3. four compute servers
cl add-compute 2 >"$tmp/add2.log" 2>&1 || fail "add-compute 2 (second time)"
# cluster status sees the joined servers (discovered through the orderers)
# and the memory node added by the config transaction, all healthy
"$cli" cluster status --config "$cfg" >"$tmp/status.out" 2>&1 ||
	fail "cluster status after scaling: $(cat "$tmp/status.out")"
cat "$tmp/status.out"
[ "$(grep -Ec '^compute-[^ ]*\* +compute .* (ok|up) ' "$tmp/status.out")" = 2 ] ||
	fail "cluster status does not list the 2 joined compute servers as healthy"
grep -Eq '^memory-[^ ]*\* +memory .* (ok|up) ' "$tmp/status.out" ||
	fail "cluster status does not list the added memory node"
grep -q '^compute servers  4 of 4 up' "$tmp/status.out" || fail "cluster status: not 4 compute servers"
run_bench shape4 6 --no-setup
check_run shape4 "4 compute servers (2 configured gateways + 2 joined)"
cl remove-compute 2 >"$tmp/remove2.log" 2>&1 || fail "remove-compute 2 (second time)"

# Every transaction of every run, as the ledger has it.
cat "$tmp"/shape2.ledger "$tmp"/scaling.ledger "$tmp"/shape4.ledger >"$tmp/all.ledger"
ledger_agrees "$tmp/all.ledger"
n=$(wc -l <"$tmp/all.ledger")
echo "ledger check: all $n transactions of the three runs are in the ledger with the bench's status, height and index"

stop_and_verify storage0
# the bench's transactions plus the shard-map config transaction
[ "$in_ledger" = $((n + 1)) ] || fail "the ledger holds $in_ledger transactions, the bench saw $n finish"
echo "elastic: ok"
