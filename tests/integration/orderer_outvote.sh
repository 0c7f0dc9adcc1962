#!/bin/sh
# ctest integration/orderer-outvote: a validator that signs a wrong verdict
# is outvoted by the committee majority (DESIGN.md steps 4-5), on loopback.
# Usage: orderer_outvote.sh FLEXCHAIN FLEXCHAIN_ORDERER ORDERER_CLIENT FLEXCHAIN_STORAGE
#
# One storage replica, three orderers, a committee of 3 stand-in compute
# servers (orderer client `compute`): compute1 and compute2 declare every
# transaction valid, compute0 (`--lie`) marks the first transaction of each
# block MVCC_READ_CONFLICT, so its tx_status and write-set hash differ.
# Checks, on what the storage pool stored: every certificate verifies,
# blocks were certified by the committee, each committee-certified verdict
# is the majority's (every transaction valid), and no certificate holds a
# verdict signed by the liar, although the liar did send wrong verdicts.
set -eu

fc=$1
ord=$2
cli=$3
stor=$4
test_name=orderer-outvote
. "$(dirname "$0")/cluster_lib.sh"
pick_base

cat >"$tmp/cluster.yaml" <<YAML
cluster: outvote-test
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
  timeout_ms: 5000
network:
  heartbeat_ms: 200
YAML
"$fc" crypto generate --config "$tmp/cluster.yaml" >/dev/null || fail "crypto generate"

"$stor" --config "$tmp/cluster.yaml" --id storage0 >"$tmp/storage0.log" 2>&1 &
pids="$pids $!"
for i in 0 1 2; do
	"$ord" --config "$tmp/cluster.yaml" --id orderer$i >"$tmp/orderer$i.log" 2>&1 &
	pids="$pids $!"
done
timeout 30 "$cli" leader --config "$tmp/cluster.yaml" >/dev/null || fail "no leader elected"
"$cli" compute --config "$tmp/cluster.yaml" --id compute0 --seconds 200 --lie \
	>"$tmp/compute0.out" 2>"$tmp/compute0.log" &
pids="$pids $!"
for i in 1 2; do
	"$cli" compute --config "$tmp/cluster.yaml" --id compute$i --seconds 200 \
		>"$tmp/compute$i.out" 2>"$tmp/compute$i.log" &
	pids="$pids $!"
done
# Wait (bounded) until all three registered: every committee is then all
# three of them, the liar included.
n=0
while [ "$(cat "$tmp"/compute*.log | grep -c registered)" -lt 3 ] && [ $n -lt 100 ]; do
	sleep 0.1
	n=$((n + 1))
done
[ "$(cat "$tmp"/compute*.log | grep -c registered)" -ge 3 ] || fail "computes not registered"

: >"$tmp/acked"
"$cli" submit --config "$tmp/cluster.yaml" --count 300 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit.out" 2>"$tmp/submit.log" || fail "submit"
cat "$tmp/submit.out"

"$cli" check --config "$tmp/cluster.yaml" --ids orderer0,orderer1,orderer2 \
	--acked "$tmp/acked" --idle-ms 1000 >"$tmp/check.out" 2>&1 ||
	{ cat "$tmp/check.out"; fail "chain check"; }
cat "$tmp/check.out"
blocks=$(sed -n 's/^chains=.* blocks=\([0-9]*\) .*/\1/p' "$tmp/check.out")
[ -n "$blocks" ] || fail "no block count"

"$cli" storage-check --config "$tmp/cluster.yaml" --blocks "$blocks" --timeout-s 60 \
	--liar compute0 >"$tmp/scheck.out" 2>&1 || { cat "$tmp/scheck.out"; fail "storage check"; }
cat "$tmp/scheck.out"
grep -q "committee_certified=[1-9]" "$tmp/scheck.out" || fail "no committee-certified block"
grep -q "liar_in_certificate=0 " "$tmp/scheck.out" || fail "liar's verdict certified"
lies=$(grep -c "wrong verdict signed" "$tmp/compute0.log" || true)
echo "wrong verdicts sent by compute0: $lies"
[ "$lies" -gt 0 ] || fail "the liar was never asked"
grep -q "wrong verdict signed" "$tmp/compute1.log" "$tmp/compute2.log" &&
	fail "an honest compute lied"
echo "PASS"
