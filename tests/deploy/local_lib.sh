# local_lib.sh - sourced, after tests/integration/cluster_lib.sh, by the
# tests that drive the local launcher deploy/local/cluster.sh
# (deploy/launcher, integration/demo_path, integration/elastic).
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
# All files are written under $tmp (removed by cleanup).

launcher=$FC_SRC/deploy/local/cluster.sh
cli=$FC_BUILD/client/flexchain
bench=$FC_BUILD/bench/driver/flexchain-bench
local_configs=""

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
