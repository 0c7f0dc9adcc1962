#!/bin/sh
# ctest integration/orderer-decide: validation committees, certificates and
# the storage fallback (DESIGN.md steps 4-6), on loopback.
# Usage: orderer_decide.sh FLEXCHAIN FLEXCHAIN_ORDERER ORDERER_CLIENT FLEXCHAIN_STORAGE
#
# One storage replica, three orderers, three stand-in compute servers
# (orderer client `compute`: they declare every transaction valid). Load
# with all three computes live (blocks certified by a committee majority),
# then with two of them killed (fewer than a majority of k=3 live: the
# storage pool validates), then kill the orderer leader and load again.
# Checks: the storage pool ends up holding every block of the chain, each
# with a certificate that verifies (fc_storage_verify_certified), some
# certified by committees and some storage-validated.
set -eu

fc=$1
ord=$2
cli=$3
stor=$4
test_name=orderer-decide
. "$(dirname "$0")/cluster_lib.sh"
pick_base

cat >"$tmp/cluster.yaml" <<EOF
cluster: decide-test
crypto_dir: ./crypto
organisations:
  - name: Org1
  - name: Org2
orderers:
  - { id: orderer0, org: Org1, host: 127.0.0.1, port: $((base + 0)), raft_port: $((base + 1)), data_dir: $tmp/data/orderer0 }
  - { id: orderer1, org: Org2, host: 127.0.0.1, port: $((base + 2)), raft_port: $((base + 3)), data_dir: $tmp/data/orderer1 }
  - { id: orderer2, org: Org1, host: 127.0.0.1, port: $((base + 4)), raft_port: $((base + 5)), data_dir: $tmp/data/orderer2 }
storage:
  write_quorum: 1
  replicas:
    - { id: storage0, org: Org1, host: 127.0.0.1, port: $((base + 6)), data_dir: $tmp/data/storage0 }
compute:
  - { id: compute0, org: Org1, host: 127.0.0.1, port: $((base + 7)) }
  - { id: compute1, org: Org2, host: 127.0.0.1, port: $((base + 8)) }
  - { id: compute2, org: Org1, host: 127.0.0.1, port: $((base + 9)) }
block_cutting:
  max_txs: 40
  max_bytes: 1048576
  timeout_ms: 50
validation:
  committee_size: 3
  timeout_ms: 1000
network:
  heartbeat_ms: 200
EOF
"$fc" crypto generate --config "$tmp/cluster.yaml" >/dev/null || fail "crypto generate"

"$stor" --config "$tmp/cluster.yaml" --id storage0 >"$tmp/storage0.log" 2>&1 &
pids="$pids $!"
for i in 0 1 2; do
	"$ord" --config "$tmp/cluster.yaml" --id orderer$i >"$tmp/orderer$i.log" 2>&1 &
	eval "pid_orderer$i=$!"
	pids="$pids $!"
done
leader=$(timeout 30 "$cli" leader --config "$tmp/cluster.yaml") || fail "no leader elected"
for i in 0 1 2; do
	"$cli" compute --config "$tmp/cluster.yaml" --id compute$i --seconds 200 \
		>"$tmp/compute$i.out" 2>"$tmp/compute$i.log" &
	eval "cpid$i=$!"
	pids="$pids $!"
done
# Wait (bounded) until all three registered.
n=0
while [ "$(cat "$tmp"/compute*.log | grep -c registered)" -lt 3 ] && [ $n -lt 100 ]; do
	sleep 0.1
	n=$((n + 1))
done

: >"$tmp/acked"
"$cli" submit --config "$tmp/cluster.yaml" --count 300 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit1.out" 2>"$tmp/submit1.log" || fail "submit 1"
cat "$tmp/submit1.out"

# Two of three computes gone: no committee majority possible.
kill -9 "$cpid1" "$cpid2"
"$cli" submit --config "$tmp/cluster.yaml" --count 200 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit2.out" 2>"$tmp/submit2.log" || fail "submit 2"
cat "$tmp/submit2.out"

# The leader dies; the next one resumes deciding from the storage height.
eval "kpid=\$pid_$leader"
kill -9 "$kpid"
"$cli" submit --config "$tmp/cluster.yaml" --count 100 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit3.out" 2>"$tmp/submit3.log" || fail "submit 3"
cat "$tmp/submit3.out"

alive=""
for i in 0 1 2; do
	[ "orderer$i" = "$leader" ] || alive="$alive${alive:+,}orderer$i"
done
"$cli" check --config "$tmp/cluster.yaml" --ids "$alive" --acked "$tmp/acked" --idle-ms 1000 \
	>"$tmp/check.out" 2>&1 || { cat "$tmp/check.out"; fail "chain check"; }
cat "$tmp/check.out"
blocks=$(sed -n 's/^chains=.* blocks=\([0-9]*\) .*/\1/p' "$tmp/check.out")
[ -n "$blocks" ] || fail "no block count"

"$cli" storage-check --config "$tmp/cluster.yaml" --blocks "$blocks" --timeout-s 60 \
	>"$tmp/scheck.out" 2>&1 || { cat "$tmp/scheck.out"; fail "storage check"; }
cat "$tmp/scheck.out"
grep -q "committee_certified=[1-9]" "$tmp/scheck.out" || fail "no committee-certified block"
grep -q "storage_validated=[1-9]" "$tmp/scheck.out" || fail "no storage-validated block"
echo "PASS"
