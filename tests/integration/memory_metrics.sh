# memory_metrics.sh - /metrics and /healthz of flexchain-memory (tcp).
# Environment (set by ctest): FC_MEMORY, FC_STORAGE, FC_CLI, FC_DRIVER, FC_LIB.
# With the argument "valgrind" the memory node runs under valgrind memcheck
# and must stop on SIGTERM with no memory error and no definite or indirect
# leak (exit 77, skipped, when valgrind is not installed).
#
# One storage replica and a memory node whose region (1 MiB, about 7k
# entries below the high watermark) is smaller than the 10000 keys written:
#  1. /healthz answers 200 while the node serves;
#  2. after blocks are appended and every key is read back (one-sided reads,
#     loads of evicted keys), /metrics says: fc_memory_applied_height is the
#     storage pool's height (fc_storage_applied_height + 1, and the last
#     block acked + 1), fc_memory_entries > 0, fc_memory_used_bytes <=
#     fc_memory_region_bytes, evictions, loads, storage lookups, appends and
#     one-sided reads counted;
#  3. after SIGTERM the node exits 0 and its metrics port refuses
#     connections.
set -eu

: "${FC_MEMORY:?}" "${FC_STORAGE:?}" "${FC_CLI:?}" "${FC_DRIVER:?}" "${FC_LIB:?}"
test_name=memory-metrics
. "$FC_LIB"

mode=${1:-plain}
wrap=""
if [ "$mode" = valgrind ]; then
	command -v valgrind >/dev/null 2>&1 || { echo "valgrind not installed: skipped"; exit 77; }
	wrap="valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=9 --log-file=$tmp/vg-%p.log"
fi
command -v curl >/dev/null 2>&1 || fail "curl not installed (deploy/install-deps.sh installs it)"

KEYS=10000

pick_base
smetrics=$((base + 11))
mmetrics=$((base + 12))
cfg=$tmp/cluster.yaml
{
	cluster_head memory-metrics
	echo "storage:"
	echo "  write_quorum: 1"
	echo "  replicas:"
	echo "    - { id: storage0, org: Org1, host: 127.0.0.1, port: $((base + 2)), metrics_port: $smetrics, data_dir: $tmp/data/storage0 }"
	echo "memory:"
	echo "  region_mb: 1"
	echo "  high_watermark: 0.90"
	echo "  low_watermark: 0.75"
	echo "  nodes:"
	echo "    - { id: mem0, org: Org1, host: 127.0.0.1, port: $((base + 3)), data_port: $((base + 4)), metrics_port: $mmetrics }"
	echo "compute:"
	echo "  - { id: compute-org1-0, org: Org1, host: 127.0.0.1, port: $((base + 8)) }"
	echo "  - { id: compute-org2-0, org: Org2, host: 127.0.0.1, port: $((base + 9)) }"
	echo "metrics:"
	echo "  bind: 127.0.0.1"
} >"$cfg"
"$FC_CLI" crypto generate --config "$cfg" >/dev/null || fail "crypto generate"

# http_code PORT PATH: the HTTP status, 000 when nothing answers.
http_code() {
	curl -s -o /dev/null -m 10 -w '%{http_code}' "http://127.0.0.1:$1$2" 2>/dev/null || true
}

# scrape PORT FILE
scrape() {
	curl -sf -m 10 -o "$2" "http://127.0.0.1:$1/metrics" || fail "GET /metrics on port $1"
}

# value FILE SERIES: the sample's value; fails when absent.
value() {
	v=$(awk -v s="$2" '$1 == s { print $2; exit }' "$1")
	[ -n "$v" ] || fail "no series $2 in $1"
	echo "$v"
}

# holds EXPR: an awk comparison of numbers, e.g. holds "3 > 0".
holds() {
	awk "BEGIN { exit !($1) }"
}

