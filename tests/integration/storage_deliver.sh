#!/bin/sh
# integration/storage_deliver: a Deliver subscriber that does not read for a
# while (so the replica's send queue hits fc_net's high watermark and the
# stream must wait for on_drain) still receives every block with its
# decision, in order, including blocks appended after it subscribed; queries
# keep flowing meanwhile.
. "$FC_LIB"

write_config 1 1
FC_STORAGE_LOG=debug start_storage storage0
"$FC_FEED" append --config "$cfg" --blocks 200 --txs 24 >"$tmp/acked1.txt" 2>"$tmp/feed.log" ||
	fail "first appends"
"$FC_FEED" deliver --config "$cfg" --blocks 400 --wait-file "$tmp/go" --deadline 120 >"$tmp/deliver.log" 2>&1 &
sub=$!
bgpids="$sub"
"$FC_FEED" append --config "$cfg" --blocks 200 --txs 24 >"$tmp/acked2.txt" 2>>"$tmp/feed.log" ||
	fail "appends while a subscriber stalls"
"$FC_FEED" heights --config "$cfg" | grep -q "^storage0 399 " || fail "height"
touch "$tmp/go"
st=0
wait "$sub" || st=$?
bgpids=""
[ "$st" -eq 0 ] || fail "deliver: $(cat "$tmp/deliver.log")"
grep -q "delivered 400 blocks" "$tmp/deliver.log" || fail "deliver: $(cat "$tmp/deliver.log")"
grep -q "peer slow, queueing until drained" "$tmp/storage0.log" ||
	fail "the subscriber never hit back-pressure (test too small)"
stop_storage storage0
echo "integration/storage_deliver: ok"
