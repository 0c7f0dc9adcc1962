#!/bin/sh
# ctest integration/compute_join_endorse: compute servers that join a running
# local cluster at run time (cluster.sh add-compute) endorse for the other
# organisation. Every contract needs AND(Org1,Org2), so each transaction a
# gateway takes asks one compute server of the other organisation; gateways
# pick those from the orderer leader's live registry, spreading the requests
# over every live server of the organisation.
#   1. two compute servers (the first of each organisation), a short bench run
#      creates the records;
#   2. `cluster.sh add-compute 2` adds compute-e0 (Org1) and compute-e1 (Org2);
#   3. a second bench run; the endorsement counter of each added server
#      (fc_compute_gateway_requests_total{mode="endorse"}) must have grown.
# Env: FC_SRC (source tree), FC_BUILD (build tree).
set -eu
test_name=compute_join_endorse
. "$FC_SRC/tests/integration/cluster_lib.sh"
. "$FC_SRC/tests/deploy/local_lib.sh"
local_two_compute

# endorsements MPORT: fc_compute_gateway_requests_total{mode="endorse"} there
endorsements() {
	curl -s -m 2 "http://127.0.0.1:$1/metrics" |
		awk '$1 == "fc_compute_gateway_requests_total{mode=\"endorse\"}" {printf "%d\n", $2; f=1}
		     END {if (!f) print 0}'
}

local_start
rundir=$tmp/data/run
run_bench setup 3
show_run setup

cl add-compute 2 >"$tmp/add.log" 2>&1 || { cat "$tmp/add.log" >&2; fail "add-compute 2"; }
cat "$tmp/add.log"
mports=""
orgs=""
while read -r kind id org _ _ mport _; do
	[ "$kind" = compute ] || continue
	mports="$mports $mport"
	orgs="$orgs $org"
	eval "before_$mport=\$(endorsements $mport)"
done <"$rundir/added"
[ "$(echo $mports | wc -w)" = 2 ] || fail "expected 2 added compute servers, got '$mports'"
case "$orgs" in *Org1*) ;; *) fail "no added server of Org1 ($orgs)" ;; esac
case "$orgs" in *Org2*) ;; *) fail "no added server of Org2 ($orgs)" ;; esac
# gateways refresh the registry every 2 s
sleep 3

run_bench load 8 --no-setup
show_run load
for mp in $mports; do
	eval "b=\$before_$mp"
	a=$(endorsements "$mp")
	echo "added server (metrics port $mp): endorsements $b -> $a"
	[ "$a" -gt "$b" ] || fail "the server with metrics port $mp endorsed nothing under load"
done
echo "PASS: compute servers added at run time endorse"
