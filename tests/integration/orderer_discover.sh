#!/bin/sh
# ctest integration/orderer-discover: compute discovery (ComputeQuery ->
# ComputeList, fc_discover_compute) on loopback.
# Usage: orderer_discover.sh FLEXCHAIN FLEXCHAIN_ORDERER ORDERER_CLIENT
#
# Three orderers, three stand-in compute servers (orderer client `compute`);
# compute2 registers an address that is not the configuration's, as a server
# joining at run time does. Checks, asking through `orderer-client discover`:
#   - every registered server is listed with its org and registered address;
#   - asked through a configuration whose first orderer is a follower, the
#     answer is the same (the follower redirects to the leader);
#   - a server that deregisters is listed draining while its connection is
#     open, and disappears once it is gone; one whose connection closes
#     without deregistering disappears too;
#   - after the leader is killed, the new leader lists the servers that
#     re-registered with it.
set -eu

fc=$1
ord=$2
cli=$3
test_name=orderer-discover
. "$(dirname "$0")/cluster_lib.sh"
. "$(dirname "$0")/orderer_lib.sh"
orderer_yaml discover-test --compute 3

for i in 0 1 2; do start_orderer orderer$i; done
wait_leader

# the configuration's address of a compute server
addr_of() {
	sed -n "s/.*id: $1, org: \([A-Za-z0-9]*\), host: \([0-9.]*\), port: \([0-9]*\).*/\1 \2:\3/p" "$cfg"
}
joined=127.0.0.1:$((base + 15))
start_compute compute0 --seconds 200
start_compute compute1 --seconds 200 --deregister-after 3
start_compute compute2 --seconds 200 --address "$joined"

# discover_until FILE CONDITION: asks until the output satisfies the shell
# condition CONDITION (on $out), at most 100 times.
discover_until() {
	n=0
	while :; do
		"$cli" discover --config "${dcfg:-$cfg}" --timeout-ms 5000 >"$tmp/$1" 2>"$tmp/discover.log" || true
		out=$(cat "$tmp/$1")
		if eval "$2"; then return 0; fi
		n=$((n + 1))
		[ $n -lt 100 ] || { cat "$tmp/$1"; fail "discovery never satisfied: $2"; }
		sleep 0.2
	done
}

has() { printf '%s\n' "$out" | grep -qx "$1"; }
absent() { ! printf '%s\n' "$out" | grep -q "^$1 "; }

set -- $(addr_of compute0)
c0="compute0 $1 $2 draining=0"
set -- $(addr_of compute1)
c1="compute1 $1 $2"
set -- $(addr_of compute2)
c2="compute2 $1 $joined draining=0"
discover_until all3 'has "$c0" && has "$c1 draining=0" && has "$c2" && has servers=3'
cat "$tmp/all3"
echo "registered servers listed with their registered addresses"

# The same through a follower first: reorder the orderers of a copy.
dcfg=$tmp/follower-first.yaml
awk -v l="$leader" '
	$0 ~ "id: " l "," { held = $0; next }
	/^storage:/ && held != "" { print held; held = "" }
	{ print }' "$cfg" >"$dcfg"
first=$(sed -n 's/.*- { id: \(orderer[0-9]\),.*/\1/p' "$dcfg" | head -n 1)
[ "$first" != "$leader" ] || fail "the copy still lists the leader first"
discover_until redirected 'has "$c0" && has "$c2"'
echo "asked $first (a follower) first: redirected to $leader"
dcfg=""

# compute1 deregistered after 3 s: draining while connected, then gone.
discover_until draining 'has "$c1 draining=1"'
grep compute1 "$tmp/draining"
kill "$pid_compute1"
discover_until gone1 'absent compute1 && has "$c0" && has "$c2" && has servers=2'
echo "deregistered compute1 listed draining, gone once it exited"

# compute2 vanishes without deregistering.
kill -9 "$pid_compute2"
discover_until gone2 'absent compute2 && has "$c0" && has servers=1'
echo "compute2 gone after its connection closed"

# A new leader learns the servers as they re-register with it.
eval "kpid=\$pid_$leader"
old=$leader
kill -9 "$kpid"
n=0
while :; do
	leader=$(timeout 30 "$cli" leader --config "$cfg") || fail "no new leader"
	[ "$leader" != "$old" ] && break
	n=$((n + 1))
	[ $n -lt 100 ] || fail "leader did not change"
	sleep 0.2
done
discover_until newleader 'has "$c0" && has servers=1'
echo "new leader $leader lists compute0"
echo "PASS"
