# cluster_lib.sh - sourced by every integration test that starts daemons
# (and by the cli and deploy tests, for the temp dir and fail).
# Before sourcing, set test_name (names the temp dir). Provides:
#   $tmp          a fresh temp dir, removed at exit (KEEP_TMP=1 keeps it)
#   $pids         append every daemon's pid: all are killed at exit
#   $bgpids       the same, for helper processes
#   fail MSG      prints MSG and the tail of every $tmp/*.log, exits 1
#   one_line FILE fails unless FILE holds exactly one line (usage errors)
#   port_busy P   whether a TCP socket on this host uses local port P
#                 (listening, or the local end of a connection)
#   pick_base [FROM]
#                 sets $base so that ports base..base+15 are free and not
#                 handed out by an earlier pick_base of this test (call it
#                 again for a second, disjoint range). Without FROM the
#                 search starts at a base derived from our PID, so that
#                 parallel ctest runs do not collide; FROM (20000 + 16k)
#                 starts it elsewhere. Always below 32768, where Linux's
#                 ephemeral range (outgoing connections' local ports) starts.
#                 The range is also reserved for other tests until we exit
#                 (a directory per base under $TMPDIR/fc-ports, holding our
#                 PID; a dead test's reservations are taken over), so that
#                 tests run in parallel never pick the same ports before
#                 their daemons bind them
#   start_daemon CONFIG ID READY CMD...
#                 runs CMD --config CONFIG --id ID in the background
#                 (FLEXCHAIN_LOG=info, output appended to $tmp/ID.log, pid
#                 in $pids and $pid_ID); returns once the log has one more
#                 line matching READY than before (bounded: 60 s), fails if
#                 the daemon exits first
#   stop_daemon ID
#                 SIGTERM to $pid_ID; fails unless it exits 0
#   cluster_head NAME
#                 prints the first lines of a cluster file on $base: NAME,
#                 crypto under $tmp/crypto, transport tcp, Org1 and Org2,
#                 the default policy "both" (AND(Org1,Org2)) and orderer0
#                 on ports base and base+1 with its data under $tmp/data
#   bind_failed   whether a log in $tmp says a port was already in use
#   start_on_free_ports FUNC
#                 pick_base, then FUNC, which starts daemons on $base's
#                 range and returns 1 (after bind_failed) when another test
#                 took one of its ports first: then kills $pids, removes
#                 $tmp's data, crypto and logs and calls FUNC again on
#                 another range (at most 5 times)
#   compute_test_args FLEXCHAIN ORDERER STORAGE COMPUTE COMPUTE_CLIENT [MEMORY]
#                 the compute tests' arguments: sets $fc, $ord, $stor,
#                 $comp, $cli and $mem ("" without MEMORY)
#   start_compute_cluster NAME N COMMITTEE MAX_TXS MEM_OFF [METRICS_OFF]
#                 for the compute tests (after compute_test_args), through
#                 start_on_free_ports: writes $cfg = $tmp/cluster.yaml,
#                 cluster NAME, policy AND(Org1,Org2), orderer0 on base and
#                 base+1, storage0 on base+2, compute0..N-1 on base+3...
#                 (Org1, Org2 in turn), committees of COMMITTEE, blocks of
#                 at most MAX_TXS, memory0 on base+MEM_OFF and the port
#                 after when $mem is set; with METRICS_OFF, storage0's
#                 metrics on base+METRICS_OFF and compute i's on
#                 base+METRICS_OFF+1+i (ports are retried on another base,
#                 so they are offsets). Generates the
#                 crypto material, starts storage0, memory0, orderer0 and
#                 the compute servers (pids $cpid0...) and returns once
#                 storage0 serves and N compute servers registered
set -eu

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-${test_name:-test}.XXXXXX")
pids=""
bgpids=""

cleanup() {
	for p in $pids $bgpids; do
		kill -9 "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	for b in $claimed; do rm -rf "$portlocks/$b"; done
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do
		[ -f "$f" ] || continue
		echo "--- $f (tail)" >&2
		tail -n 20 "$f" >&2
	done
	exit 1
}

one_line() {
	[ "$(wc -l <"$1")" -eq 1 ] || { cat "$1" >&2; fail "expected one line in $1"; }
}

port_busy() {
	ss -Htan 2>/dev/null | awk '{print $4}' | grep -q ":$1\$"
}

claimed=""
portlocks=${TMPDIR:-/tmp}/fc-ports
# reserve BASE: reserves BASE's range across processes (mkdir is atomic);
# a reservation whose test is gone is taken over.
reserve() {
	mkdir -p "$portlocks"
	if ! mkdir "$portlocks/$1" 2>/dev/null; then
		owner=$(cat "$portlocks/$1/pid" 2>/dev/null || true)
		[ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null || return 1
		rm -rf "$portlocks/$1"
		mkdir "$portlocks/$1" 2>/dev/null || return 1
	fi
	echo $$ >"$portlocks/$1/pid"
}
# range_free BASE: none of BASE..BASE+15 is in use or claimed; reserves it.
range_free() {
	case " $claimed " in *" $1 "*) return 1 ;; esac
	i=0
	while [ $i -lt 16 ]; do
		if port_busy $(($1 + i)); then return 1; fi
		i=$((i + 1))
	done
	reserve "$1"
}

pick_base() {
	base=${1:-$((20000 + ($$ % 760) * 16))}
	tries=0
	while :; do
		[ $base -lt 32752 ] || base=20000
		range_free $base && break
		base=$((base + 16))
		tries=$((tries + 1))
		[ $tries -lt 200 ] || fail "no free ports"
	done
	claimed="$claimed $base"
}

