# local_lib.sh - sourced, after tests/integration/cluster_lib.sh, by the
# tests that drive the local launcher deploy/local/cluster.sh
# (deploy/launcher, integration/demo_path, elastic, compute_join_endorse,
# storage_join, storage_join_readers).
# Env: FC_SRC (source tree), FC_BUILD (build tree). Provides:
#   $launcher          deploy/local/cluster.sh
#   $cli, $bench       flexchain and flexchain-bench of the build tree
#   need_bench         fails unless both are built
#   local_yaml OUT DATA
#                      writes OUT: the default local cluster on tcp, its
#                      control ports from one pick_base range and its metrics
#                      ports from another, crypto under $tmp/crypto, each
#                      node's data under DATA/<id>; OUT joins $local_configs
#   cl VERB [ARGS]     the launcher's VERB on $cfg with this build tree
#   leftovers          pids of processes with an argument under $tmp/
#   an EXIT trap       stops every cluster of $local_configs through the
#                      launcher, kills what is left, then cleanup
#   ledger_agrees LEDGER
#                      every "TXID STATUS HEIGHT INDEX" line of a bench's
#                      --ledger-check file is in the ledger of $cfg as such
#                      (flexchain tx status), else fail with the diff
#   stop_and_verify ID stops $cfg's cluster, fails if a process is left,
#                      runs `flexchain ledger verify` on replica ID and sets
#                      $in_ledger to the transactions it counted
#   local_two_compute [PYTHON [ARG...]]
#                      need_bench, then $cfg = $tmp/cluster.yaml: local_yaml
#                      with data under $tmp/data, one_compute_per_org
#   one_compute_per_org [PYTHON [ARG...]]
#                      keeps in $cfg the first compute server of each
#                      organisation; PYTHON, if given, then edits the file
#                      with `cfg` (the loaded YAML), `spare` (the compute
#                      servers dropped) and `argv` (the ARGs) in scope
#   local_start        `cl start`, fails (with the launcher's output) unless
#                      every node is healthy; prints the "nodes healthy" line
#   cl_config VERB [ARGS]
#                      `cl VERB ARGS` whose config transaction must be VALID
#                      (output on stdout, $tmp/VERB.out)
#   run_bench NAME SECONDS [ARGS]
#                      flexchain-bench on $cfg: YCSB, read ratio 0.5,
#                      uniform, 16 clients, $bench_size (records, value size,
#                      setup batch; default 200 records, batches of 32) for
#                      SECONDS; the report in $tmp/NAME.out, $tmp/NAME.json,
#                      every finished transaction in $tmp/NAME.ledger
#                      (--ledger-check); fails if it exits non-zero
#   run_bench_bg NAME SECONDS [ARGS]
#                      run_bench in the background; its pid in $bpid (and
#                      $bgpids)
#   show_run NAME [TITLE]
#                      prints "---- TITLE" (default NAME) and the report of
#                      run NAME
#   check_run NAME TITLE
#                      show_run NAME TITLE; then fails if a
#                      transaction failed other than by MVCC conflict, none
#                      committed VALID, or the --ledger-check file is empty
# All files are written under $tmp (removed by cleanup).

launcher=$FC_SRC/deploy/local/cluster.sh
cli=$FC_BUILD/client/flexchain
bench=$FC_BUILD/bench/driver/flexchain-bench
local_configs=""
bench_size="--records 200 --setup-batch 32"

local_yaml() {
	pick_base
	cbase=$base
	pick_base
	python3 - "$FC_SRC/deploy/local/cluster.yaml" "$1" $cbase $base "$2" "$tmp" <<'PY'
import sys, yaml
src, out, cbase, mbase, data, tmp = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
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
            n["data_dir"] = "%s/%s" % (data, n["id"])
yaml.safe_dump(cfg, open(out, "w"), sort_keys=False)
PY
	local_configs="$local_configs $1"
}

need_bench() {
	[ -x "$cli" ] && [ -x "$bench" ] || fail "flexchain or flexchain-bench not built in $FC_BUILD"
}

cl() { bash "$launcher" "$@" --config "$cfg" --build "$FC_BUILD" --timeout 60; }

leftovers() {
	for p in /proc/[0-9]*; do
		tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -q -e "^$tmp/" && echo "${p#/proc/}"
	done
	return 0
}

local_teardown() {
	for c in $local_configs; do
		bash "$launcher" stop --config "$c" --timeout 10 >/dev/null 2>&1 || true
	done
	for p in $(leftovers); do kill -9 "$p" 2>/dev/null || true; done
	cleanup
}
trap local_teardown EXIT

