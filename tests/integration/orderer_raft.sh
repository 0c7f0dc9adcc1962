#!/bin/sh
# ctest integration/orderer-raft: three orderers on loopback.
# Usage: orderer_raft.sh FLEXCHAIN FLEXCHAIN_ORDERER ORDERER_CLIENT
#
# Submits a bounded number of signed envelopes, kills -9 the leader in the
# middle of the load, keeps submitting (the client follows redirects and
# retries), then reads the chain of both survivors through delivery and
# checks: every acknowledged tx id is in the chain exactly once, no tx id
# twice, identical chains (header hashes), contiguous heights, valid hash
# chain and header signatures. Then restarts the killed orderer and checks
# that it catches up to the same chain.
set -eu

fc=$1
ord=$2
cli=$3
test_name=orderer-raft
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/orderer_lib.sh"
orderer_yaml orderer-test --max-txs 50

# Tiny snapshot settings: the killed leader misses more entries than the
# others keep, so on restart it gets a snapshot and fetches the blocks.
start() { start_orderer "$1" --snapshot-threshold 8 --snapshot-trailing 2; }
for i in 0 1 2; do start orderer$i; done

wait_leader
echo "leader: $leader"

# Load: 2000 envelopes in the background; kill the leader once a few hundred
# are acknowledged (bounded wait), keep going.
: >"$tmp/acked"
"$cli" submit --config "$cfg" --count 2000 --window 64 --out "$tmp/acked" \
	--deadline-s 120 >"$tmp/submit.out" 2>"$tmp/submit.log" &
spid=$!
pids="$pids $spid"
n=0
while [ "$(wc -l <"$tmp/acked")" -lt 300 ] && [ $n -lt 300 ]; do
	kill -0 $spid 2>/dev/null || break
	sleep 0.1
	n=$((n + 1))
done
[ "$(wc -l <"$tmp/acked")" -ge 300 ] || fail "load did not start (acked $(wc -l <"$tmp/acked"))"
eval "kpid=\$pid_$leader"
kill -9 "$kpid"
echo "killed leader $leader at $(wc -l <"$tmp/acked") acknowledged"

rc=0
wait $spid || rc=$?
cat "$tmp/submit.out"
[ $rc = 0 ] || fail "submit exited $rc"

alive=$(survivors)
new_leader=$(timeout 30 "$cli" leader --config "$cfg") || fail "no new leader"
[ "$new_leader" != "$leader" ] || fail "killed orderer still leader"
echo "new leader: $new_leader"

"$cli" check --config "$cfg" --ids "$alive" --acked "$tmp/acked" --idle-ms 1500 ||
	fail "chain check on $alive"

# The killed orderer restarts from its own block log and Raft log and
# catches up with the others.
start "$leader"
ok=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	if "$cli" check --config "$cfg" --ids "$alive,$leader" --acked "$tmp/acked" \
		--idle-ms 1000 >"$tmp/check2.out" 2>&1; then
		ok=1
		break
	fi
done
cat "$tmp/check2.out"
[ $ok = 1 ] || fail "chain check after restarting $leader"
echo "PASS"
