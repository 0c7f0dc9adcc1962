#!/bin/sh
# ctest integration/orderer-config: config transactions are ordered like any
# other and take effect at their height (DESIGN.md "Membership and
# configuration"), on loopback.
# Usage: orderer_config.sh FLEXCHAIN FLEXCHAIN_ORDERER ORDERER_CLIENT FLEXCHAIN_STORAGE
#
# Three orderers, two storage replicas with write quorum 2, three stand-in
# compute servers (orderer client `compute`: normal transactions valid,
# config transactions judged on the configuration in force). Load commits;
# `flexchain config update --write-quorum 1` is VALID at some height h;
# storage1 is killed (-9) and more load still commits on storage0, every
# block after h durable at its first append (with quorum 2 each append
# would lack storage1's acknowledgement: the orderers log "storage append
# failed"); `config show` prints quorum 1. A config transaction whose
# policy names an unknown organisation is TX_BAD_CONFIG and changes nothing.
set -eu

fc=$1
ord=$2
cli=$3
stor=$4
test_name=orderer-config
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/orderer_lib.sh"
orderer_yaml config-test --policy "OR(Org1,Org2)" --storage 2 --quorum 2 --compute 3

for s in 0 1; do start_storage storage$s; done
for i in 0 1 2; do start_orderer orderer$i; done
wait_leader
for i in 0 1 2; do start_compute compute$i --seconds 250; done
wait_computes 3

# blocks in the orderers' chain; storage0 must hold them all, certified
committed() {
	"$cli" check --config "$cfg" --ids orderer0,orderer1,orderer2 --acked "$tmp/acked" \
		--idle-ms 1000 >"$tmp/check.out" 2>&1 || { cat "$tmp/check.out"; fail "chain check"; }
	blocks=$(sed -n 's/^chains=.* blocks=\([0-9]*\) .*/\1/p' "$tmp/check.out")
	[ -n "$blocks" ] || fail "no block count"
	"$cli" storage-check --config "$cfg" --blocks "$blocks" --timeout-s 60 \
		>"$tmp/scheck.out" 2>&1 || { cat "$tmp/scheck.out"; fail "storage check ($1)"; }
	echo "$1: $(cat "$tmp/scheck.out")"
}

: >"$tmp/acked"
"$cli" submit --config "$cfg" --count 200 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit1.out" 2>"$tmp/submit1.log" || fail "submit 1"
committed "load 1"

"$fc" config show --config "$cfg" >"$tmp/show0.out" 2>&1 || { cat "$tmp/show0.out"; fail "config show"; }
grep -q "^storage write quorum: 2$" "$tmp/show0.out" || { cat "$tmp/show0.out"; fail "genesis quorum"; }
grep -q "^sequence: 0$" "$tmp/show0.out" || fail "genesis sequence"

# write quorum 1: VALID at some height h
"$fc" config update --config "$cfg" --write-quorum 1 --timeout-s 60 >"$tmp/update1.out" \
	2>"$tmp/update1.log" || { cat "$tmp/update1.out" "$tmp/update1.log"; fail "config update"; }
cat "$tmp/update1.out"
h=$(sed -n 's/^tx=.* height=\([0-9]*\) .* status=TX_VALID$/\1/p' "$tmp/update1.out")
[ -n "$h" ] || fail "config update not VALID"
grep -q "config status 1" "$tmp"/compute*.log || fail "no stand-in judged the config tx"

# one replica gone: with quorum 1 more load still commits on storage0
kill -9 "$pid_storage1"
wait "$pid_storage1" 2>/dev/null || true
"$cli" submit --config "$cfg" --count 200 --out "$tmp/acked" --deadline-s 60 \
	>"$tmp/submit2.out" 2>"$tmp/submit2.log" || fail "submit 2"
committed "load 2 (storage1 down)"
[ "$blocks" -gt "$((h + 1))" ] || fail "no block after the config height $h"
late=$(cat "$tmp"/orderer*.log | grep 'msg="storage append failed"' |
	sed -n 's/.* height=\([0-9]*\) .*/\1/p' | awk -v h="$h" '$1 > h' | head -n 1)
[ -z "$late" ] || fail "block $late appended as if the write quorum were still 2"

"$fc" config show --config "$cfg" >"$tmp/show1.out" 2>&1 || { cat "$tmp/show1.out"; fail "config show 1"; }
cat "$tmp/show1.out"
grep -q "^storage write quorum: 1$" "$tmp/show1.out" || fail "quorum 1 not in force"
grep -q "^sequence: 1$" "$tmp/show1.out" || fail "sequence 1 not in force"
grep -q "^in force from height: $((h + 1))$" "$tmp/show1.out" || fail "not in force from $((h + 1))"

# a policy naming an unknown organisation: refused locally without --force,
# TX_BAD_CONFIG with the reason when submitted, nothing changes
if "$fc" config update --config "$cfg" --policy 'any=OR(Org1,Org9)' >/dev/null \
	2>"$tmp/update2.log"; then
	fail "bad policy accepted locally"
fi
grep -q "Org9" "$tmp/update2.log" || fail "local refusal without reason"
rc=0
"$fc" config update --config "$cfg" --policy 'any=OR(Org1,Org9)' --force --timeout-s 60 \
	>"$tmp/update3.out" 2>"$tmp/update3.log" || rc=$?
cat "$tmp/update3.out" "$tmp/update3.log"
[ "$rc" -eq 1 ] || fail "bad config update exit $rc, want 1"
grep -q "status=TX_BAD_CONFIG$" "$tmp/update3.out" || fail "bad config not TX_BAD_CONFIG"
grep -q "TX_BAD_CONFIG at height [0-9]*: .*unknown organisation Org9" "$tmp/update3.log" ||
	fail "TX_BAD_CONFIG without its reason"
"$fc" config show --config "$cfg" >"$tmp/show2.out" 2>&1 || fail "config show 2"
grep -q "^sequence: 1$" "$tmp/show2.out" || fail "a bad config changed the sequence"
grep -q "^  any = OR(Org1,Org2) (default)$" "$tmp/show2.out" || fail "a bad config changed a policy"
grep -q "^storage write quorum: 1$" "$tmp/show2.out" || fail "quorum changed"

# usage errors are one line, exit 2
rc=0
"$fc" config update --config "$cfg" --add-storage nonsense 2>"$tmp/usage.log" || rc=$?
[ "$rc" -eq 2 ] && [ "$(wc -l <"$tmp/usage.log")" -eq 1 ] || fail "usage error"
echo "PASS"
