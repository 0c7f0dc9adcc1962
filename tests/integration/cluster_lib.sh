# cluster_lib.sh - sourced by every integration test that starts daemons.
# Before sourcing, set test_name (names the temp dir). Provides:
#   $tmp          a fresh temp dir, removed at exit (KEEP_TMP=1 keeps it)
#   $pids         append every daemon's pid: all are killed at exit
#   $bgpids       the same, for helper processes
#   fail MSG      prints MSG and the tail of every $tmp/*.log, exits 1
#   port_busy P   whether something listens on 127.0.0.1:P
#   pick_base     sets $base so that ports base..base+15 are free, derived
#                 from our PID so that parallel ctest runs do not collide;
#                 always below 32768, where Linux's ephemeral range (outgoing
#                 connections' local ports) starts
set -eu

tmp=$(mktemp -d "${TMPDIR:-/tmp}/fc-${test_name:-test}.XXXXXX")
pids=""
bgpids=""

cleanup() {
	for p in $pids $bgpids; do
		kill -9 "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
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

port_busy() {
	ss -Htln 2>/dev/null | awk '{print $4}' | grep -q ":$1\$"
}

pick_base() {
	base=$((20000 + ($$ % 760) * 16))
	tries=0
	while :; do
		busy=0
		i=0
		while [ $i -lt 16 ]; do
			if port_busy $((base + i)); then busy=1; break; fi
			i=$((i + 1))
		done
		[ $busy -eq 0 ] && break
		base=$((base + 16))
		[ $base -lt 32752 ] || base=20000
		tries=$((tries + 1))
		[ $tries -lt 200 ] || fail "no free ports"
	done
}
