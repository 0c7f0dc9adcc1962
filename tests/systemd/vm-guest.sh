#!/bin/bash
# Runs inside the systemd test VM as the service fc-test.service (see
# run-vm.sh, vm-init.sh), as root on a throw-away overlay of the host's /.
# The flexchain units for real: deploy/install.sh --enable from the build
# tree, systemctl start flexchain.target (Type=notify), cluster status,
# flexchain-bench, deploy/scale.sh add/remove-compute, add/remove-memory
# (and add-storage once flexchain-storage takes --host), systemctl stop,
# the journal, flexchain ledger verify.
# Env: FC_SRC, FC_BUILD. Prints "vm: " summary lines, "vm| " details, and
# "FC_SYSTEMD_RESULT rc=N" last.
set -u
cfg=/etc/flexchain/cluster.yaml
out=/root/fc-test
mkdir -p "$out"
t0=$(date +%s)
say() { echo "vm: [$(( $(date +%s) - t0 ))s] $*"; }
detail() { sed 's/^/vm| /'; }
diag() {
	systemctl --no-pager list-units 'flexchain*' --all --plain --no-legend 2>&1 | detail
	ss -Htlnp 2>&1 | awk '{print $4, $6}' | detail
	for p in $(ss -Htln | awk '{print $4}' | sed -n 's/.*:\(9[0-9][0-9][0-9]\)$/\1/p'); do
		echo "healthz :$p -> $(curl -sS -m 10 -o /dev/null -w '%{http_code} %{time_total}s' "http://127.0.0.1:$p/healthz" 2>&1)"
	done | detail
	journalctl --no-pager -o cat -u flexchain-memory@memory0 -u flexchain-compute@compute-org1-0 2>&1 |
		grep -v 'subscribed to decisions' | tail -n 30 | detail
	journalctl --no-pager -n 60 -o short-monotonic 2>&1 | grep -i flexchain | tail -n 40 | detail
}
fail() {
	echo "vm: FAILED: $*"
	diag
	echo "FC_SYSTEMD_RESULT rc=1"
	exit 0
}
# unit_state UNIT: "ActiveState Result ExecMainStatus"
# unit_state UNIT: "ActiveState Result ExecMainCode/ExecMainStatus" (code 1:
# exited, 2: killed by a signal); only meaningful while the unit is loaded
# (enabled ones stay loaded; a stopped instance nothing refers to is unloaded)
# (one systemctl call each: every exec costs under TCG)
unit_state() {
	systemctl show -p ActiveState,Result,ExecMainCode,ExecMainStatus "$1" |
		awk -F= '{v[$1] = $2} END {print v["ActiveState"], v["Result"], v["ExecMainCode"] "/" v["ExecMainStatus"]}'
}
# logged UNIT PATTERN...: the unit's journal has a line matching each PATTERN
# (one journalctl per call: reading the journal costs under TCG)
logged() {
	local u=$1 p
	shift
	journalctl -q -o cat -u "$u" >"$out/journal.txt"
	for p in "$@"; do grep -q -- "$p" "$out/journal.txt" || { echo "vm| $u: no '$p' in its journal"; return 1; }; done
}
# bench NAME SECONDS [ARGS]: a closed-loop YCSB run; every transaction VALID
# or an MVCC conflict, some committed
bench() {
	local n=$1 s=$2
	shift 2
	timeout 120 flexchain-bench --config "$cfg" --workload ycsb --records 50 --read-ratio 0.5 \
		--dist uniform --concurrency 8 --duration "$s" --setup-batch 32 --timeout-ms 30000 \
		--json "$out/$n.json" "$@" >"$out/$n.out" 2>"$out/$n.log" ||
		{ tail -n 20 "$out/$n.log" | detail; fail "flexchain-bench ($n) exited non-zero"; }
	grep -E 'tx/s|committed|valid|latency' "$out/$n.out" | head -n 8 | detail
	python3 - "$out/$n.json" <<'PY' 2>&1 | detail
import json, sys
s = json.load(open(sys.argv[1]))["status"]
bad = {k: v for k, v in s.items() if k not in ("valid", "mvcc_read_conflict") and v}
print("statuses: %s" % s)
if bad or not s.get("valid"):
    sys.exit(1)
PY
	[ "${PIPESTATUS[0]}" = 0 ] || {
		grep -iE 'refus|error|fail|warn' "$out/$n.log" | head -n 10 | detail
		fail "bench $n: a transaction failed other than by MVCC conflict, or none committed"
	}
}
[ -n "${FC_SRC:-}" ] && [ -n "${FC_BUILD:-}" ] || fail "FC_SRC / FC_BUILD not set"
say "systemd $(systemctl --version | head -n 1 | cut -d' ' -f2) is PID 1 ($(cat /proc/1/comm)); booted in $(cut -d' ' -f1 /proc/uptime) s"

