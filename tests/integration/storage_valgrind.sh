#!/bin/sh
# integration/storage_valgrind: two replicas under valgrind memcheck serve a
# Deliver subscriber, storage validation, appends and refused appends, then
# stop on SIGTERM with no memory error and no definite/indirect leak.
# Skipped (exit 77) when valgrind is not installed.
command -v valgrind >/dev/null 2>&1 || { echo "valgrind not installed: skipped"; exit 77; }
. "$FC_LIB"

write_config 2 1
FC_WRAP="valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --log-file=$tmp/vg-%p.log"
start_storage storage0
start_storage storage1
"$FC_FEED" deliver --config "$cfg" --blocks 15 --deadline 120 >"$tmp/deliver.log" 2>&1 &
sub=$!
bgpids="$sub"
"$FC_FEED" validate --config "$cfg" --blocks 8 --seed 3 --timeout-ms 30000 >"$tmp/feed.log" 2>&1 ||
	fail "validate under valgrind"
"$FC_FEED" append --config "$cfg" --blocks 7 --timeout-ms 30000 >>"$tmp/feed.log" 2>&1 ||
	fail "append under valgrind"
"$FC_FEED" badsig --config "$cfg" --timeout-ms 30000 >>"$tmp/feed.log" 2>&1 ||
	fail "badsig under valgrind"
st=0
wait "$sub" || st=$?
bgpids=""
[ "$st" -eq 0 ] || fail "deliver under valgrind"
stop_storage storage0
stop_storage storage1
grep -h "ERROR SUMMARY" "$tmp"/vg-*.log
echo "integration/storage_valgrind: ok"