# shellcheck disable=SC2086 # $wrap is a command prefix or nothing
start_daemon "$cfg" storage0 "storage replica started" $FC_STORAGE
# shellcheck disable=SC2086
start_daemon "$cfg" mem0 "memory node started" $wrap $FC_MEMORY

echo "== /healthz while serving"
code=$(http_code $mmetrics /healthz)
[ "$code" = 200 ] || fail "/healthz answered $code, expected 200"

echo "== feed 5 blocks of 2500 writes over $KEYS keys, read every key back"
"$FC_DRIVER" feed --config "$cfg" --keys $KEYS --blocks 5 --writes 2500 >>"$tmp/driver.log" 2>&1 ||
	fail "feed failed"
acked=$(awk '/^acked / { h = $2 } END { print h }' "$tmp/driver.log")
[ -n "$acked" ] || fail "feed printed no acked height"
"$FC_DRIVER" check --config "$cfg" --keys $KEYS --absent 20 >>"$tmp/driver.log" 2>&1 ||
	fail "check failed: $(tail -n 3 "$tmp/driver.log")"

echo "== /metrics"
scrape $mmetrics "$tmp/mem.prom"
scrape $smetrics "$tmp/storage.prom"
applied=$(value "$tmp/mem.prom" fc_memory_applied_height)
ledger=$(value "$tmp/storage.prom" fc_storage_applied_height)
entries=$(value "$tmp/mem.prom" fc_memory_entries)
used=$(value "$tmp/mem.prom" fc_memory_used_bytes)
region=$(value "$tmp/mem.prom" fc_memory_region_bytes)
evictions=$(value "$tmp/mem.prom" fc_memory_evictions_total)
loads=$(value "$tmp/mem.prom" 'fc_memory_loads_total{result="ok"}')
lookups=$(value "$tmp/mem.prom" 'fc_memory_storage_lookups_total{kind="state",result="ok"}')
appends=$(value "$tmp/mem.prom" 'fc_memory_appends_total{result="ok"}')
applies=$(value "$tmp/mem.prom" fc_memory_append_seconds_count)
reads=$(value "$tmp/mem.prom" 'fc_memory_transport_served_total{op="read"}')
echo "applied_height=$applied ledger=$ledger acked=$acked entries=$entries used=$used" \
	"region=$region evictions=$evictions loads=$loads lookups=$lookups appends=$appends" \
	"reads=$reads"
holds "$applied == $ledger + 1" || fail "fc_memory_applied_height $applied, ledger height $ledger + 1"
holds "$applied == $acked + 1" || fail "fc_memory_applied_height $applied, last acked block $acked"
holds "$entries > 0" || fail "fc_memory_entries is $entries"
holds "$region == 1048576" || fail "fc_memory_region_bytes is $region"
holds "$used > 0 && $used <= $region" || fail "fc_memory_used_bytes $used, region $region"
holds "$evictions > 0" || fail "no eviction counted with $KEYS keys in 1 MiB"
holds "$loads > 0 && $lookups >= $loads" || fail "loads $loads, state lookups $lookups"
holds "$appends > 0 && $applies == $appends" || fail "appends $appends, observed $applies"
holds "$reads > 0" || fail "no one-sided read counted"
grep -q '^fc_build_info{component="memory"' "$tmp/mem.prom" || fail "no fc_build_info"
grep -q '^fc_process_resident_memory_bytes ' "$tmp/mem.prom" || fail "no process series"

echo "== SIGTERM: clean exit, metrics port closed"
stop_daemon mem0
grep -q "memory node stopped" "$tmp/mem0.log" || fail "mem0: no stop line"
code=$(http_code $mmetrics /healthz)
case $code in 000 | 503) ;; *) fail "/healthz answered $code after SIGTERM" ;; esac
stop_daemon storage0
if [ "$mode" = valgrind ]; then
	grep -h -A8 "HEAP SUMMARY" "$tmp"/vg-*.log
fi
echo "PASS"