# 1. install: binaries, units, configuration, account, crypto, enabled units
bash "$FC_SRC/deploy/install.sh" --build "$FC_BUILD" --enable >"$out/install.out" 2>&1 ||
	{ detail <"$out/install.out"; fail "deploy/install.sh exited non-zero"; }
grep -E '^install: (enabled|created|generated)' "$out/install.out" | detail
units=$(systemctl list-unit-files 'flexchain-*@*' --state=enabled --no-legend 2>/dev/null | wc -l)
nodes=$(systemctl list-dependencies --plain --no-legend flexchain.target | grep -c 'flexchain-')
[ "$nodes" = 9 ] || fail "flexchain.target wants $nodes nodes, expected 9 (3 orderers, storage, memory, 4 compute)"
say "install.sh: binaries, units and $cfg in place; $nodes node units wanted by flexchain.target"

# 2. start: Type=notify, so the target is reached once every node sent READY=1
s=$(date +%s)
timeout 180 systemctl start flexchain.target || fail "systemctl start flexchain.target"
for u in $(systemctl list-dependencies --plain --no-legend flexchain.target | grep -o 'flexchain-[^ ]*'); do
	t=$(systemctl show -p Type --value "$u")
	st=$(unit_state "$u")
	[ "$t" = notify ] || fail "$u is Type=$t"
	case $st in active*) ;; *) fail "$u is not active after start: $st" ;; esac
done
say "systemctl start flexchain.target: $nodes units active (Type=notify, READY=1) in $(( $(date +%s) - s )) s"

# 3. cluster status healthy (bounded wait for compute registration)
ok=0
for i in $(seq 1 30); do
	if flexchain cluster status --config "$cfg" >"$out/status.out" 2>&1; then ok=1; break; fi
	sleep 2
done
detail <"$out/status.out"
[ $ok = 1 ] || fail "flexchain cluster status not healthy"
say "flexchain cluster status: healthy"

# 4. transactions commit
bench run1 3
say "flexchain-bench: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"]["valid"])' "$out/run1.json") transactions VALID"

# 5. compute 4 -> 6 -> 4; removal drains, systemd sees exit 0
sc="$FC_SRC/deploy/scale.sh"
bash "$sc" add-compute 2 >"$out/addc.out" 2>&1 || { detail <"$out/addc.out"; fail "scale.sh add-compute 2"; }
grep '^scale:' "$out/addc.out" | detail
added=$(sed -n 's/^scale: compute \([^ ]*\) of .*/\1/p' "$out/addc.out")
[ "$(echo "$added" | wc -w)" = 2 ] || fail "add-compute 2 did not report two servers"
for id in $added; do
	case $(unit_state "flexchain-compute@$id") in active*) ;; *) fail "flexchain-compute@$id not active" ;; esac
done
flexchain cluster status --config "$cfg" 2>&1 | grep -i 'compute' | tail -n 2 | detail
say "scale.sh add-compute 2: $(echo $added) active"
bash "$sc" remove-compute 2 >"$out/rmc.out" 2>&1 || { detail <"$out/rmc.out"; fail "scale.sh remove-compute 2"; }
grep '^scale:' "$out/rmc.out" | detail
for id in $added; do
	u=flexchain-compute@$id
	grep -q "^scale: compute $id drained and stopped cleanly" "$out/rmc.out" ||
		fail "remove-compute 2 did not stop $id (the ones added last)"
	systemctl is-failed --quiet "$u" && fail "$u is failed"
	logged "$u" 'msg="draining"' 'msg="drained"' 'msg="deregistered"' 'msg="stopped"' \
		'Deactivated successfully' || fail "$u: did not drain and stop cleanly"
done
say "scale.sh remove-compute 2: both drained (draining, drained, deregistered, stopped), not failed, deactivated successfully"

# 6. memory 1 -> 2 -> 1 through config transactions
bash "$sc" add-memory memory1 --port 7260 --data-port 7261 --metrics-port 9260 >"$out/addm.out" 2>&1 ||
	{ detail <"$out/addm.out"; fail "scale.sh add-memory"; }
