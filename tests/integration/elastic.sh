#!/bin/sh
# ctest integration/elastic: the local cluster grows and shrinks while
# flexchain-bench runs (YCSB on the kv contract, closed loop).
# Shapes, each with the bench's report printed:
#   1. 2 compute servers (one per organisation), 1 memory node: 6 s;
#   2. one 24 s run during which compute goes 2 -> 4 (cluster.sh add-compute
#      2) -> 2 (remove-compute 2: SIGTERM drains) and memory 1 -> 2
#      (cluster.sh add-memory: identity, node, config transaction);
#   3. 4 compute servers: 6 s.
# In every run no transaction fails except by MVCC conflict (refused 0,
# unknown 0, no other invalid status), every transaction the bench saw finish
# is in the ledger with the bench's status, height and index (flexchain tx
# status), and after stop `flexchain ledger verify` passes.
# Env: FC_SRC (source tree), FC_BUILD (build tree).
set -eu
test_name=elastic
. "$FC_SRC/tests/integration/cluster_lib.sh"
launcher=$FC_SRC/deploy/local/cluster.sh
cli=$FC_BUILD/client/flexchain
bench=$FC_BUILD/bench/driver/flexchain-bench
[ -x "$cli" ] && [ -x "$bench" ] || fail "flexchain or flexchain-bench not built in $FC_BUILD"

# free_after N: the first base >= N with 16 free ports (as pick_base).
free_after() {
	fb=$1
	while :; do
		busy=0
		i=0
		while [ $i -lt 16 ]; do
			if port_busy $((fb + i)); then busy=1; break; fi
			i=$((i + 1))
		done
		[ $busy -eq 0 ] && break
		fb=$((fb + 16))
		[ $fb -lt 32752 ] || fail "no free ports"
	done
	echo $fb
}

# gen_yaml OUT CBASE MBASE: the default local cluster with control ports
# from CBASE, metrics ports from MBASE, crypto and data under $tmp, tcp.
gen_yaml() {
	python3 - "$FC_SRC/deploy/local/cluster.yaml" "$1" "$2" "$3" "$tmp" <<'PY'
import sys, yaml
src, out, cbase, mbase, tmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
cfg = yaml.safe_load(open(src))
cfg["transport"] = "tcp"
cfg["crypto_dir"] = tmp + "/crypto"
ports = iter(range(cbase, cbase + 16))
mports = iter(range(mbase, mbase + 16))
for g in (cfg["orderers"], cfg["storage"]["replicas"], cfg["memory"]["nodes"], cfg["compute"]):
    for n in g:
        n["host"] = "127.0.0.1"
        n["port"] = next(ports)
        for k in ("raft_port", "data_port"):
            if k in n:
                n[k] = next(ports)
        n["metrics_port"] = next(mports)
        if "data_dir" in n:
            n["data_dir"] = "%s/data/%s" % (tmp, n["id"])
yaml.safe_dump(cfg, open(out, "w"), sort_keys=False)
PY
}

pick_base
cbase=$base
mbase=$(free_after $((cbase + 16)))
cfg=$tmp/cluster.yaml
gen_yaml "$cfg" $cbase $mbase
# two compute servers: the first of each organisation
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

leftovers() {
	for p in /proc/[0-9]*; do
		tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -q -e "^$tmp/" && echo "${p#/proc/}"
	done
	return 0
}
teardown() {
	bash "$launcher" stop --config "$cfg" --timeout 10 >/dev/null 2>&1 || true
	for p in $(leftovers); do kill -9 "$p" 2>/dev/null || true; done
	cleanup
}
trap teardown EXIT

cl() { bash "$launcher" "$@" --config "$cfg" --build "$FC_BUILD" --timeout 60; }

