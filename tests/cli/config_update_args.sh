#!/bin/sh
# ctest cli/config-update-args: how `flexchain config update` reads
# --add-memory ID:HOST:PORT:DATA_PORT[:METRICS_PORT] and
# --add-storage ID:HOST:PORT[:METRICS_PORT]. Usage: config_update_args.sh
# FLEXCHAIN. No cluster is needed: a well-formed node gets past the argument
# check and fails later on the missing cluster file (exit 1, the file named),
# a malformed one is refused as bad usage (exit 2, one line naming the form).
set -eu

fc=$1
test_name=cli-config-args
. "$(dirname "$0")/../integration/cluster_lib.sh"
missing=$tmp/no-such-cluster.yaml

# accepted ARGS...: the arguments are fine; the missing file stops it
accepted() {
	rc=0
	"$fc" config update --config "$missing" "$@" >"$tmp/o" 2>"$tmp/e" || rc=$?
	[ "$rc" = 1 ] || fail "'$*': exit $rc, want 1 ($(cat "$tmp/e"))"
	grep -q "no-such-cluster.yaml" "$tmp/e" || fail "'$*': $(cat "$tmp/e")"
}
# refused WANT ARGS...: bad usage naming the form WANT
refused() {
	want=$1
	shift
	rc=0
	"$fc" config update --config "$missing" "$@" >"$tmp/o" 2>"$tmp/e" || rc=$?
	[ "$rc" = 2 ] || fail "'$*': exit $rc, want 2 ($(cat "$tmp/e"))"
	one_line "$tmp/e"
	[ ! -s "$tmp/o" ] || fail "'$*' wrote to stdout"
	grep -q "bad node.*want $want" "$tmp/e" || fail "'$*': $(cat "$tmp/e")"
}

"$fc" config update --help >"$tmp/o" || fail "config update --help"
grep -q -- "--add-memory ID:HOST:PORT:DATA_PORT\[:METRICS_PORT\]" "$tmp/o" ||
	fail "help lacks the memory node form"
grep -q -- "--add-storage ID:HOST:PORT\[:METRICS_PORT\]" "$tmp/o" ||
	fail "help lacks the storage replica form"

mem='ID:HOST:PORT:DATA_PORT\[:METRICS_PORT\]'
sto='ID:HOST:PORT\[:METRICS_PORT\]'
accepted --add-memory memory-e1:127.0.0.1:7300:7301
accepted --add-memory memory-e1:127.0.0.1:7300:7301:7302
accepted --add-memory 'memory-e1:[::1]:7300:7301:7302'
accepted --add-storage storage-e1:127.0.0.1:7400
accepted --add-storage storage-e1:127.0.0.1:7400:7401
accepted --add-storage storage-e1:node.example:7400:7401 --add-memory m:h:1:2:3

refused "$mem" --add-memory memory-e1:127.0.0.1:7300
refused "$mem" --add-memory memory-e1:127.0.0.1:7300:7301:7302:7303
refused "$mem" --add-memory memory-e1:127.0.0.1:7300:7301:0
refused "$mem" --add-memory memory-e1:127.0.0.1:7300:7301:65536
refused "$mem" --add-memory memory-e1:127.0.0.1:7300:7301:
refused "$sto" --add-storage storage-e1:127.0.0.1
refused "$sto" --add-storage storage-e1:127.0.0.1:7400:7401:7402
refused "$sto" --add-storage storage-e1:127.0.0.1:7400:x
refused "$sto" --add-storage :127.0.0.1:7400
refused "$sto" --add-storage storage-e1::7400
refused "$sto" --add-storage 'storage-e1:[]:7400'
refused "$sto" --add-storage 'storage-e1:[::1:7400'

echo "cli-config-args: ok"
