#!/bin/sh
# ctest integration/compute_metrics: the compute server's /metrics and
# /healthz (fc_ops.h) on loopback, state read from the storage pool, or,
# with MEMORY given, from one memory node.
# Usage: compute_metrics.sh FLEXCHAIN ORDERER STORAGE COMPUTE COMPUTE_CLIENT [MEMORY]
#
# One orderer, one storage replica (its metrics give the ledger height), two
# compute servers with metrics ports (Org1: compute0, Org2: compute1; policy
# AND(Org1,Org2), committees of 2, so both validate every block). A little
# SmallBank load through both gateways; then compute0's fc_compute_height
# reaches the ledger height (bounded wait), it validated blocks and sent
# verdicts, counted the transactions by status and its state reads, is
# registered and /healthz answers 200. compute2 joins at run time with
# --metrics-port and reports registered. On SIGTERM compute0's /healthz
# turns 503 (or its port closes) and it exits 0.
set -eu

test_name=compute-metrics
. "$(dirname "$0")/cluster_lib.sh"
compute_test_args "$@"

# http PORT PATH: prints the HTTP status, then the body (000 when refused)
http() {
	curl -s --max-time 5 -o "$tmp/http.body" -w '%{http_code}\n' "http://127.0.0.1:$1$2" || true
	cat "$tmp/http.body" 2>/dev/null || true
	rm -f "$tmp/http.body"
}
# metric PORT SERIES: the value of SERIES in PORT's /metrics ("" when absent)
metric() {
	curl -s --max-time 5 "http://127.0.0.1:$1/metrics" 2>/dev/null |
		awk -v s="$2" '$1 == s { print $2; exit }'
}
# positive VALUE: whether VALUE is a number > 0
positive() { [ -n "$1" ] && awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }

start_compute_cluster compute-metrics 2 2 20 11 6
gw() { echo "127.0.0.1:$((base + 3 + $1))"; }
m0=$((base + 7))
m1=$((base + 8))
ms=$((base + 6))

# healthy PORT NAME: bounded wait for /healthz 200 on PORT
healthy() {
	n=0
	until [ "$(http "$1" /healthz | head -1)" = 200 ]; do
		n=$((n + 1))
		[ $n -lt 300 ] || fail "$2 /healthz not 200: $(http "$1" /healthz | tr '\n' ' ')"
		sleep 0.1
	done
}

# Both servers healthy once registered and serving (bounded).
healthy $m0 compute0
healthy $m1 compute1
echo "healthz: 200 on both"
[ "$(http $m0 /nope | head -1)" = 404 ] || fail "/nope is not 404"

# A little load: accounts, then bounded payments through both gateways.
for a in 0 1 2 3 4 5; do
	out=$("$cli" call --config "$cfg" --gw "$(gw $((a % 2)))" smallbank create_account a$a 1000 0)
	echo "$out" | grep -q "^code=0 status=1 " || fail "create a$a: $out"
done
: >"$tmp/txs"
"$cli" load --config "$cfg" --gws "$(gw 0),$(gw 1)" --accounts 6 --count 120 --threads 8 \
	--seconds 60 --out "$tmp/txs" >"$tmp/load.out" 2>"$tmp/load.log" || fail "load"
cat "$tmp/load.out"

# The ledger height is the storage replica's applied height + 1; once load
# stops, compute0's height reaches it (bounded wait).
n=0
while :; do
	sh_=$(metric $ms fc_storage_applied_height)
	ch=$(metric $m0 fc_compute_height)
	[ -n "$sh_" ] || fail "storage0: no fc_storage_applied_height"
	[ -n "$ch" ] || fail "compute0: no fc_compute_height"
	lh=$(awk -v h="$sh_" 'BEGIN { printf "%d", h + 1 }')
	[ "$ch" = "$lh" ] && break
	n=$((n + 1))
	[ $n -lt 300 ] || fail "fc_compute_height $ch never reached the ledger height $lh"
	sleep 0.1
done
echo "fc_compute_height $ch = ledger height $lh"
[ "$lh" -gt 3 ] || fail "the load cut no blocks (ledger height $lh)"

