# storage_lib.sh - sourced by the storage_*.sh integration tests.
# Environment (set by ctest): FC_STORAGE, FC_CLI, FC_FEED, FC_TAMPER.
# Provides a temp dir, a per-test cluster config on free loopback ports,
# daemon start/stop helpers, and a trap that kills every daemon we started.
set -eu

: "${FC_STORAGE:?}" "${FC_CLI:?}" "${FC_FEED:?}" "${FC_TAMPER:?}"
test_name=storage-test
. "$(dirname "$FC_LIB")/cluster_lib.sh"

# write_config N_REPLICAS WRITE_QUORUM: $cfg, crypto material generated.
write_config() {
	n=$1
	q=$2
	pick_base
	cfg=$tmp/cluster.yaml
	{
		echo "cluster: storage-test"
		echo "crypto_dir: $tmp/crypto"
		echo "organisations:"
		echo "  - name: Org1"
		echo "  - name: Org2"
		echo "policies:"
		echo "  - { name: both, rule: \"AND(Org1,Org2)\" }"
		echo "default_policy: both"
		echo "contracts:"
		echo "  - { name: kv, policy: both }"
		echo "orderers:"
		echo "  - { id: orderer0, org: Org1, host: 127.0.0.1, port: $base, raft_port: $((base + 1)), data_dir: $tmp/data/orderer0 }"
		echo "storage:"
		echo "  write_quorum: $q"
		echo "  replicas:"
		i=0
		while [ $i -lt "$n" ]; do
			echo "    - { id: storage$i, org: Org$((i % 2 + 1)), host: 127.0.0.1, port: $((base + 2 + i)), data_dir: $tmp/data/storage$i }"
			i=$((i + 1))
		done
		echo "compute:"
		echo "  - { id: compute-org1-0, org: Org1, host: 127.0.0.1, port: $((base + 8)) }"
		echo "  - { id: compute-org2-0, org: Org2, host: 127.0.0.1, port: $((base + 9)) }"
		echo "  - { id: compute-org1-1, org: Org1, host: 127.0.0.1, port: $((base + 10)) }"
		echo "validation:"
		echo "  timeout_ms: 5000"
		echo "  threads: 2"
	} >"$cfg"
	"$FC_CLI" crypto generate --config "$cfg" >/dev/null || fail "crypto generate"
}

# start_storage ID: runs the daemon in the background, waits until it serves.
start_storage() {
	id=$1
	touch "$tmp/$id.log"
	before=$(grep -c "storage replica started" "$tmp/$id.log" || true)
	FLEXCHAIN_LOG=${FC_STORAGE_LOG:-info} ${FC_WRAP:-} "$FC_STORAGE" --config "$cfg" --id "$id" >>"$tmp/$id.log" 2>&1 &
	p=$!
	pids="$pids $p"
	eval "pid_$id=$p"
	n=0
	while [ "$(grep -c "storage replica started" "$tmp/$id.log" || true)" -le "$before" ]; do
		kill -0 "$p" 2>/dev/null || fail "$id exited at start"
		n=$((n + 1))
		[ $n -lt 600 ] || fail "$id did not start"
		sleep 0.05
	done
}

# stop_storage ID: SIGTERM, must exit 0 within 30 s.
stop_storage() {
	eval "p=\$pid_$1"
	kill -TERM "$p"
	n=0
	while kill -0 "$p" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 600 ] || fail "$1 did not stop on SIGTERM"
		sleep 0.05
	done
	st=0
	wait "$p" || st=$?
	[ "$st" -eq 0 ] || fail "$1 exited $st after SIGTERM"
	grep -q "storage replica stopped" "$tmp/$1.log" || fail "$1: no stop line"
}

kill9_storage() {
	eval "p=\$pid_$1"
	kill -9 "$p"
	wait "$p" 2>/dev/null || true
}

# wait_acked FILE N: until FILE has at least N "acked" lines (30 s max).
wait_acked() {
	n=0
	while [ "$(grep -c acked "$1" 2>/dev/null || true)" -lt "$2" ]; do
		n=$((n + 1))
		[ $n -lt 600 ] || fail "fewer than $2 acknowledged appends in $1"
		sleep 0.05
	done
}

# feed_start BLOCKS TXS: a retrying stream of appends in the background
# ($feed), acknowledgements in $tmp/acked.txt, errors in $tmp/feed.log.
# feed_wait: waits for it, fails unless it exited 0.
feed_start() {
	"$FC_FEED" append --config "$cfg" --blocks "$1" --txs "$2" --deadline 120 --timeout-ms 2000 \
		>"$tmp/acked.txt" 2>"$tmp/feed.log" &
	feed=$!
	bgpids="$feed"
}
feed_wait() {
	st=0
	wait "$feed" || st=$?
	bgpids=""
	[ "$st" -eq 0 ] || fail "feeder failed ($st): $(cat "$tmp/feed.log")"
}