ledger_agrees() {
	cut -d' ' -f1 "$1" | xargs -P 8 -n 1 sh -c '
		out=$("$0" tx status --config "$1" "$2" 2>&1) || { echo "$2 MISSING"; exit 0; }
		echo "$out" | awk -v id="$2" "/^status:/ {s=tolower(\$2)} /^height:/ {h=\$2} /^index:/ {i=\$2}
			END {print id, s, h, i}"' "$cli" "$cfg" >"$tmp/seen.ledger"
	# (the CLI's status names are upper case; the bench's lower case)
	sort "$1" >"$tmp/want"
	sort "$tmp/seen.ledger" >"$tmp/got"
	if ! cmp -s "$tmp/want" "$tmp/got"; then
		diff "$tmp/want" "$tmp/got" | head -n 20 >&2
		fail "the ledger disagrees with the bench on $(diff "$tmp/want" "$tmp/got" | grep -c '^<') transaction(s)"
	fi
}

stop_and_verify() {
	bash "$launcher" stop --config "$cfg" --timeout 60 >"$tmp/stop.log" 2>&1 || fail "cluster.sh stop"
	[ -z "$(leftovers)" ] || fail "processes left after stop: $(leftovers)"
	"$cli" ledger verify --config "$cfg" --id "$1" >"$tmp/verify.out" 2>&1 ||
		{ cat "$tmp/verify.out" >&2; fail "ledger verify"; }
	cat "$tmp/verify.out"
	in_ledger=$(sed -n 's/^transactions: \([0-9]*\).*/\1/p' "$tmp/verify.out")
}

local_two_compute() {
	need_bench
	cfg=$tmp/cluster.yaml
	local_yaml "$cfg" "$tmp/data"
	one_compute_per_org "$@"
}

one_compute_per_org() {
	python3 - "$cfg" "$@" <<'PY'
import sys, yaml
path, edit, argv = sys.argv[1], (sys.argv[2:] or [""])[0], sys.argv[3:]
cfg = yaml.safe_load(open(path))
seen, keep, spare = set(), [], []
for n in cfg["compute"]:
    (spare if n["org"] in seen else keep).append(n)
    seen.add(n["org"])
cfg["compute"] = keep
exec(edit)
yaml.safe_dump(cfg, open(path, "w"), sort_keys=False)
PY
}

local_start() {
	cl start >"$tmp/start.log" 2>&1 ||
		{ cat "$tmp/start.log" >&2; tail -n 5 "$tmp"/data/logs/*.log >&2 || true; fail "cluster.sh start"; }
	grep 'nodes healthy' "$tmp/start.log"
}

cl_config() {
	cl "$@" >"$tmp/$1.out" 2>&1 || { cat "$tmp/$1.out" >&2; fail "cluster.sh $*"; }
	cat "$tmp/$1.out"
	grep -q 'status=TX_VALID' "$tmp/$1.out" || fail "cluster.sh $*: the config transaction is not VALID"
}

run_bench() {
	rn=$1
	secs=$2
	shift 2
	# shellcheck disable=SC2086 # $bench_size is a list of options
	"$bench" --config "$cfg" --workload ycsb $bench_size --read-ratio 0.5 --dist uniform \
		--concurrency 16 --duration "$secs" --timeout-ms 20000 \
		--json "$tmp/$rn.json" --ledger-check "$tmp/$rn.ledger" "$@" \
		>"$tmp/$rn.out" 2>"$tmp/$rn.log" || { cat "$tmp/$rn.log" >&2; fail "flexchain-bench ($rn) exited non-zero"; }
}

run_bench_bg() {
	run_bench "$@" &
	bpid=$!
	bgpids="$bgpids $bpid"
}

show_run() {
	echo "---- ${2:-$1}"
	cat "$tmp/$1.out"
}

check_run() {
	show_run "$1" "$2"
	python3 - "$tmp/$1.json" <<'PY' || fail "$1: no VALID commit, or a failure other than MVCC conflict"
import json, sys
s = json.load(open(sys.argv[1]))["status"]
bad = {k: v for k, v in s.items() if k not in ("valid", "mvcc_read_conflict") and v}
if bad:
    sys.exit("statuses other than valid / mvcc_read_conflict: %s" % bad)
if not s.get("valid"):
    sys.exit("no transaction committed VALID")
PY
	[ -s "$tmp/$1.ledger" ] || fail "$1: no --ledger-check file"
}
