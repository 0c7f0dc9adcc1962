#!/bin/sh
# ctest cli/block-cluster: `flexchain block show` and `flexchain cluster
# status` against real daemons on loopback, and the storage replica's
# /metrics and /healthz.
# Environment (set by ctest): FC_STORAGE, FC_ORDERER, FC_CLI, FC_FEED,
# FC_TAMPER, FC_LIB
# (tests/integration/storage_lib.sh).
#
# A storage replica with a metrics_port gets a few signed blocks from
# storage_feed. Then: `block show` prints header, hash link, graph summary,
# verdict and validators, in text and JSON, and fails cleanly on a missing
# height and bad usage; /metrics counts exactly the blocks and transactions
# appended; `cluster status` reports the live replica with its height, every
# other node "down", and exits 1; with a second replica (caught up) and the
# orderer running, against the configuration without compute servers, it
# exits 0; after a replica stops, 1 again.
. "$FC_LIB"
: "${FC_ORDERER:?}"

# http_get PORT PATH: the raw HTTP reply (bash's /dev/tcp: no curl needed)
http_get() {
	bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		printf "GET %s HTTP/1.0\r\n\r\n" "$2" >&3
		timeout 10 cat <&3' http_get "$1" "$2"
}

# metric FILE SERIES: the value of SERIES in a /metrics reply
metric() {
	awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }' "$1"
}

pick_base
m0=$((base + 12))
m1=$((base + 13))
cfg=$tmp/cluster.yaml
{
	echo "cluster: cli-test"
	echo "crypto_dir: $tmp/crypto"
	echo "organisations:"
	echo "  - name: Org1"
	echo "  - name: Org2"
	echo "policies:"
	echo "  - { name: both, rule: \"AND(Org1,Org2)\" }"
	echo "orderers:"
	echo "  - { id: orderer0, org: Org1, host: 127.0.0.1, port: $base, raft_port: $((base + 1)), data_dir: $tmp/data/orderer0 }"
	echo "storage:"
	echo "  write_quorum: 1"
	echo "  replicas:"
	echo "    - { id: storage0, org: Org1, host: 127.0.0.1, port: $((base + 2)), metrics_port: $m0, data_dir: $tmp/data/storage0 }"
	echo "    - { id: storage1, org: Org2, host: 127.0.0.1, port: $((base + 3)), metrics_port: $m1, data_dir: $tmp/data/storage1 }"
	echo "compute:"
	echo "  - { id: compute-org1-0, org: Org1, host: 127.0.0.1, port: $((base + 8)) }"
	echo "  - { id: compute-org2-0, org: Org2, host: 127.0.0.1, port: $((base + 9)) }"
	echo "validation:"
	echo "  threads: 2"
} >"$cfg"
"$FC_CLI" crypto generate --config "$cfg" >/dev/null || fail "crypto generate"

# --- help and usage --------------------------------------------------------
"$FC_CLI" block show --help >"$tmp/h.out" || fail "block show --help"
grep -q "^Usage: flexchain block show HEIGHT" "$tmp/h.out" || fail "block show usage text"
"$FC_CLI" cluster status --help >"$tmp/h.out" || fail "cluster status --help"
grep -q "^Usage: flexchain cluster status" "$tmp/h.out" || fail "cluster status usage text"
grep -q "^Exit status: 0 when every node listed is healthy" "$tmp/h.out" ||
	fail "cluster status documents its exit status"
"$FC_CLI" block --help | grep -q "show" || fail "block --help lists show"
"$FC_CLI" cluster --help | grep -q "status" || fail "cluster --help lists status"
st=0
"$FC_CLI" block show abc --config "$cfg" 2>"$tmp/err.out" || st=$?
[ "$st" -eq 2 ] || fail "block show abc exited $st, want 2"
[ "$(wc -l <"$tmp/err.out")" -eq 1 ] || fail "bad usage is not one line: $(cat "$tmp/err.out")"
st=0
"$FC_CLI" block show --config "$cfg" 2>/dev/null || st=$?
[ "$st" -eq 2 ] || fail "block show without HEIGHT exited $st, want 2"

# --- nothing running yet ---------------------------------------------------
st=0
"$FC_CLI" block show 0 --config "$cfg" --timeout 500 2>"$tmp/err.out" || st=$?
[ "$st" -eq 1 ] || fail "block show with every replica down exited $st, want 1"
grep -q "no storage replica answered" "$tmp/err.out" || fail "$(cat "$tmp/err.out")"

# --- one replica, four blocks ----------------------------------------------
start_storage storage0
http_get "$m0" /healthz >"$tmp/healthz.out" || fail "GET /healthz"
grep -q "^HTTP/1.[01] 200 " "$tmp/healthz.out" || fail "healthz: $(cat "$tmp/healthz.out")"
tail -n 1 "$tmp/healthz.out" | grep -qx "ok" || fail "healthz body"
"$FC_FEED" append --config "$cfg" --blocks 4 --txs 6 >"$tmp/acked.txt" 2>"$tmp/feed.log" ||
	fail "append: $(cat "$tmp/feed.log")"
