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
. "$(dirname "$0")/orderer_lib.sh"
orderer_yaml outvote-test --quorum 1 --compute 3

start_storage storage0
for i in 0 1 2; do start_orderer orderer$i; done
wait_leader
start_compute compute0 --seconds 200 --lie
for i in 1 2; do start_compute compute$i --seconds 200; done
# every committee is then all three of them, the liar included
wait_computes 3

: >"$tmp/acked"
"$cli" submit --config "$cfg" --count 300 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit.out" 2>"$tmp/submit.log" || fail "submit"
cat "$tmp/submit.out"

"$cli" check --config "$cfg" --ids orderer0,orderer1,orderer2 \
	--acked "$tmp/acked" --idle-ms 1000 >"$tmp/check.out" 2>&1 ||
	{ cat "$tmp/check.out"; fail "chain check"; }
cat "$tmp/check.out"
blocks=$(sed -n 's/^chains=.* blocks=\([0-9]*\) .*/\1/p' "$tmp/check.out")
[ -n "$blocks" ] || fail "no block count"

"$cli" storage-check --config "$cfg" --blocks "$blocks" --timeout-s 60 \
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
