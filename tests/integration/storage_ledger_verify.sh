#!/bin/sh
# integration/storage_ledger_verify: `flexchain ledger verify` passes on an
# intact ledger and names the first fault of a tampered one: a block whose
# payload was changed (data hash), a broken hash link (prev_hash). Also the
# daemon's and the command's usage errors.
. "$FC_LIB"

# ---- usage ---------------------------------------------------------------
"$FC_STORAGE" --help >"$tmp/h" || fail "flexchain-storage --help"
grep -q -- "--config" "$tmp/h" || fail "daemon help"
for args in "" "--config" "--bogus" "--config $tmp/missing.yaml --id storage0" "--id x"; do
	st=0
	# shellcheck disable=SC2086
	"$FC_STORAGE" $args >"$tmp/o" 2>"$tmp/e" || st=$?
	[ "$st" -eq 2 ] || fail "'flexchain-storage $args' exited $st, expected 2"
	one_line "$tmp/e"
done
"$FC_CLI" ledger --help >/dev/null || fail "ledger --help"
"$FC_CLI" ledger verify --help >"$tmp/h" || fail "ledger verify --help"
grep -q -- "--data-dir" "$tmp/h" || fail "verify help"
st=0
"$FC_CLI" ledger verify >"$tmp/o" 2>"$tmp/e" || st=$?
[ "$st" -eq 2 ] || fail "ledger verify without args exited $st"
one_line "$tmp/e"

write_config 1 1
st=0
"$FC_STORAGE" --config "$cfg" --id nosuch >"$tmp/o" 2>"$tmp/e" || st=$?
[ "$st" -eq 2 ] || fail "unknown id exited $st"
one_line "$tmp/e"

# ---- an intact ledger ------------------------------------------------------
start_storage storage0
"$FC_FEED" append --config "$cfg" --blocks 12 --txs 3 >"$tmp/acked.txt" 2>"$tmp/feed.log" ||
	fail "feed: $(cat "$tmp/feed.log")"
# the daemon holds the RocksDB lock: verify must say so, not crash
st=0
"$FC_CLI" ledger verify --config "$cfg" --id storage0 >"$tmp/o" 2>"$tmp/e" || st=$?
[ "$st" -eq 1 ] || fail "verify of a live ledger exited $st"
one_line "$tmp/e"
stop_storage storage0
"$FC_CLI" ledger verify --config "$cfg" --id storage0 >"$tmp/ok.log" || fail "intact ledger"
grep -q "blocks: 12 (heights 0..11)" "$tmp/ok.log" || fail "summary: $(cat "$tmp/ok.log")"
grep -q "state keys: " "$tmp/ok.log" || fail "no state summary"

data=$tmp/data/storage0
# tampered HEIGHT WHAT MESSAGE: a copy of the ledger with block HEIGHT
# tampered (storage_tamper WHAT) fails verify with one line naming MESSAGE.
tampered() {
	cp -r "$data" "$tmp/$2"
	"$FC_TAMPER" "$tmp/$2" "$1" "$2" >/dev/null || fail "tamper $2"
	st=0
	"$FC_CLI" ledger verify --config "$cfg" --data-dir "$tmp/$2" >"$tmp/o" 2>"$tmp/e" || st=$?
	[ "$st" -eq 1 ] || fail "tampered $2 not detected (exit $st)"
	one_line "$tmp/e"
	grep -q "height $1: $3" "$tmp/e" || fail "$2 fault not named: $(cat "$tmp/e")"
	cat "$tmp/e"
}
# a corrupted block payload, a broken hash link
tampered 5 payload ".*data hash"
tampered 7 link "broken hash link"

# the untouched original still verifies
"$FC_CLI" ledger verify --config "$cfg" --data-dir "$data" >/dev/null || fail "original broken"
echo "integration/storage_ledger_verify: ok"
