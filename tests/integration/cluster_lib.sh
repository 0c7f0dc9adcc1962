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
