#!/bin/sh
# integration/storage_crash: (a) kill -9 the storage daemon twice during a
# stream of appends and restart it; the feeder retries until acknowledged.
# Afterwards every acknowledged height is stored, the chain is contiguous and
# hash-linked, all signatures verify and the stored state equals a replay
# (`flexchain ledger verify`), and SIGTERM stops the daemon cleanly.
. "$FC_LIB"

write_config 1 1
start_storage storage0
feed_start 150 8

wait_acked "$tmp/acked.txt" 20
kill9_storage storage0
sleep 0.3
start_storage storage0
wait_acked "$tmp/acked.txt" 70
kill9_storage storage0
start_storage storage0

feed_wait
last=$(tail -n 1 "$tmp/acked.txt" | awk '{print $2}')
[ "$last" = 149 ] || fail "last acknowledged height $last, expected 149"
# acknowledged heights are strictly increasing, no gaps
awk '{ if ($2 != NR - 1) { print "gap at line " NR; exit 1 } }' "$tmp/acked.txt" ||
	fail "acknowledged heights not contiguous"
[ "$(grep -c "storage replica started" "$tmp/storage0.log")" -eq 3 ] || fail "expected 3 starts"

"$FC_FEED" heights --config "$cfg" >"$tmp/heights.txt" || fail "heights"
grep -q "^storage0 149 " "$tmp/heights.txt" || fail "applied height: $(cat "$tmp/heights.txt")"
stop_storage storage0

"$FC_CLI" ledger verify --config "$cfg" --id storage0 >"$tmp/verify.log" 2>&1 ||
	fail "ledger verify: $(cat "$tmp/verify.log")"
grep -q "blocks: 150 (heights 0..149)" "$tmp/verify.log" || fail "summary: $(cat "$tmp/verify.log")"
grep -q "transactions: 1200 valid=1200" "$tmp/verify.log" || fail "summary: $(cat "$tmp/verify.log")"
cat "$tmp/verify.log"
echo "integration/storage_crash: ok"