# run_bench NAME SECONDS [ARGS]: the bench's report on stdout, checked.
run_bench() {
	rn=$1
	secs=$2
	shift 2
	"$bench" --config "$cfg" --workload ycsb --records 200 --read-ratio 0.5 --dist uniform \
		--concurrency 16 --duration "$secs" --setup-batch 32 --timeout-ms 20000 \
		--json "$tmp/$rn.json" --ledger-check "$tmp/$rn.ledger" "$@" \
		>"$tmp/$rn.out" 2>"$tmp/$rn.log" || fail "flexchain-bench ($rn) exited non-zero"
}
check_run() {
	rn=$1
	echo "---- $2"
	cat "$tmp/$rn.out"
	python3 - "$tmp/$rn.json" <<'PY' || fail "$rn: a transaction failed other than by MVCC conflict"
import json, sys
s = json.load(open(sys.argv[1]))["status"]
bad = {k: v for k, v in s.items() if k not in ("valid", "mvcc_read_conflict") and v}
if bad:
    sys.exit("statuses other than valid / mvcc_read_conflict: %s" % bad)
PY
	[ -s "$tmp/$rn.ledger" ] || fail "$rn: no --ledger-check file"
}

cl start >"$tmp/start.log" 2>&1 || fail "cluster.sh start"
grep 'nodes healthy' "$tmp/start.log"

# 1. two compute servers (the setup creates the records)
run_bench shape2 6
check_run shape2 "2 compute servers, 1 memory node"

# 2. scaling while the bench runs
run_bench scaling 24 --no-setup &
bpid=$!
bgpids="$bgpids $bpid"
sleep 3
cl add-compute 2 >"$tmp/add.log" 2>&1 || fail "add-compute 2"
cat "$tmp/add.log"
sleep 5
cl remove-compute 2 >"$tmp/remove.log" 2>&1 || fail "remove-compute 2"
cat "$tmp/remove.log"
sleep 2
cl add-memory >"$tmp/addmem.log" 2>&1 || { cat "$tmp/addmem.log" >&2; fail "add-memory"; }
cat "$tmp/addmem.log"
grep -q 'status=TX_VALID' "$tmp/addmem.log" || fail "the shard-map config transaction is not VALID"
wait $bpid || fail "flexchain-bench during scaling exited non-zero"
check_run scaling "while scaling compute 2 -> 4 -> 2 and memory 1 -> 2"

# 3. four compute servers
cl add-compute 2 >"$tmp/add2.log" 2>&1 || fail "add-compute 2 (second time)"
run_bench shape4 6 --no-setup
check_run shape4 "4 compute servers (2 configured gateways + 2 joined)"
cl remove-compute 2 >"$tmp/remove2.log" 2>&1 || fail "remove-compute 2 (second time)"

# Every transaction of every run, as the ledger has it.
cat "$tmp"/shape2.ledger "$tmp"/scaling.ledger "$tmp"/shape4.ledger >"$tmp/all.ledger"
cut -d' ' -f1 "$tmp/all.ledger" | xargs -P 8 -n 1 sh -c '
	out=$("$0" tx status --config "$1" "$2" 2>&1) || { echo "$2 MISSING"; exit 0; }
	echo "$out" | awk -v id="$2" "/^status:/ {s=tolower(\$2)} /^height:/ {h=\$2} /^index:/ {i=\$2}
		END {print id, s, h, i}"' "$cli" "$cfg" >"$tmp/seen.ledger"
sort "$tmp/all.ledger" >"$tmp/want"
sort "$tmp/seen.ledger" >"$tmp/got"
if ! cmp -s "$tmp/want" "$tmp/got"; then
	diff "$tmp/want" "$tmp/got" | head -n 20 >&2
	fail "the ledger disagrees with the bench on $(diff "$tmp/want" "$tmp/got" | grep -c '^<') transaction(s)"
fi
n=$(wc -l <"$tmp/all.ledger")
echo "ledger check: all $n transactions of the three runs are in the ledger with the bench's status, height and index"

bash "$launcher" stop --config "$cfg" --timeout 60 >"$tmp/stop.log" 2>&1 || fail "cluster.sh stop"
[ -z "$(leftovers)" ] || fail "processes left after stop: $(leftovers)"
"$cli" ledger verify --config "$cfg" --id storage0 >"$tmp/verify.out" 2>&1 ||
	{ cat "$tmp/verify.out" >&2; fail "ledger verify"; }
cat "$tmp/verify.out"
in_ledger=$(sed -n 's/^transactions: \([0-9]*\).*/\1/p' "$tmp/verify.out")
# the bench's transactions plus the shard-map config transaction
[ "$in_ledger" = $((n + 1)) ] || fail "the ledger holds $in_ledger transactions, the bench saw $n finish"
echo "elastic: ok"
