# memory_daemon.sh - flexchain-memory against a real storage pool (tcp).
# Environment (set by ctest): FC_MEMORY, FC_STORAGE, FC_CLI, FC_DRIVER, FC_LIB.
#
# One storage replica and a memory node whose region (1 MiB: about 7k
# entries below the high watermark) is far below the 20000 keys written:
#  1. every key reads with its latest version through fc_memstate, and keys
#     that exist nowhere cost at most one storage lookup each;
#  2. after kill -9 and a restart with an empty region, the same holds, and
#     blocks appended afterwards are applied;
#  3. a second memory node joins through a shard map carried by a config
#     transaction: every key still reads with its latest version;
#  4. both nodes stop cleanly on SIGTERM.
set -eu

: "${FC_MEMORY:?}" "${FC_STORAGE:?}" "${FC_CLI:?}" "${FC_DRIVER:?}" "${FC_LIB:?}"
test_name=memory-daemon
. "$FC_LIB"

KEYS=20000

pick_base
write_config() { # FILE WITH_MEM1
	{
		cluster_head memory-test
		echo "storage:"
		echo "  write_quorum: 1"
		echo "  replicas:"
		echo "    - { id: storage0, org: Org1, host: 127.0.0.1, port: $((base + 2)), data_dir: $tmp/data/storage0 }"
		echo "memory:"
		echo "  region_mb: 1"
		echo "  high_watermark: 0.90"
		echo "  low_watermark: 0.75"
		echo "  nodes:"
		echo "    - { id: mem0, org: Org1, host: 127.0.0.1, port: $((base + 3)), data_port: $((base + 4)) }"
		if [ "$2" = 1 ]; then
			echo "    - { id: mem1, org: Org2, host: 127.0.0.1, port: $((base + 5)), data_port: $((base + 6)) }"
		fi
		echo "compute:"
		echo "  - { id: compute-org1-0, org: Org1, host: 127.0.0.1, port: $((base + 8)) }"
		echo "  - { id: compute-org2-0, org: Org2, host: 127.0.0.1, port: $((base + 9)) }"
		echo "  - { id: compute-org1-1, org: Org1, host: 127.0.0.1, port: $((base + 10)) }"
	} >"$1"
}
cfg1=$tmp/one.yaml
cfg2=$tmp/two.yaml
write_config "$cfg1" 0
write_config "$cfg2" 1
"$FC_CLI" crypto generate --config "$cfg2" >/dev/null || fail "crypto generate"

check() { # CONFIG [extra args]: every key and 50 absent keys
	c=$1
	shift
	"$FC_DRIVER" check --config "$c" --keys $KEYS --absent 50 "$@" >>"$tmp/driver.log" 2>&1 ||
		fail "check failed: $(tail -n 3 "$tmp/driver.log")"
	tail -n 1 "$tmp/driver.log"
}

start_daemon "$cfg1" storage0 "storage replica started" "$FC_STORAGE"
start_daemon "$cfg1" mem0 "memory node started" "$FC_MEMORY"
# mem1 listens from the start (its ports stay ours), but is not in the
# shard map the driver and mem0 follow until the config transaction below.
start_daemon "$cfg2" mem1 "memory node started" "$FC_MEMORY"

echo "== feed 20 blocks of 2000 writes over $KEYS keys"
"$FC_DRIVER" feed --config "$cfg1" --keys $KEYS --blocks 20 --writes 2000 >>"$tmp/driver.log" 2>&1 ||
	fail "feed failed"

echo "== every key readable with its latest version; absent keys cost <= 1 lookup"
check "$cfg1"

echo "== kill -9 and restart empty"
eval "kill -9 \$pid_mem0"
wait "$pid_mem0" 2>/dev/null || true
start_daemon "$cfg1" mem0 "memory node started" "$FC_MEMORY"
check "$cfg1"
"$FC_DRIVER" feed --config "$cfg1" --keys $KEYS --blocks 3 --writes 2000 >>"$tmp/driver.log" 2>&1 ||
	fail "feed after restart failed"
check "$cfg1"

echo "== add mem1 through a shard map (config transaction)"
"$FC_DRIVER" shard --config "$cfg2" --nodes mem0,mem1 --version 1 >>"$tmp/driver.log" 2>&1 ||
	fail "shard map block failed"
grep -q "shard map switched" "$tmp/mem0.log" || fail "mem0 did not switch shard maps"
"$FC_DRIVER" feed --config "$cfg2" --keys $KEYS --blocks 3 --writes 2000 >>"$tmp/driver.log" 2>&1 ||
	fail "feed after shard map failed"
check "$cfg2" --nodes mem0,mem1 --version 1

stop_daemon mem1
stop_daemon mem0
grep -q "memory node stopped" "$tmp/mem0.log" || fail "mem0: no stop line"
stop_daemon storage0
echo "PASS"
