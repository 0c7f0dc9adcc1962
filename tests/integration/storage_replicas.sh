#!/bin/sh
# integration/storage_replicas: (b) two replicas, write quorum 1. One replica
# is killed (-9) under a stream of appends and restarted while the stream
# goes on: it catches up from its peer (at start and on the first append
# with a gap), nothing acknowledged is lost, and both ledgers end identical
# (same height and last header hash) and verify.
. "$FC_LIB"

write_config 2 1
start_storage storage0
start_storage storage1
feed_start 200 4

wait_acked "$tmp/acked.txt" 20
kill9_storage storage1
wait_acked "$tmp/acked.txt" 80
start_storage storage1

feed_wait
[ "$(tail -n 1 "$tmp/acked.txt")" = "acked 199" ] || fail "last ack: $(tail -n 1 "$tmp/acked.txt")"

# both replicas at 199 with the same head hash (bounded wait for the tail)
n=0
while :; do
	"$FC_FEED" heights --config "$cfg" >"$tmp/heights.txt" || true
	a=$(awk '$1 == "storage0" {print $2, $3}' "$tmp/heights.txt")
	b=$(awk '$1 == "storage1" {print $2, $3}' "$tmp/heights.txt")
	[ -n "$a" ] && [ "$a" = "$b" ] && break
	n=$((n + 1))
	[ $n -lt 100 ] || fail "replicas differ: $(cat "$tmp/heights.txt")"
	sleep 0.1
done
case $a in 199\ *) ;; *) fail "head is $a" ;; esac
grep -q "caught up" "$tmp/storage1.log" || fail "storage1 never caught up from its peer"

stop_storage storage0
stop_storage storage1
for id in storage0 storage1; do
	"$FC_CLI" ledger verify --config "$cfg" --id $id >"$tmp/verify-$id.log" 2>&1 ||
		fail "ledger verify $id: $(cat "$tmp/verify-$id.log")"
	grep -q "blocks: 200 " "$tmp/verify-$id.log" || fail "$id: $(cat "$tmp/verify-$id.log")"
done
# identical summaries (blocks and head hash, transactions, state keys)
for id in storage0 storage1; do
	grep -E "^(blocks|transactions|state keys):" "$tmp/verify-$id.log" >"$tmp/sum-$id"
done
cmp -s "$tmp/sum-storage0" "$tmp/sum-storage1" || fail "ledgers differ"
echo "integration/storage_replicas: ok ($a)"