[ "$(grep -c acked "$tmp/acked.txt")" -eq 4 ] || fail "expected 4 acked blocks"

"$FC_CLI" block show 2 --config "$cfg" >"$tmp/b2.out" 2>"$tmp/err.out" ||
	fail "block show 2: $(cat "$tmp/err.out")"
"$FC_CLI" block show 1 --config "$cfg" >"$tmp/b1.out" || fail "block show 1"
grep -q "^block 2 (from storage0)$" "$tmp/b2.out" || fail "block line: $(cat "$tmp/b2.out")"
grep -q "^transactions   6$" "$tmp/b2.out" || fail "tx count: $(cat "$tmp/b2.out")"
grep -Eq "^graph          [0-9]+ edges, longest chain [1-6], [0-6] independent" "$tmp/b2.out" ||
	fail "graph summary: $(cat "$tmp/b2.out")"
grep -Eq "^verdict        .*=[0-9]" "$tmp/b2.out" || fail "verdict: $(cat "$tmp/b2.out")"
grep -Eq "^  orderer      orderer0$" "$tmp/b2.out" || fail "orderer: $(cat "$tmp/b2.out")"
grep -Eq "^validated by   (compute committee|storage pool)" "$tmp/b2.out" ||
	fail "validated by: $(cat "$tmp/b2.out")"
grep -Eq "^  signers      [A-Za-z]" "$tmp/b2.out" || fail "signers: $(cat "$tmp/b2.out")"
h1=$(awk '$1 == "hash" { print $2 }' "$tmp/b1.out")
p2=$(awk '$1 == "prev" { print $3 }' "$tmp/b2.out")
[ -n "$h1" ] && [ "$h1" = "$p2" ] || fail "block 2's prev hash '$p2' is not block 1's hash '$h1'"
# verdict counts add up to the transactions
sum=$(sed -n 's/^verdict *//p' "$tmp/b2.out" | tr ' ' '\n' | awk -F= 'NF == 2 { s += $2 } END { print s + 0 }')
[ "$sum" -eq 6 ] || fail "verdict counts sum to $sum, want 6"

"$FC_CLI" block show 2 --config "$cfg" --json >"$tmp/b2.json" || fail "block show --json"
[ "$(wc -l <"$tmp/b2.json")" -eq 1 ] || fail "json is not one line"
grep -q '^{"height":2,"replica":"storage0","hash":"'"$(awk '$1 == "hash" { print $2 }' "$tmp/b2.out")"'"' "$tmp/b2.json" ||
	fail "json: $(cat "$tmp/b2.json")"
grep -q '"txs":6,"graph":{"edges":' "$tmp/b2.json" || fail "json txs: $(cat "$tmp/b2.json")"
grep -q '"validated_by":{"storage_validated":\(true\|false\),"committee":\[' "$tmp/b2.json" ||
	fail "json validated_by: $(cat "$tmp/b2.json")"

st=0
"$FC_CLI" block show 99 --config "$cfg" --replica storage0 2>"$tmp/err.out" || st=$?
[ "$st" -eq 1 ] || fail "block show 99 exited $st, want 1"
grep -q "no block at height 99" "$tmp/err.out" || fail "missing block: $(cat "$tmp/err.out")"
[ "$(wc -l <"$tmp/err.out")" -eq 1 ] || fail "missing block error is not one line"

# --- metrics ---------------------------------------------------------------
http_get "$m0" /metrics >"$tmp/metrics.out" || fail "GET /metrics"
grep -q "^HTTP/1.[01] 200 " "$tmp/metrics.out" || fail "metrics status"
grep -q "^Content-Type: text/plain; version=0.0.4" "$tmp/metrics.out" || fail "metrics content type"
[ "$(metric "$tmp/metrics.out" fc_storage_applied_height)" = 3 ] || fail "applied height metric"
[ "$(metric "$tmp/metrics.out" fc_storage_blocks_appended_total)" = 4 ] || fail "blocks metric"
[ "$(metric "$tmp/metrics.out" fc_storage_append_seconds_count)" = 4 ] || fail "latency count"
[ "$(metric "$tmp/metrics.out" 'fc_storage_append_seconds_bucket{le="+Inf"}')" = 4 ] ||
	fail "latency +Inf bucket"
grep -q '^# TYPE fc_storage_append_seconds histogram$' "$tmp/metrics.out" || fail "histogram type"
want=0
for h in 0 1 2 3; do
	n=$("$FC_CLI" block show $h --config "$cfg" | awk '$1 == "transactions" { print $2 }')
	want=$((want + n))