grep -E '^scale:|status=' "$out/addm.out" | detail
grep -q 'status=TX_VALID' "$out/addm.out" || fail "add-memory: config transaction not VALID"
say "scale.sh add-memory memory1: config transaction VALID, flexchain-memory@memory1 $(unit_state flexchain-memory@memory1)"
bash "$sc" remove-memory memory1 >"$out/rmm.out" 2>&1 || { detail <"$out/rmm.out"; fail "scale.sh remove-memory"; }
grep -E '^scale:|status=' "$out/rmm.out" | detail
grep -q 'status=TX_VALID' "$out/rmm.out" || fail "remove-memory: config transaction not VALID"
systemctl is-failed --quiet flexchain-memory@memory1 && fail "flexchain-memory@memory1 is failed"
logged flexchain-memory@memory1 'Deactivated successfully' || fail "memory1: no successful deactivation"
say "scale.sh remove-memory memory1: config transaction VALID, node stopped cleanly"

# 7. a storage replica joins (when the daemon takes --host: replicas outside the file)
if flexchain-storage --help 2>&1 | grep -q -- '--host'; then
	bash "$sc" add-storage storage1 --port 7160 --metrics-port 9160 >"$out/adds.out" 2>&1 ||
		{ detail <"$out/adds.out"; fail "scale.sh add-storage"; }
	grep -E '^scale:|status=' "$out/adds.out" | detail
	grep -q 'status=TX_VALID' "$out/adds.out" || fail "add-storage: config transaction not VALID"
	case $(unit_state flexchain-storage@storage1) in active*) ;; *) fail "flexchain-storage@storage1 not active" ;; esac
	say "scale.sh add-storage storage1: config transaction VALID, unit active"
	joined_storage=flexchain-storage@storage1
else
	say "add-storage: skipped (flexchain-storage has no --host: replicas cannot join at run time in this build)"
fi
bench run3 3 --no-setup
say "flexchain-bench after scaling: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"]["valid"])' "$out/run3.json") transactions VALID"

joined_storage=${joined_storage:-}
# 8. stop: every unit inactive, none failed, each main process exited 0
s=$(date +%s)
timeout 180 systemctl stop flexchain.target || fail "systemctl stop flexchain.target"
# the target stops first (the units are ordered Before= it); the daemons
# finish draining after that: wait for them (bounded)
for _ in $(seq 1 120); do
	systemctl list-units 'flexchain-*' --plain --no-legend | grep -Eq ' (active|deactivating) ' || break
	sleep 0.5
done
took=$(( $(date +%s) - s ))
n=0
for u in $(systemctl list-units 'flexchain-*' --all --plain --no-legend | awk '{print $1}'); do
	st=$(unit_state "$u")
	echo "$u: $st, stopped in $(systemctl show -p ActiveExitTimestampMonotonic,InactiveEnterTimestampMonotonic "$u" |
		awk -F= '{v[$1] = $2} END {print int((v["InactiveEnterTimestampMonotonic"] - v["ActiveExitTimestampMonotonic"]) / 1000)}') ms" | detail
	[ "$st" = "inactive success 1/0" ] || fail "$u after stop: $st (want inactive success 1/0)"
	n=$((n + 1))
done
[ $n -ge 9 ] || fail "only $n flexchain units known after stop"
if [ -n "$joined_storage" ]; then # not wanted by the target: stopped through PartOf=
	systemctl is-failed --quiet "$joined_storage" && fail "$joined_storage is failed"
	logged "$joined_storage" 'msg="storage replica stopped"' 'Deactivated successfully' || fail "$joined_storage: no clean stop logged"
fi
say "systemctl stop flexchain.target: all $n units inactive, Result=success, main process exited 0 (stop took $took s)"

# 9. the journal has the daemons' logs
j=$(journalctl --no-pager -o cat -u flexchain-compute@compute-org1-0 | grep -vc -e '^Start' -e '^Stop' -e '^flexchain-compute@' -e 'Deactivated' -e '^-- ')
[ "$j" -gt 0 ] || fail "journalctl -u flexchain-compute@compute-org1-0 has no log line of the daemon"
journalctl --no-pager -o cat -u flexchain-compute@compute-org1-0 | head -n 3 | detail
say "journalctl -u flexchain-compute@compute-org1-0: $j lines from the daemon"

# 10. the ledger
flexchain ledger verify --config "$cfg" --id storage0 >"$out/verify.out" 2>&1 ||
	{ detail <"$out/verify.out"; fail "flexchain ledger verify"; }
detail <"$out/verify.out"
say "flexchain ledger verify --id storage0: passed"
say "all steps passed in $(( $(date +%s) - t0 )) s"
echo "FC_SYSTEMD_RESULT rc=0"
