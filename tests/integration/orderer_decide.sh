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
. "$(dirname "$0")/orderer_lib.sh"
orderer_yaml decide-test --quorum 1 --compute 3 --validation-ms 1000

start_storage storage0
for i in 0 1 2; do start_orderer orderer$i; done
wait_leader
for i in 0 1 2; do start_compute compute$i --seconds 200; done
wait_computes 3

: >"$tmp/acked"
"$cli" submit --config "$cfg" --count 300 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit1.out" 2>"$tmp/submit1.log" || fail "submit 1"
cat "$tmp/submit1.out"

# Two of three computes gone: no committee majority possible.
kill -9 "$pid_compute1" "$pid_compute2"
"$cli" submit --config "$cfg" --count 200 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit2.out" 2>"$tmp/submit2.log" || fail "submit 2"
cat "$tmp/submit2.out"

# The leader dies; the next one resumes deciding from the storage height.
eval "kpid=\$pid_$leader"
kill -9 "$kpid"
"$cli" submit --config "$cfg" --count 100 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit3.out" 2>"$tmp/submit3.log" || fail "submit 3"
cat "$tmp/submit3.out"

alive=$(survivors)
"$cli" check --config "$cfg" --ids "$alive" --acked "$tmp/acked" --idle-ms 1000 \
	>"$tmp/check.out" 2>&1 || { cat "$tmp/check.out"; fail "chain check"; }
cat "$tmp/check.out"
blocks=$(sed -n 's/^chains=.* blocks=\([0-9]*\) .*/\1/p' "$tmp/check.out")
[ -n "$blocks" ] || fail "no block count"

"$cli" storage-check --config "$cfg" --blocks "$blocks" --timeout-s 60 \
	>"$tmp/scheck.out" 2>&1 || { cat "$tmp/scheck.out"; fail "storage check"; }
cat "$tmp/scheck.out"
grep -q "committee_certified=[1-9]" "$tmp/scheck.out" || fail "no committee-certified block"
grep -q "storage_validated=[1-9]" "$tmp/scheck.out" || fail "no storage-validated block"
echo "PASS"