done
got=$(awk '/^fc_storage_txs_total\{/ { s += $2 } END { print s + 0 }' "$tmp/metrics.out")
[ "$got" -eq "$want" ] || fail "fc_storage_txs_total sums to $got, want $want"
q=$(metric "$tmp/metrics.out" 'fc_storage_queries_total{query="blocks"}')
[ "$q" != absent ] && [ "$q" -ge 4 ] || fail "block queries counted: $q"
[ "$(metric "$tmp/metrics.out" 'fc_build_info{component="storage",version="'"$("$FC_CLI" --version | awk '{ print $2 }')"'"}')" = 1 ] ||
	fail "build info"
[ "$(metric "$tmp/metrics.out" fc_storage_deliver_subscribers)" = 0 ] || fail "subscribers"
http_get "$m0" /nope | grep -q "^HTTP/1.[01] 404 " || fail "404"

# --- cluster status: storage0 up, everything else down ---------------------
st=0
"$FC_CLI" cluster status --config "$cfg" --timeout 1000 >"$tmp/status.out" 2>&1 || st=$?
[ "$st" -eq 1 ] || fail "cluster status with nodes down exited $st, want 1: $(cat "$tmp/status.out")"
grep -Eq "^storage0 +storage +127.0.0.1:$((base + 2)) +ok +3 " "$tmp/status.out" ||
	fail "storage0 line: $(cat "$tmp/status.out")"
grep -Eq "^storage1 +storage +127.0.0.1:$((base + 3)) +down " "$tmp/status.out" ||
	fail "storage1 line: $(cat "$tmp/status.out")"
grep -Eq "^orderer0 +orderer +127.0.0.1:$base +down " "$tmp/status.out" ||
	fail "orderer0 line: $(cat "$tmp/status.out")"
grep -Eq "^compute-org1-0 +compute .* down" "$tmp/status.out" ||
	fail "compute line: $(cat "$tmp/status.out")"
grep -q "^storage replicas 1 of 2 up" "$tmp/status.out" || fail "summary: $(cat "$tmp/status.out")"
grep -q "^1 of 5 nodes healthy$" "$tmp/status.out" || fail "healthy count: $(cat "$tmp/status.out")"

# --- every node up: exit 0 --------------------------------------------------
# A second replica (it catches up from storage0) and the orderer, seen
# through the same cluster without compute servers (compute servers join at
# run time; a configuration need not list any).
start_storage storage1
n=0
until "$FC_FEED" heights --config "$cfg" 2>/dev/null | grep -q "^storage1 3 "; do
	n=$((n + 1))
	[ $n -lt 600 ] || fail "storage1 did not catch up"
	sleep 0.05
done
st=0
"$FC_CLI" cluster status --config "$cfg" --timeout 1000 >"$tmp/status2.out" 2>&1 || st=$?
[ "$st" -eq 1 ] || fail "status exited $st with orderer and compute down"
grep -Eq "^storage1 +storage .* ok +3 " "$tmp/status2.out" ||
	fail "storage1 after catch-up: $(cat "$tmp/status2.out")"
grep -q "^storage replicas 2 of 2 up" "$tmp/status2.out" || fail "2 of 2: $(cat "$tmp/status2.out")"

cfg2=$tmp/running.yaml
grep -v "compute" "$cfg" >"$cfg2"
touch "$tmp/orderer0.log"
"$FC_ORDERER" --config "$cfg2" --id orderer0 >>"$tmp/orderer0.log" 2>&1 &
opid=$!
pids="$pids $opid"
n=0
until grep -q "started" "$tmp/orderer0.log"; do
	kill -0 "$opid" 2>/dev/null || fail "orderer0 exited at start"
	n=$((n + 1))
	[ $n -lt 600 ] || fail "orderer0 did not start"
	sleep 0.05
done
st=0
"$FC_CLI" cluster status --config "$cfg2" --timeout 1000 >"$tmp/status-all.out" 2>&1 || st=$?
[ "$st" -eq 0 ] || fail "cluster status with every node up exited $st: $(cat "$tmp/status-all.out")"
grep -Eq "^orderer0 +orderer +127.0.0.1:$base +up +([0-9]+|empty) " "$tmp/status-all.out" ||
	fail "orderer0 line: $(cat "$tmp/status-all.out")"
grep -q "^3 of 3 nodes healthy$" "$tmp/status-all.out" || fail "$(cat "$tmp/status-all.out")"
kill -TERM "$opid"
st=0
wait "$opid" || st=$?
[ "$st" -eq 0 ] || fail "orderer0 exited $st after SIGTERM"

stop_storage storage1
st=0
"$FC_CLI" cluster status --config "$cfg" --timeout 1000 >"$tmp/status3.out" 2>&1 || st=$?
[ "$st" -eq 1 ] || fail "status exited $st"
grep -Eq "^storage1 +storage .* down" "$tmp/status3.out" || fail "storage1 down again"

stop_storage storage0
echo "cli/block-cluster: ok"
