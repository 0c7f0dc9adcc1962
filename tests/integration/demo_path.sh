#!/bin/sh
# ctest integration/demo-path: the README demo's path at small scale.
# deploy/local/cluster.sh starts the default local cluster (moved to free
# ports, tcp), flexchain-bench runs SmallBank for 8 s with --ledger-check and
# --json, then every transaction the bench saw finish is looked up in the
# ledger (flexchain tx status) and must be there with the bench's status,
# height and index; the heights the bench names must all be readable with
# `flexchain block show --json` and their per-status counts must cover the
# bench's; the cluster stops with no process left and `flexchain ledger
# verify` passes on the storage replica's data directory.
# Env: FC_SRC (source tree), FC_BUILD (build tree).
set -eu
test_name=demo-path
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

leftovers() {
	for p in /proc/[0-9]*; do
		tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF -e "$cfg" && echo "${p#/proc/}"
	done
	return 0
}
teardown() {
	bash "$launcher" stop --config "$cfg" --timeout 10 >/dev/null 2>&1 || true
	for p in $(leftovers); do kill -9 "$p" 2>/dev/null || true; done
	cleanup
}
trap teardown EXIT

bash "$launcher" start --config "$cfg" --build "$FC_BUILD" --timeout 60 >"$tmp/start.log" 2>&1 ||
	fail "cluster.sh start"
grep 'nodes healthy' "$tmp/start.log"

# SmallBank, closed loop, small scale.
"$bench" --config "$cfg" --workload smallbank --accounts 200 --concurrency 8 --duration 8 \
	--setup-batch 32 --seed 7 --timeout-ms 20000 --json "$tmp/bench.json" \
	--ledger-check "$tmp/ledger.txt" >"$tmp/bench.out" 2>"$tmp/bench.log" ||
	fail "flexchain-bench exited non-zero"
cat "$tmp/bench.out"
[ -s "$tmp/ledger.txt" ] || fail "the bench wrote no --ledger-check file"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$tmp/bench.json" ||
	fail "--json is not JSON"
committed=$(awk '$2 == "valid"' "$tmp/ledger.txt" | wc -l)
[ "$committed" -gt 0 ] || fail "no transaction committed as valid"

# Every transaction of the file, as the ledger has it: "TXID STATUS HEIGHT INDEX".
# (the CLI's status names are upper case; the bench's lower case)
cut -d' ' -f1 "$tmp/ledger.txt" | xargs -P 8 -n 1 sh -c '
	out=$("$0" tx status --config "$1" "$2" 2>&1) || { echo "$2 MISSING"; exit 0; }
	echo "$out" | awk -v id="$2" "/^status:/ {s=tolower(\$2)} /^height:/ {h=\$2} /^index:/ {i=\$2}
		END {print id, s, h, i}"' "$cli" "$cfg" >"$tmp/ledger_seen.txt"
sort "$tmp/ledger.txt" >"$tmp/want"
sort "$tmp/ledger_seen.txt" >"$tmp/got"
if ! cmp -s "$tmp/want" "$tmp/got"; then
	diff "$tmp/want" "$tmp/got" | head -n 20 >&2
	fail "the ledger disagrees with the bench on $(diff "$tmp/want" "$tmp/got" | grep -c '^<') transaction(s)"
fi
n=$(wc -l <"$tmp/ledger.txt")
echo "ledger check: all $n transactions of the bench ($committed valid) are in the ledger with the bench's status, height and index"

# One pass over the heights the bench names: each block's per-status counts
# are at least the bench's for that height.
for h in $(awk '{print $3}' "$tmp/ledger.txt" | sort -n -u); do
	"$cli" block show "$h" --config "$cfg" --json >"$tmp/block.json" 2>>"$tmp/block.log" ||
		fail "block show $h"
	python3 - "$tmp/block.json" "$tmp/ledger.txt" "$h" <<'PY' || fail "block $h disagrees with the bench"
import json, sys, collections
b = json.load(open(sys.argv[1]))
h = sys.argv[3]
want = collections.Counter(l.split()[1] for l in open(sys.argv[2]) if l.split()[2] == h)
def find(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if isinstance(v, dict) and "valid" in v and all(isinstance(x, int) for x in v.values()):
                return v
            r = find(v)
            if r is not None:
                return r
    return None
counts = find(b) or {}
for st, n in want.items():
    if counts.get(st, 0) < n:
        sys.exit("height %s: %d %s in the block, the bench saw %d" % (h, counts.get(st, 0), st, n))
PY
done
echo "block check: $(awk '{print $3}' "$tmp/ledger.txt" | sort -u | wc -l) blocks agree"

bash "$launcher" stop --config "$cfg" --timeout 60 >"$tmp/stop.log" 2>&1 || fail "cluster.sh stop"
[ -z "$(leftovers)" ] || fail "processes left after stop: $(leftovers)"
storage_id=$(python3 -c 'import sys, yaml
print(yaml.safe_load(open(sys.argv[1]))["storage"]["replicas"][0]["id"])' "$cfg")
"$cli" ledger verify --config "$cfg" --id "$storage_id" >"$tmp/verify.out" 2>&1 ||
	{ cat "$tmp/verify.out" >&2; fail "ledger verify"; }
cat "$tmp/verify.out"
in_ledger=$(sed -n 's/^transactions: \([0-9]*\).*/\1/p' "$tmp/verify.out")
[ "$in_ledger" = "$n" ] || fail "the ledger holds $in_ledger transactions, the bench saw $n finish"
echo "demo path: ok"
