#!/bin/sh
# ctest integration/compute_e2e: compute servers end to end (DESIGN.md
# steps 1-5) on loopback, state read from the storage pool (no memory
# nodes), or, with MEMORY given, from one memory node (flexchain-memory)
# that the orderer hands every certified block to.
# Usage: compute_e2e.sh FLEXCHAIN ORDERER STORAGE COMPUTE COMPUTE_CLIENT [MEMORY]
#
# One orderer, one storage replica, four compute servers (Org1: compute0,
# compute2; Org2: compute1, compute3), policy AND(Org1,Org2), committees of
# 3. SmallBank accounts are created through the gateway; bad signatures,
# unknown functions and malformed arguments are refused with their codes;
# envelopes built by hand with one endorsement, a forged endorsement, or
# endorsements over different rwsets end with the right status. Then
# concurrent send_payment with conflicts over all gateways; compute2 is
# killed mid-load; compute4 (not in the file) joins later and carries more
# load. Checks: every VALID payment's effect is in state and nothing else
# (replay in chain order equals the balances), the total is unchanged, the
# newcomer's verdicts are in stored certificates, SIGTERM drains and exits 0.
set -eu

test_name=compute-e2e
. "$(dirname "$0")/cluster_lib.sh"
compute_test_args "$@"
wait_log() { # FILE PATTERN: bounded wait for a line
	n=0
	while ! grep -q "$2" "$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 300 ] || fail "$1: no '$2'"
		sleep 0.1
	done
}

# Ports are picked free, but another test running in parallel may bind one
# of them before our daemons do: then start over on other ports (bounded).
start_compute_cluster compute-test 4 3 50 8
gw() { echo "127.0.0.1:$((base + 3 + $1))"; }
expect() { # WHAT OUTPUT PATTERN
	echo "$1: $2"
	echo "$2" | grep -q "$3" || fail "$1: expected '$3'"
}

# Accounts a0..a9 with 1000 in checking.
for a in 0 1 2 3 4 5 6 7 8 9; do
	out=$("$cli" call --config "$cfg" --gw "$(gw $((a % 4)))" smallbank create_account a$a 1000 0)
	echo "$out" | grep -q "^code=0 status=1 " || fail "create a$a: $out"
done
expect "evaluate" "$("$cli" call --config "$cfg" --gw "$(gw 1)" --mode evaluate smallbank balance a3)" \
	"^code=0 .*response=1000 "
expect "bad signature" "$("$cli" call --config "$cfg" --gw "$(gw 0)" --corrupt 1 smallbank balance a3)" \
	"^code=7 .*client signature does not verify"
expect "unknown function" "$("$cli" call --config "$cfg" --gw "$(gw 0)" smallbank no_such a3)" "^code=9 "
expect "unknown contract" "$("$cli" call --config "$cfg" --gw "$(gw 0)" nosuch f)" "^code=9 "
expect "malformed args" "$("$cli" call --config "$cfg" --gw "$(gw 1)" smallbank send_payment a1 a2 x1)" "^code=2 "
expect "async" "$("$cli" call --config "$cfg" --gw "$(gw 2)" --mode async smallbank deposit_checking a9 0)" \
	"^code=0 status=0 "

# Envelopes built by hand, judged by the committee (account z0, apart from
# the payment accounts).
out=$("$cli" call --config "$cfg" --gw "$(gw 0)" smallbank create_account z0 0 0)
echo "$out" | grep -q "^code=0 status=1 " || fail "create z0: $out"
expect "policy not met" "$("$cli" raw --config "$cfg" --org1 "$(gw 0)" --org2 "$(gw 1)" --case policy)" \
	"status=ENDORSEMENT_POLICY_FAILURE"
expect "forged endorsement" "$("$cli" raw --config "$cfg" --org1 "$(gw 0)" --org2 "$(gw 1)" --case forged)" \
	"status=BAD_SIGNATURE"
out=$("$cli" raw --config "$cfg" --org1 "$(gw 0)" --org2 "$(gw 1)" --case mismatch)
expect "mismatching rwsets" "$out" "status=BAD_SIGNATURE"
echo "$out" | grep -q "rwsets_differ=1" || fail "mismatch case: rwsets did not differ"
: >"$tmp/txs"
"$cli" load --config "$cfg" --gws "$(gw 0),$(gw 1),$(gw 2),$(gw 3)" --accounts 10 --count 400 \
	--threads 16 --seconds 120 --out "$tmp/txs" >"$tmp/load1.out" 2>"$tmp/load1.log" &
lpid=$!
bgpids="$bgpids $lpid"
n=0
while [ "$(wc -l <"$tmp/txs")" -lt 60 ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
kill -9 "$cpid2"
echo "killed compute2 after $(wc -l <"$tmp/txs") answers"
wait "$lpid" || fail "load 1"
cat "$tmp/load1.out"

# A server that is not in the file joins (Org2) and takes load.
"$cli" issue --config "$cfg" --org Org2 --id compute4 >/dev/null || fail "issue compute4"
"$comp" --config "$cfg" --id compute4 --org Org2 --port $((base + 7)) >"$tmp/compute4.log" 2>&1 &
cpid4=$!
pids="$pids $cpid4"
wait_log "$tmp/compute4.log" 'msg="registered"'
"$cli" load --config "$cfg" --gws "$(gw 0),$(gw 1),$(gw 3),$(gw 4)" --accounts 10 --count 300 \
	--threads 16 --seconds 120 --out "$tmp/txs" >"$tmp/load2.out" 2>"$tmp/load2.log" ||
	fail "load 2"
cat "$tmp/load2.out"

"$cli" check --config "$cfg" --gw "$(gw 1)" --accounts 10 --initial 1000 --log "$tmp/txs" \
	>"$tmp/check.out" 2>&1 || { cat "$tmp/check.out"; fail "balances differ from the replay"; }
cat "$tmp/check.out"
grep -q "valid=[1-9]" "$tmp/check.out" || fail "no valid payment"

"$cli" verdicts --config "$cfg" >"$tmp/verdicts.out" || fail "verdicts"
cat "$tmp/verdicts.out"
grep -q "^signer=compute4 verdicts=[1-9]" "$tmp/verdicts.out" || fail "compute4 never validated"

# SIGTERM: drain, deregister, exit 0.
kill -TERM "$cpid0"
n=0
while kill -0 "$cpid0" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
kill -0 "$cpid0" 2>/dev/null && fail "compute0 did not stop on SIGTERM"
wait "$cpid0" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || fail "compute0 exited $rc on SIGTERM"
grep -q 'msg="deregistered"' "$tmp/compute0.log" || fail "compute0 did not deregister"
if [ -n "$mem" ]; then
	grep -q 'state=memory' "$tmp/compute0.log" || fail "compute0 did not read state from the memory pool"
fi
echo "PASS"
