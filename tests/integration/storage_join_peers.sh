#!/bin/sh
# integration/storage_join_peers: flexchain-storage joining at run time, on
# the storage pool alone. Bad combinations of the joining options exit 2 with
# one line; a replica not in the file (--port, --metrics-port, --data-dir)
# catches up the whole ledger from the file's replicas while appends go on,
# is healthy only then, and holds the same chain (height, head hash, verify);
# SIGTERM stops it with 0; with no replica of the file reachable it exits 1
# with one line.
. "$FC_LIB"

write_config 2 1
start_storage storage0
start_storage storage1

usage() { # EXPECTED_STATUS ARGS...: one line on stderr, that status
	want=$1
	shift
	st=0
	"$FC_STORAGE" --config "$cfg" "$@" >"$tmp/usage.out" 2>"$tmp/usage.err" || st=$?
	[ "$st" -eq "$want" ] || fail "'$*' exited $st, not $want: $(cat "$tmp/usage.err")"
	one_line "$tmp/usage.err"
	cat "$tmp/usage.err"
}
usage 2 --id storagej
usage 2 --id storagej --host 127.0.0.1
usage 2 --id storage0 --host 127.0.0.1 --port 7999
usage 2 --id compute-org1-0 --port 7999
usage 2 --id storagej --port 70000
usage 2 --id storagej --port 7999 --org Org9

feed_start 300 4
wait_acked "$tmp/acked.txt" 100
"$FC_CLI" crypto issue --config "$cfg" --org Org1 --kind storage --id storagej >/dev/null ||
	fail "crypto issue storagej"
pick_base
jport=$base
jmport=$((base + 1))
"$FC_STORAGE" --config "$cfg" --id storagej --port $jport --metrics-port $jmport \
	--data-dir "$tmp/data/storagej" >"$tmp/storagej.log" 2>&1 &
jpid=$!
pids="$pids $jpid"
n=0
while :; do
	code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$jmport/healthz" || true)
	[ "$code" = 200 ] && break
	kill -0 $jpid 2>/dev/null || fail "storagej exited while joining"
	n=$((n + 1))
	[ $n -lt 600 ] || fail "storagej not healthy"
	sleep 0.05
done
grep -q "joined: ledger caught up" "$tmp/storagej.log" || fail "healthy before the catch-up ended"
joined_h=$(sed -n 's/.*joined: ledger caught up" height=\([0-9]*\).*/\1/p' "$tmp/storagej.log")
[ "$joined_h" -ge 99 ] || fail "joined at height $joined_h, the peers had at least 99"
feed_wait

# the same chain as storage0: a query configuration that names storagej
qcfg=$tmp/query.yaml
sed "s|^  replicas:|  replicas:\n    - { id: storagej, org: Org1, host: 127.0.0.1, port: $jport, data_dir: $tmp/data/storagej }|" \
	"$cfg" >"$qcfg"
# storagej got what the peers had when it joined; the rest it gets only as
# a write target, so compare at its height
for r in storage0 storagej; do
	"$FC_CLI" block show "$joined_h" --config "$qcfg" --replica $r --json >"$tmp/b-$r.json" ||
		fail "block show $joined_h on $r"
done
a=$(sed -n 's/.*"hash":"\([0-9a-f]*\)".*/\1/p' "$tmp/b-storage0.json")
b=$(sed -n 's/.*"hash":"\([0-9a-f]*\)".*/\1/p' "$tmp/b-storagej.json")
[ -n "$a" ] && [ "$a" = "$b" ] || fail "block $joined_h: storage0 $a, storagej $b"

kill -TERM $jpid
st=0
wait $jpid || st=$?
[ "$st" -eq 0 ] || fail "storagej exited $st after SIGTERM"
"$FC_CLI" ledger verify --config "$cfg" --data-dir "$tmp/data/storagej" >"$tmp/verify-j.log" 2>&1 ||
	fail "ledger verify storagej: $(cat "$tmp/verify-j.log")"

# nobody to catch up from: exit 1, one line
kill9_storage storage0
kill9_storage storage1
"$FC_CLI" crypto issue --config "$cfg" --org Org1 --kind storage --id storagek >/dev/null ||
	fail "crypto issue storagek"
st=0
"$FC_STORAGE" --config "$cfg" --id storagek --port $jport --data-dir "$tmp/data/storagek" \
	>"$tmp/k.out" 2>"$tmp/k.err" || st=$?
[ "$st" -eq 1 ] || fail "no reachable peer: exit $st, not 1"
# (the log goes to stderr too: one line of the daemon's own, last)
grep '^flexchain-storage: ' "$tmp/k.err" >"$tmp/k.msg" || true
one_line "$tmp/k.msg"
tail -n 1 "$tmp/k.err" | grep -q "^flexchain-storage: join: no peer replica answered" ||
	fail "$(cat "$tmp/k.err")"
cat "$tmp/k.msg"
echo "storage_join_peers: ok"
