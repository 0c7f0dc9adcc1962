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
need_bench

cfg=$tmp/cluster.yaml
local_yaml "$cfg" "$tmp/data"
python3 - "$cfg" <<'PY'
import sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
seen, keep = set(), []
for n in cfg["compute"]:
    if n["org"] not in seen:
        seen.add(n["org"])
        keep.append(n)
cfg["compute"] = keep
yaml.safe_dump(cfg, open(sys.argv[1], "w"), sort_keys=False)
PY

run_bench() {
	rn=$1
	secs=$2
	shift 2
	"$bench" --config "$cfg" --workload ycsb --records 200 --read-ratio 0.5 --dist uniform \
		--concurrency 16 --duration "$secs" --setup-batch 32 --timeout-ms 20000 \
		"$@" >"$tmp/$rn.out" 2>"$tmp/$rn.log" || { cat "$tmp/$rn.log" >&2; fail "flexchain-bench ($rn)"; }
	echo "---- $rn"
	cat "$tmp/$rn.out"
}
# endorsements MPORT: fc_compute_gateway_requests_total{mode="endorse"} there
endorsements() {
	curl -s -m 2 "http://127.0.0.1:$1/metrics" |
		awk '$1 == "fc_compute_gateway_requests_total{mode=\"endorse\"}" {printf "%d\n", $2; f=1}
		     END {if (!f) print 0}'
}

cl start >"$tmp/start.log" 2>&1 || { cat "$tmp/start.log" >&2; fail "cluster.sh start"; }
grep 'nodes healthy' "$tmp/start.log"
rundir=$tmp/data/run
run_bench setup 3

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
for mp in $mports; do
	eval "b=\$before_$mp"
	a=$(endorsements "$mp")
	echo "added server (metrics port $mp): endorsements $b -> $a"
	[ "$a" -gt "$b" ] || fail "the server with metrics port $mp endorsed nothing under load"
done
echo "PASS: compute servers added at run time endorse"