start_daemon() {
	dcfg=$1
	id=$2
	ready=$3
	shift 3
	touch "$tmp/$id.log"
	before=$(grep -c "$ready" "$tmp/$id.log" || true)
	FLEXCHAIN_LOG=info "$@" --config "$dcfg" --id "$id" >>"$tmp/$id.log" 2>&1 &
	p=$!
	pids="$pids $p"
	eval "pid_$id=$p"
	n=0
	while [ "$(grep -c "$ready" "$tmp/$id.log" || true)" -le "$before" ]; do
		kill -0 "$p" 2>/dev/null || fail "$id exited at start"
		n=$((n + 1))
		[ $n -lt 1200 ] || fail "$id did not start"
		sleep 0.05
	done
}

stop_daemon() {
	eval "p=\$pid_$1"
	kill -TERM "$p"
	st=0
	wait "$p" || st=$?
	[ "$st" -eq 0 ] || fail "$1 exited $st after SIGTERM"
}

cluster_head() {
	cat <<EOC
cluster: $1
crypto_dir: $tmp/crypto
transport: tcp
organisations:
  - name: Org1
  - name: Org2
policies:
  - { name: both, rule: "AND(Org1,Org2)" }
default_policy: both
orderers:
  - { id: orderer0, org: Org1, host: 127.0.0.1, port: $base, raft_port: $((base + 1)), data_dir: $tmp/data/orderer0 }
EOC
}

bind_failed() { grep -qs "address already in use" "$tmp"/*.log; }

start_on_free_ports() {
	pick_base
	attempt=0
	until "$1"; do
		for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
		wait 2>/dev/null || true
		pids=""
		echo "ports taken: $(grep -hs "address already in use" "$tmp"/*.log | head -1)"
		rm -rf "$tmp/data" "$tmp/crypto" "$tmp"/*.log
		attempt=$((attempt + 1))
		[ $attempt -lt 5 ] || fail "ports kept being taken"
		pick_base $((base + 16 * (attempt + 7)))
		echo "retrying from $base"
	done
}

# compute_yaml: the cluster file of start_compute_cluster's arguments.
compute_yaml() {
	sm="" cm=""
	[ -z "$compute_mport" ] || sm=", metrics_port: $compute_mport"
	cat <<EOC
cluster: $compute_name
crypto_dir: ./crypto
organisations:
  - name: Org1
  - name: Org2
policies:
  - name: both
    rule: "AND(Org1,Org2)"
orderers:
  - { id: orderer0, org: Org1, host: 127.0.0.1, port: $((base + 0)), raft_port: $((base + 1)), data_dir: $tmp/data/orderer0 }
storage:
  write_quorum: 1
  replicas:
    - { id: storage0, org: Org1, host: 127.0.0.1, port: $((base + 2))$sm, data_dir: $tmp/data/storage0 }
EOC
	[ -z "$mem" ] || cat <<EOC
memory:
  region_mb: 8
  nodes:
    - { id: memory0, org: Org1, host: 127.0.0.1, port: $((base + compute_memport)), data_port: $((base + compute_memport + 1)) }
EOC
	echo "compute:"
	i=0
	while [ $i -lt "$compute_n" ]; do
		[ -z "$compute_mport" ] || cm=", metrics_port: $((compute_mport + 1 + i))"
		echo "  - { id: compute$i, org: Org$((i % 2 + 1)), host: 127.0.0.1, port: $((base + 3 + i))$cm }"
		i=$((i + 1))
	done
	cat <<EOC
block_cutting:
  max_txs: $compute_max_txs
  max_bytes: 1048576
  timeout_ms: 50
validation:
  committee_size: $compute_committee
  timeout_ms: 2000
  threads: 2
network:
  heartbeat_ms: 200
EOC
}

compute_test_args() {
	[ $# -ge 5 ] || fail "usage: $0 FLEXCHAIN ORDERER STORAGE COMPUTE COMPUTE_CLIENT [MEMORY]"
	fc=$1 ord=$2 stor=$3 comp=$4 cli=$5 mem=${6:-}
}

# compute_cluster_once: one try of start_compute_cluster on $base.
compute_cluster_once() {
	cfg=$tmp/cluster.yaml
	compute_mport=""
	[ -z "$compute_mbase" ] || compute_mport=$((base + compute_mbase))
	compute_yaml >"$cfg"
	"$fc" crypto generate --config "$cfg" >/dev/null || fail "crypto generate"
	"$stor" --config "$cfg" --id storage0 >"$tmp/storage0.log" 2>&1 &
	pids="$pids $!"
	if [ -n "$mem" ]; then
		"$mem" --config "$cfg" --id memory0 >"$tmp/memory0.log" 2>&1 &
		pids="$pids $!"
	fi
	"$ord" --config "$cfg" --id orderer0 >"$tmp/orderer0.log" 2>&1 &
	pids="$pids $!"
	i=0
	while [ $i -lt "$compute_n" ]; do
		"$comp" --config "$cfg" --id compute$i >"$tmp/compute$i.log" 2>&1 &
		eval "cpid$i=$!"
		pids="$pids $!"
		i=$((i + 1))
	done
	n=0
	while [ $n -lt 300 ]; do
		bind_failed && return 1
		if grep -qs 'msg="storage replica started"' "$tmp/storage0.log" &&
			[ "$(cat "$tmp"/compute*.log | grep -c 'msg="registered"')" -ge "$compute_n" ]; then
			return 0
		fi
		sleep 0.1
		n=$((n + 1))
	done
	fail "cluster did not start"
}

start_compute_cluster() {
	compute_name=$1 compute_n=$2 compute_committee=$3 compute_max_txs=$4
	compute_memport=$5 compute_mbase=${6:-}
	start_on_free_ports compute_cluster_once
}
