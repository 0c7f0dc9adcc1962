#!/bin/sh
# integration/storage_validate: (c) the storage replica's verdict (HyBE
# fallback) equals fc_validate_block run locally over the same state, for
# random blocks with MVCC conflicts, bad signatures, policy failures and
# duplicates, while a Deliver subscriber follows the chain; (d) a block with a bad orderer signature, or signed by a
# non-orderer, is refused with a clear LedgerAck. The chain built here then
# passes `flexchain ledger verify`.
. "$FC_LIB"

write_config 1 1
start_storage storage0
# a subscriber that follows the chain while it is built
"$FC_FEED" deliver --config "$cfg" --blocks 30 --deadline 60 >"$tmp/deliver.log" 2>&1 &
sub=$!
bgpids="$sub"
"$FC_FEED" validate --config "$cfg" --blocks 30 --seed $$ >"$tmp/feed.log" 2>&1 ||
	fail "storage and compute verdicts differ (see feed.log)"
grep -q "statuses:" "$tmp/feed.log" || fail "no summary"
tail -n 1 "$tmp/feed.log"
st=0
wait "$sub" || st=$?
bgpids=""
[ "$st" -eq 0 ] || fail "deliver stream: $(cat "$tmp/deliver.log")"
cat "$tmp/deliver.log"
"$FC_FEED" badsig --config "$cfg" >"$tmp/badsig.log" 2>&1 || fail "bad signatures not refused as expected"
cat "$tmp/badsig.log"
grep -q "append refused" "$tmp/storage0.log" || fail "refusal not logged"
stop_storage storage0
"$FC_CLI" ledger verify --config "$cfg" --id storage0 >"$tmp/verify.log" 2>&1 ||
	fail "ledger verify: $(cat "$tmp/verify.log")"
grep -q "blocks: 30 " "$tmp/verify.log" || fail "expected 30 blocks: $(cat "$tmp/verify.log")"
echo "integration/storage_validate: ok"