curl -s --max-time 5 "http://127.0.0.1:$m0/metrics" >"$tmp/metrics0.txt" || fail "scrape compute0"
grep '^fc_compute_' "$tmp/metrics0.txt" | grep -v '_bucket{' || true
v=$(metric $m0 fc_compute_blocks_validated_total)
positive "$v" || fail "blocks validated: '$v'"
v=$(metric $m0 'fc_compute_txs_validated_total{status="valid"}')
positive "$v" || fail "valid txs validated: '$v'"
v=$(metric $m0 fc_compute_verdicts_sent_total)
positive "$v" || fail "verdicts sent: '$v'"
v=$(metric $m0 'fc_compute_validation_seconds_count{stage="v2"}')
positive "$v" || fail "V2 latency count: '$v'"
v=$(metric $m0 'fc_compute_validation_seconds_count{stage="v1"}')
positive "$v" || fail "V1 latency count: '$v'"
[ "$(metric $m0 fc_compute_registered)" = 1 ] || fail "compute0 not registered"
[ "$(metric $m0 fc_compute_draining)" = 0 ] || fail "compute0 draining"
grep -q '^fc_build_info{component="compute",' "$tmp/metrics0.txt" || fail "no fc_build_info"
if [ -n "$mem" ]; then
	v=$(metric $m0 'fc_compute_state_reads_total{source="memory"}')
	w=$(metric $m0 'fc_compute_state_reads_total{source="memory_load"}')
	positive "$(awk -v a="${v:-0}" -v b="${w:-0}" 'BEGIN { print a + b }')" ||
		fail "no state read from the memory pool: memory='$v' memory_load='$w'"
	r=$(metric $m0 fc_compute_memory_hit_ratio)
	awk -v r="$r" 'BEGIN { exit !(r >= 0 && r <= 1) }' || fail "hit ratio '$r'"
else
	v=$(metric $m0 'fc_compute_state_reads_total{source="storage"}')
	positive "$v" || fail "state reads from storage: '$v'"
fi
[ "$(http $m0 /healthz | head -1)" = 200 ] || fail "compute0 /healthz after load"

# A server joining at run time serves its metrics on --metrics-port.
"$cli" issue --config "$cfg" --org Org1 --id compute2 >/dev/null || fail "issue compute2"
"$comp" --config "$cfg" --id compute2 --org Org1 --port $((base + 5)) \
	--metrics-port $((base + 9)) >"$tmp/compute2.log" 2>&1 &
cpid2=$!
pids="$pids $cpid2"
healthy $((base + 9)) compute2
[ "$(metric $((base + 9)) fc_compute_registered)" = 1 ] || fail "compute2 not registered"
echo "compute2 (joined at run time): /healthz 200, registered"

# SIGTERM: /healthz turns 503 (draining) or the port closes; exit 0.
kill -TERM "$cpid0"
saw=""
n=0
while kill -0 "$cpid0" 2>/dev/null && [ $n -lt 300 ]; do
	http $m0 /healthz >"$tmp/healthz"
	st=$(head -1 "$tmp/healthz")
	case "$st" in
	200) ;;
	503)
		[ -n "$saw" ] || saw=$st
		grep -qx draining "$tmp/healthz" || fail "503 while stopping: $(tr '\n' ' ' <"$tmp/healthz")"
		;;
	*) [ -n "$saw" ] || saw=$st ;;
	esac
	sleep 0.1
	n=$((n + 1))
done
kill -0 "$cpid0" 2>/dev/null && fail "compute0 did not stop on SIGTERM"
wait "$cpid0" && rc=0 || rc=$?
[ "$rc" -eq 0 ] || fail "compute0 exited $rc on SIGTERM"
st=$(http $m0 /healthz | head -1)
case "${saw:-$st}" in
503 | 000) ;;
*) fail "compute0 /healthz answered '${saw:-$st}' while stopping" ;;
esac
[ "$st" = 000 ] || fail "compute0's metrics port still answers ($st) after exit"
echo "SIGTERM: /healthz ${saw:-$st}, exit 0"
echo "PASS"
