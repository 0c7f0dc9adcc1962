#!/bin/sh
# ctest deploy/launcher: deploy/local/cluster.sh start, status and stop with
# the daemons this build has, on free ports. Env: FC_SRC (source tree),
# FC_BUILD (build tree). Asserts that start reports every started node
# healthy, that status agrees, and that stop leaves no process behind.
set -eu
test_name=deploy-launcher
. "$FC_SRC/tests/integration/cluster_lib.sh"
. "$FC_SRC/tests/deploy/local_lib.sh"

local_yaml "$tmp/cluster.yaml" "$tmp/data"

bash "$launcher" start --config "$tmp/cluster.yaml" --build "$FC_BUILD" --timeout 120 \
	>"$tmp/start.out" 2>"$tmp/start.log" || { rc=$?; cat "$tmp/start.out"; fail "cluster.sh start exited $rc"; }
cat "$tmp/start.out"
grep -q 'nodes healthy' "$tmp/start.out" || fail "start did not report the cluster healthy"
[ -d "$tmp/data/logs" ] && [ -d "$tmp/data/run" ] || fail "no logs/ and run/ under the data root $tmp/data"
ls "$tmp/crypto/Org1/ca/ca.crt" >/dev/null || fail "crypto material not generated"

n=0
for f in "$tmp"/data/run/*.pid; do
	[ -f "$f" ] || continue
	pid=$(cat "$f")
	kill -0 "$pid" 2>/dev/null || fail "$(basename "$f" .pid) (pid $pid) is not running"
	n=$((n + 1))
done
[ $n -ge 4 ] || fail "expected at least the 3 orderers and the storage replica, got $n pid files"
echo "pid files: $n"

rc=0
bash "$launcher" status --config "$tmp/cluster.yaml" >"$tmp/status.out" 2>&1 || rc=$?
cat "$tmp/status.out"
[ $rc = 0 ] || fail "status exited $rc"
[ "$(grep -c ' healthy ' "$tmp/status.out")" = $n ] || fail "status does not show $n healthy nodes"

# A second start must refuse: the cluster is running.
if bash "$launcher" start --config "$tmp/cluster.yaml" --build "$FC_BUILD" >/dev/null 2>"$tmp/start2.log"; then
	fail "a second start succeeded"
fi
grep -q 'already running' "$tmp/start2.log" || fail "second start: $(cat "$tmp/start2.log")"

bash "$launcher" stop --config "$tmp/cluster.yaml" --timeout 60 >"$tmp/stop.out" 2>&1 ||
	{ cat "$tmp/stop.out"; fail "cluster.sh stop exited non-zero"; }
cat "$tmp/stop.out"
left=$(leftovers)
[ -z "$left" ] || fail "processes left after stop: $left"
ls "$tmp"/data/run/*.pid >/dev/null 2>&1 && fail "pid files left after stop"

# Every daemon exited cleanly on SIGTERM (no SIGKILL was needed).
grep -q 'killing' "$tmp/stop.out" && fail "stop had to SIGKILL a daemon"
rc=0
bash "$launcher" status --config "$tmp/cluster.yaml" >/dev/null 2>&1 || rc=$?
[ $rc = 3 ] || fail "status after stop exited $rc, expected 3 (not running)"

# SIGTERM (as Ctrl-C) while start waits for health stops everything it
# started. A build tree whose compute server never becomes healthy (it does
# not listen) keeps start waiting until the signal comes.
# Fresh ports (local_yaml does not hand out the first cluster's again).
local_yaml "$tmp/cluster2.yaml" "$tmp/data2"
mkdir -p "$tmp/build2"
for b in flexchain flexchain-orderer flexchain-storage; do
	f=$(find "$FC_BUILD" -maxdepth 3 -type f -name "$b" -perm -u+x | sort | head -n 1)
	[ -n "$f" ] || fail "$b is not built"
	cp "$f" "$tmp/build2/$b"
done
cat >"$tmp/build2/flexchain-compute" <<'SH'
#!/bin/sh
trap 'exit 0' TERM
while :; do sleep 1; done
SH
chmod +x "$tmp/build2/flexchain-compute"
bash "$launcher" start --config "$tmp/cluster2.yaml" --build "$tmp/build2" --timeout 250 \
	>"$tmp/start3.out" 2>"$tmp/start3.log" &
spid=$!
bgpids="$bgpids $spid"
tries=0
until grep -q 'healthy after' "$tmp/start3.out" 2>/dev/null; do
	tries=$((tries + 1)); [ $tries -lt 600 ] || fail "start did not reach the health wait"; sleep 0.1
done
kill -TERM $spid
rc=0
wait $spid || rc=$?
cat "$tmp/start3.out" "$tmp/start3.log"
[ $rc = 130 ] || fail "interrupted start exited $rc, expected 130"
for p in /proc/[0-9]*; do
	tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF "$tmp/cluster2.yaml" && fail "process ${p#/proc/} left after an interrupted start"
done
ls "$tmp"/data2/run/*.pid >/dev/null 2>&1 && fail "pid files left after an interrupted start"
echo "deploy/launcher: OK"
