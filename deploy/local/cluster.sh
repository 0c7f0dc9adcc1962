#!/usr/bin/env bash
# The local cluster launcher: every daemon of one cluster YAML on this
# machine, as the current (non-root) user, for development, demos and tests.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: deploy/local/cluster.sh start  [--config FILE] [--build DIR] [--transport tcp|rdma|auto]
                                      [--timeout SEC] [--log-level LEVEL]
       deploy/local/cluster.sh stop   [--config FILE] [--timeout SEC]
       deploy/local/cluster.sh status [--config FILE]
       deploy/local/cluster.sh add-compute N [--org ORG] [--config FILE] [--timeout SEC]
       deploy/local/cluster.sh remove-compute N [--config FILE] [--timeout SEC]
       deploy/local/cluster.sh add-memory [--org ORG] [--config FILE] [--timeout SEC]
       deploy/local/cluster.sh remove-memory ID [--config FILE] [--timeout SEC]
       deploy/local/cluster.sh add-storage [ID] [--org ORG] [--config FILE] [--timeout SEC]
       deploy/local/cluster.sh remove-storage ID [--config FILE] [--timeout SEC]
       deploy/local/cluster.sh -h|--help

start   generates the crypto material if there is none, creates the data
        directories, starts every node of the configuration (storage replicas,
        memory nodes, orderers, compute servers; a kind whose binary is not
        built is skipped with a warning), waits until every node is healthy
        (default 60 s) and prints a summary. Ctrl-C while starting stops
        everything again. A node is healthy when GET /healthz on its
        metrics_port answers 200; while nothing answers there, when its
        control port accepts a TCP connection.
stop    SIGTERM to every node, SIGKILL to those still running after the
        timeout (default 30 s), then checks that no process of the cluster is
        left. Exit 1 if one could not be removed.
status  every node: pid, running or not, health, ports. Exit 0 when every
        started node runs and is healthy, 1 otherwise, 3 when none runs.

Scaling a running cluster (the crypto material must be the cluster's own):
add-compute N     issues an identity (flexchain crypto issue) for each of N
                  new compute servers (ids compute-e<k>; organisations taken
                  in turn, or all --org ORG), starts them on free ports with
                  --org --host --port --metrics-port (they join at run time)
                  and waits until each is healthy, i.e. registered with the
                  orderer leader (default 60 s).
remove-compute N  SIGTERM to the N compute servers started last (those added
                  first go last; then the configuration's own, from its end):
                  each drains (stops taking requests, finishes what it holds,
                  deregisters) and the command waits for it to exit (default
                  30 s, then SIGKILL and exit 1).
add-memory        issues an identity for a new memory node memory-e<k>, starts
                  it on free ports (its own configuration: the cluster's plus
                  this node, run/<id>.yaml), waits until it is healthy, then
                  proposes the new shard map: flexchain config update
                  --add-memory ID:HOST:PORT:DATA_PORT:METRICS_PORT (cluster
                  status reads its metrics from there). If the update is
                  refused, the node is stopped again and the command exits 1.
remove-memory ID  proposes the shard map without ID (flexchain config update
                  --remove-memory ID), then stops the node.
add-storage [ID]  issues an identity (unless ID has one) for a new storage
                  replica ID (default storage-e<k>, organisation --org or the
                  first one), starts it on free ports with its ledger in
                  <data root>/ID (it joins at run time: --host --port
                  --metrics-port --data-dir), waits until it has caught up
                  the ledger from the running replicas and is healthy, then
                  makes it a write target: flexchain config update
                  --add-storage ID:HOST:PORT:METRICS_PORT (blocks decided
                  meanwhile reach it through its own catch-up). If the
                  update is refused, the replica is stopped again and the
                  command exits 1.
remove-storage ID proposes the replica set without ID (flexchain config
                  update --remove-storage ID; the write quorum must still be
                  reachable without it), then stops the replica. An added
                  replica stays in the chain's configuration until removed:
                  remove it before `stop` when the next `start` (which starts
                  only the YAML's nodes) should not count on it.
Added nodes are listed in run/added; stop and status include them.

Options:
  -c, --config FILE     cluster YAML (default: deploy/local/cluster.yaml)
  -b, --build DIR       where the binaries are (default: build/ of this tree
                        when it has them, else $PATH)
  -t, --transport T     override the YAML's transport (tcp, rdma or auto)
      --timeout SEC     health wait of start / grace period of stop
      --log-level LEVEL debug, info, warn or error (default info)

Files: the cluster's data root is the common parent of the data_dirs in the
YAML (/tmp/flexchain-local for the default): logs/<id>.log, run/<id>.pid,
and cluster.yaml when --transport changes the configuration.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage_error() { echo "cluster.sh: $* (see --help)" >&2; exit 2; }

# ---- configuration (python3 + PyYAML: the format of fc_config.h) --------
# yaml_helper MODE CFG [ARGS]:
#   info    -> shell assignments: root, crypto_dir, transport
#   nodes   -> one line per node: kind id org host port metrics_port data_dir
#   crypto  -> the identity files this configuration needs that are missing
#   cas     -> the CA certificate of every organisation
#   rewrite OUT TRANSPORT -> OUT: the same cluster with absolute paths and
#              the given transport
yaml_helper() {
	python3 - "$@" <<'PY'
import os, shlex, sys
import yaml

mode, path = sys.argv[1], os.path.abspath(sys.argv[2])
base = os.path.dirname(path)
with open(path) as f:
    cfg = yaml.safe_load(f) or {}

def absol(p):
    return p if os.path.isabs(p) else os.path.normpath(os.path.join(base, p))

crypto = absol(cfg.get("crypto_dir") or "./crypto")
kinds = [("storage", ((cfg.get("storage") or {}).get("replicas")) or [], True),
         ("memory", ((cfg.get("memory") or {}).get("nodes")) or [], False),
         ("orderer", cfg.get("orderers") or [], True),
         ("compute", cfg.get("compute") or [], False)]
nodes = []
for kind, lst, has_dir in kinds:
    for n in lst:
        d = absol(n.get("data_dir") or os.path.join("data", str(n["id"]))) if has_dir else "-"
        nodes.append((kind, str(n["id"]), str(n["org"]), str(n.get("host") or "127.0.0.1"),
                      int(n["port"]), int(n.get("metrics_port") or 0), d, n, has_dir))

if mode == "info":
    dirs = [os.path.dirname(n[6]) for n in nodes if n[6] != "-"]
    root = os.path.commonpath(dirs) if dirs else os.path.join(base, "data")
    print("root=%s" % shlex.quote(root))
    print("crypto_dir=%s" % shlex.quote(crypto))
    print("transport=%s" % shlex.quote(str(cfg.get("transport") or "auto")))
elif mode == "nodes":
    for n in nodes:
        print(" ".join(str(x) for x in n[:7]))
elif mode == "crypto":
    for org in cfg.get("organisations") or []:
        p = absol(org.get("ca_cert") or os.path.join(crypto, org["name"], "ca", "ca.crt"))
        if not os.path.exists(p):
            print(p)
    for kind, nid, org, *_ in nodes:
        for f in ("cert.pem", "key.pem"):
            p = os.path.join(crypto, org, kind, nid, f)
            if not os.path.exists(p):
                print(p)
elif mode == "cas":
    for org in cfg.get("organisations") or []:
        print(absol(org.get("ca_cert") or os.path.join(crypto, org["name"], "ca", "ca.crt")))
elif mode == "ports":
    # N free ports on 127.0.0.1 above every port of this configuration and
    # of the extra ones given, below the ephemeral range
    import socket
    n, used = int(sys.argv[3]), set(int(x) for x in sys.argv[4:])
    for _, _, _, _, port, mport, _, raw, _ in nodes:
        used.update(int(raw.get(k) or 0) for k in ("port", "raft_port", "data_port", "metrics_port"))
    p, got = max(used | {20000}) + 1, []
    while len(got) < n and p < 32768:
        if p not in used:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", p))
                got.append(p)
            except OSError:
                pass
            finally:
                s.close()
        p += 1
    if len(got) < n:
        sys.exit("no free ports")
    print(" ".join(str(x) for x in got))
elif mode == "orgs":
    print(" ".join(str(o["name"]) for o in cfg.get("organisations") or []))
elif mode == "addmemory":
    # OUT ID ORG HOST PORT DATA_PORT METRICS_PORT: this configuration with
    # absolute paths plus one memory node (the new node's own file)
    out, nid, org, host, port, dport, mport = sys.argv[3:10]
    cfg["crypto_dir"] = crypto
    for o in cfg.get("organisations") or []:
        for k in ("ca_cert", "ca_key"):
            if o.get(k):
                o[k] = absol(o[k])
    for n in nodes:
        if n[8]:
            n[7]["data_dir"] = n[6]
    mem = cfg.setdefault("memory", {}) or {}
    cfg["memory"] = mem
    mem.setdefault("nodes", [])
    mem["nodes"] = (mem["nodes"] or []) + [{"id": nid, "org": org, "host": host, "port": int(port),
                                            "data_port": int(dport), "metrics_port": int(mport)}]
    with open(out + ".tmp", "w") as f:
        f.write("# generated by deploy/local/cluster.sh add-memory from %s\n" % path)
        yaml.safe_dump(cfg, f, sort_keys=False)
    os.replace(out + ".tmp", out)
elif mode == "rewrite":
    out, transport = sys.argv[3], sys.argv[4]
    cfg["transport"] = transport
    cfg["crypto_dir"] = crypto
    for org in cfg.get("organisations") or []:
        for k in ("ca_cert", "ca_key"):
            if org.get(k):
                org[k] = absol(org[k])
    for n in nodes:
        if n[8]:
            n[7]["data_dir"] = n[6]
    with open(out + ".tmp", "w") as f:
        f.write("# generated by deploy/local/cluster.sh from %s\n" % path)
        yaml.safe_dump(cfg, f, sort_keys=False)
    os.replace(out + ".tmp", out)
PY
}

# ---- health -----------------------------------------------------------
# http_code HOST PORT: the status code of GET /healthz, 000 when nothing answers.
http_code() {
	local code
	if command -v curl >/dev/null; then
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$1:$2/healthz" 2>/dev/null) || true
	else
		code=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1
			printf "GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n" "$0" >&3
			read -r _ c _ <&3 && printf "%s" "$c"' "$1" "$2" 2>/dev/null) || true
	fi
	[[ $code =~ ^[0-9]{3}$ ]] || code=000
	echo "$code"
}

tcp_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null; }

# healthy HOST PORT METRICS_PORT
healthy() {
	local h=$1 code
	[[ $h = 0.0.0.0 ]] && h=127.0.0.1
	if [[ $3 != 0 ]]; then
		code=$(http_code "$h" "$3")
		[[ $code = 200 ]] && return 0
		[[ $code = 000 ]] || return 1 # answered, and not healthy
	fi
	tcp_open "$h" "$2"
}

# ---- processes ----------------------------------------------------------
# alive ID: whether run/ID.pid names a live process that is node ID.
alive() {
	local f=$rundir/$1.pid pid
	[[ -f $f ]] || return 1
	pid=$(cat "$f" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# the pid may have been reused: it must be a daemon started with --id ID
	tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF -- "$1" || return 1
	grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
	return 0
}
pid_of() { cat "$rundir/$1.pid"; }

# Every process that runs a flexchain daemon with this cluster's config.
cluster_procs() {
	local p c
	[[ -f $rundir/config ]] || return 0
	c=$(cat "$rundir/config")
	for p in /proc/[0-9]*; do
		[[ -r $p/cmdline ]] || continue
		if tr '\0' '\n' 2>/dev/null <"$p/cmdline" | grep -qxF -- "$c" &&
			tr '\0' '\n' 2>/dev/null <"$p/cmdline" | head -n 1 | grep -q 'flexchain-'; then
			echo "${p#/proc/}"
		fi
	done
}

find_bin() { # KIND -> path or nothing
	local b=flexchain-$1 f
	if [[ -n $build ]]; then
		f=$(find "$build" -maxdepth 3 -type f -name "$b" -perm -u+x 2>/dev/null | sort | head -n 1)
		[[ -z $f ]] || echo "$f"
	else
		command -v "$b" || true
	fi
}

load_config() {
	[[ -f $config ]] || die "no configuration '$config'"
	config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
	command -v python3 >/dev/null || die "python3 is needed (deploy/install-deps.sh)"
	local info
	info=$(yaml_helper info "$config") || die "cannot read $config"
	eval "$info"
	rundir=$root/run
	logdir=$root/logs
	mapfile -t nodes < <(yaml_helper nodes "$config")
	[[ ${#nodes[@]} -gt 0 ]] || die "$config names no node"
	# nodes added at run time (add-compute, add-memory): same fields
	if [[ -f $rundir/added ]]; then
		local l
		while read -r l; do [[ -n $l ]] && nodes+=("$l"); done <"$rundir/added"
	fi
}

# stop_all TIMEOUT: SIGTERM in reverse start order, SIGKILL after TIMEOUT.
stop_all() {
	local timeout=$1 i id pid left n=0 t0 orphans
	for ((i = ${#nodes[@]} - 1; i >= 0; i--)); do
		read -r _ id _ <<<"${nodes[i]}"
		if alive "$id"; then
			pid=$(pid_of "$id")
			# each daemon leads its own process group (setsid)
			kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
			n=$((n + 1))
		fi
	done
	t0=$SECONDS
	while :; do
		left=()
		for i in "${!nodes[@]}"; do
			read -r _ id _ <<<"${nodes[i]}"
			alive "$id" && left+=("$id")
		done
		[[ ${#left[@]} -eq 0 ]] && break
		if ((SECONDS - t0 >= timeout)); then
			echo "cluster: still running after ${timeout}s, killing: ${left[*]}" >&2
			for id in "${left[@]}"; do
				pid=$(pid_of "$id")
				kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
			done
			sleep 1
			break
		fi
		sleep 0.2
	done
	# Verify: nothing of this cluster is left, whether we have its pid file or not.
	orphans=$(cluster_procs)
	if [[ -n $orphans ]]; then
		echo "cluster: processes of this cluster without a pid file: $orphans; killing them" >&2
		for pid in $orphans; do kill -KILL "$pid" 2>/dev/null || true; done
		sleep 1
		orphans=$(cluster_procs)
	fi
	left=()
	for i in "${!nodes[@]}"; do
		read -r _ id _ <<<"${nodes[i]}"
		if alive "$id"; then left+=("$id"); else rm -f "$rundir/$id.pid"; fi
	done
	if [[ ${#left[@]} -gt 0 || -n $orphans ]]; then
		echo "cluster: could not stop: ${left[*]} $orphans" >&2
		return 1
	fi
	if [[ -f $rundir/added ]]; then
		for i in "${!nodes[@]}"; do
			read -r _ id _ <<<"${nodes[i]}"
			rm -f "$rundir/$id.yaml"
		done
		rm -f "$rundir/added" "$rundir/added.ports"
	fi
	rm -f "$rundir/config"
	echo "cluster: stopped $n process(es); none left"
}

# ---- commands -------------------------------------------------------------
cmd_start() {
	local kind id org host port mport ddir bin cfg_run line t0 pending ok tty=0 last=-1 last_t=0
	local -A bins=()
	local started=()
	load_config
	if [[ -z $build && -z ${FC_NO_DEFAULT_BUILD:-} ]] && [[ -d $src/build ]] &&
		[[ -n $(find "$src/build" -maxdepth 3 -type f -name 'flexchain-*' -perm -u+x 2>/dev/null | head -n 1) ]]; then
		build=$src/build
	fi
	[[ -z $build || -d $build ]] || die "no build directory '$build'"
	mkdir -p "$rundir" "$logdir"

	for line in "${nodes[@]}"; do
		read -r kind id _ <<<"$line"
		alive "$id" && die "$id is already running (pid $(pid_of "$id")); cluster.sh stop first"
		rm -f "$rundir/$id.pid"
	done
	# nodes added at run time belong to the run that added them
	if [[ -f $rundir/added ]]; then
		rm -f "$rundir/added" "$rundir/added.ports"
		mapfile -t nodes < <(yaml_helper nodes "$config")
	fi

	# transport
	cfg_run=$config
	if [[ -n $transport_opt && $transport_opt != "$transport" ]]; then
		cfg_run=$root/cluster.yaml
		yaml_helper rewrite "$config" "$cfg_run" "$transport_opt" || die "cannot write $cfg_run"
		transport=$transport_opt
		echo "cluster: transport $transport (configuration $cfg_run)"
	elif [[ $root/cluster.yaml != "$config" ]] &&
		head -n 1 "$root/cluster.yaml" 2>/dev/null | grep -q '^# generated by deploy/local/cluster.sh'; then
		rm -f "$root/cluster.yaml" # from an earlier start with --transport
	fi

	# binaries
	local cli
	if [[ -n $build ]]; then
		cli=$(find "$build" -maxdepth 3 -type f -name flexchain -perm -u+x 2>/dev/null | sort | head -n 1)
	else
		cli=$(command -v flexchain || true)
	fi
	for kind in storage memory orderer compute; do
		bins[$kind]=$(find_bin "$kind")
		[[ -n ${bins[$kind]} ]] ||
			echo "cluster: warning: flexchain-$kind not built${build:+ in $build}; its nodes are skipped" >&2
	done

	# crypto
	local missing
	missing=$(yaml_helper crypto "$cfg_run")
	if [[ -n $missing ]]; then
		if [[ -d $crypto_dir && -n $(ls -A "$crypto_dir" 2>/dev/null) ]]; then
			die "crypto material in $crypto_dir does not cover this configuration (missing $(echo "$missing" | head -n 1) ...); regenerate it with: flexchain crypto generate --config $cfg_run --force (and remove the old data dirs under $root)"
		fi
		[[ -n $cli ]] || die "the flexchain CLI is not built; it is needed to generate crypto material"
		echo "cluster: generating crypto material in $crypto_dir"
		"$cli" crypto generate --config "$cfg_run" >"$logdir/crypto.log" 2>&1 ||
			{ cat "$logdir/crypto.log" >&2; die "crypto generate failed"; }
	fi

	# Data made with other crypto material (another CA) would be refused or,
	# worse, mixed: remember which CAs this data root belongs to.
	local fp
	fp=$(yaml_helper cas "$cfg_run" | xargs -r cat | sha256sum | cut -d' ' -f1)
	if [[ -f $root/crypto.sha256 ]]; then
		[[ $(cat "$root/crypto.sha256") = "$fp" ]] ||
			die "the data under $root was made with other crypto material than $crypto_dir; remove $root (or use another data_dir) to start afresh"
	else
		# no record: only an empty data root may be claimed
		for line in "${nodes[@]}"; do
			read -r kind id org host port mport ddir <<<"$line"
			[[ $ddir = - || ! -d $ddir || -z $(ls -A "$ddir" 2>/dev/null) ]] ||
				die "$ddir holds data but $root has no record of the crypto material it was made with; remove $root (or use another data_dir) to start afresh"
		done
		echo "$fp" >"$root/crypto.sha256"
	fi

	echo "$cfg_run" >"$rundir/config" # stop's check for processes without a pid file

	# Ctrl-C (or a failure) from here on stops whatever was started.
	trap 'echo; echo "cluster: interrupted; stopping" >&2; stop_all 10 || true; exit 130' INT TERM

	for line in "${nodes[@]}"; do
		read -r kind id org host port mport ddir <<<"$line"
		bin=${bins[$kind]}
		[[ -n $bin ]] || continue
		[[ $ddir = - ]] || mkdir -p "$ddir"
		echo "=== $(date '+%F %T') start $id" >>"$logdir/$id.log"
		setsid "$bin" --config "$cfg_run" --id "$id" --log-level "$log_level" \
			>>"$logdir/$id.log" 2>&1 </dev/null &
		echo $! >"$rundir/$id.pid"
		started+=("$line")
		echo "cluster: started $kind $id (pid $!)"
	done
	[[ ${#started[@]} -gt 0 ]] || die "no daemon is built; nothing to start"

	# wait for health
	[[ -t 1 ]] && tty=1
	t0=$SECONDS
	local -A good=()
	while :; do
		pending=()
		for line in "${started[@]}"; do
			read -r kind id org host port mport ddir <<<"$line"
			[[ -n ${good[$id]:-} ]] && continue
			if ! alive "$id"; then
				echo >&2
				echo "cluster: $id exited during start-up; last lines of $logdir/$id.log:" >&2
				tail -n 15 "$logdir/$id.log" >&2 || true
				stop_all 10 || true
				exit 1
			fi
			if healthy "$host" "$port" "$mport"; then good[$id]=1; else pending+=("$id"); fi
		done
		ok=$((${#started[@]} - ${#pending[@]}))
		if [[ $tty = 1 ]]; then
			printf '\rcluster: %d/%d healthy after %ds %-40.40s' "$ok" "${#started[@]}" \
				$((SECONDS - t0)) "${pending[*]:+(waiting: ${pending[*]})}"
		elif ((ok != last || SECONDS - last_t >= 5)); then
			last_t=$SECONDS
			echo "cluster: $ok/${#started[@]} healthy after $((SECONDS - t0))s${pending[*]:+ (waiting: ${pending[*]})}"
		fi
		last=$ok
		[[ ${#pending[@]} -eq 0 ]] && break
		if ((SECONDS - t0 >= timeout)); then
			echo >&2
			echo "cluster: not healthy after ${timeout}s: ${pending[*]} (logs in $logdir)" >&2
			for id in "${pending[@]}"; do
				echo "--- $logdir/$id.log (tail)" >&2
				tail -n 10 "$logdir/$id.log" >&2 || true
			done
			stop_all 10 || true
			exit 1
		fi
		sleep 0.5
	done
	[[ $tty = 1 ]] && echo
	trap - INT TERM

	echo "cluster: all ${#started[@]} nodes healthy (transport $transport)"
	printf '  %-8s %-16s %-7s %-22s %-8s %s\n' KIND ID PID ENDPOINT METRICS LOG
	for line in "${started[@]}"; do
		read -r kind id org host port mport ddir <<<"$line"
		printf '  %-8s %-16s %-7s %-22s %-8s %s\n' "$kind" "$id" "$(pid_of "$id")" \
			"$host:$port" "${mport/#0/-}" "$logdir/$id.log"
	done
	echo "  configuration: $cfg_run"
	echo "  stop with: $0 stop${config_given:+ --config $config}"
}

# ---- scaling ----------------------------------------------------------------
# A running cluster: its configuration (as start used it), the CLI.
running_cluster() {
	load_config
	[[ -f $rundir/config ]] || die "the cluster of $config is not running (cluster.sh start first)"
	cfg_run=$(cat "$rundir/config")
	if [[ -z $build && -z ${FC_NO_DEFAULT_BUILD:-} ]] && [[ -d $src/build ]]; then
		build=$src/build
	fi
	if [[ -n $build ]]; then
		cli=$(find "$build" -maxdepth 3 -type f -name flexchain -perm -u+x 2>/dev/null | sort | head -n 1)
	else
		cli=$(command -v flexchain || true)
	fi
	[[ -n $cli ]] || die "the flexchain CLI is not built${build:+ in $build}"
}

# next_id PREFIX: PREFIX<k> for the smallest k no node or identity uses.
next_id() {
	local k=0 line id taken
	while :; do
		taken=0
		for line in "${nodes[@]}"; do
			read -r _ id _ <<<"$line"
			[[ $id = "$1$k" ]] && { taken=1; break; }
		done
		[[ $taken = 0 ]] && [[ -z $(find "$crypto_dir" -mindepth 3 -maxdepth 3 -name "$1$k" 2>/dev/null) ]] && break
		k=$((k + 1))
	done
	echo "$1$k"
}

# used_ports: every port of the added nodes (the YAML's are known to the helper)
used_ports() {
	local line kind id org host port mport ddir
	for line in "${nodes[@]}"; do
		read -r kind id org host port mport ddir <<<"$line"
		echo "$port $mport"
	done
	[[ ! -f $rundir/added.ports ]] || cat "$rundir/added.ports"
}

# wait_healthy TIMEOUT LINE...: every node healthy, or exit 1 naming the others.
wait_healthy() {
	local limit=$1 t0=$SECONDS line kind id org host port mport ddir pending
	shift
	while :; do
		pending=()
		for line in "$@"; do
			read -r kind id org host port mport ddir <<<"$line"
			if ! alive "$id"; then
				# just forked, not yet exec'd: its cmdline does not name it yet
				if kill -0 "$(pid_of "$id")" 2>/dev/null &&
					! grep -q '^State:[[:space:]]*Z' "/proc/$(pid_of "$id")/status" 2>/dev/null; then
					pending+=("$id")
					continue
				fi
				tail -n 15 "$logdir/$id.log" >&2
				die "$id exited during start-up (log: $logdir/$id.log)"
			fi
			healthy "$host" "$port" "$mport" || pending+=("$id")
		done
		[[ ${#pending[@]} -eq 0 ]] && return 0
		((SECONDS - t0 < limit)) || die "not healthy after ${limit}s: ${pending[*]} (logs in $logdir)"
		sleep 0.3
	done
}

# stop_node ID TIMEOUT: SIGTERM, wait for the exit; SIGKILL after TIMEOUT (1).
stop_node() {
	local id=$1 limit=$2 pid t0=$SECONDS
	if alive "$id"; then
		pid=$(pid_of "$id")
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		while alive "$id"; do
			if ((SECONDS - t0 >= limit)); then
				echo "cluster: $id still running after ${limit}s; killing it" >&2
				kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
				sleep 0.5
				rm -f "$rundir/$id.pid"
				return 1
			fi
			sleep 0.1
		done
	fi
	rm -f "$rundir/$id.pid"
	return 0
}

# forget ID: drop ID from run/added
forget() {
	[[ -f $rundir/added ]] || return 0
	awk -v id="$1" '$2 != id' "$rundir/added" >"$rundir/added.tmp" && mv "$rundir/added.tmp" "$rundir/added"
}

cmd_add_compute() {
	local n=$1 i id o ports port mport bin line orgs_list=() new=()
	running_cluster
	bin=$(find_bin compute)
	[[ -n $bin ]] || die "flexchain-compute is not built${build:+ in $build}"
	if [[ -n $org_opt ]]; then
		orgs_list=("$org_opt")
	else
		read -r -a orgs_list <<<"$(yaml_helper orgs "$cfg_run")"
	fi
	for ((i = 0; i < n; i++)); do
		o=${orgs_list[i % ${#orgs_list[@]}]}
		id=$(next_id compute-e)
		# shellcheck disable=SC2046
		ports=$(yaml_helper ports "$cfg_run" 2 $(used_ports)) || die "no free ports for $id"
		read -r port mport <<<"$ports"
		"$cli" crypto issue --config "$cfg_run" --org "$o" --kind compute --id "$id" \
			>>"$logdir/crypto.log" 2>"$logdir/crypto.err" ||
			die "crypto issue for $id: $(cat "$logdir/crypto.err")"
		echo "=== $(date '+%F %T') start $id" >>"$logdir/$id.log"
		setsid "$bin" --config "$cfg_run" --id "$id" --org "$o" --host 127.0.0.1 --port "$port" \
			--metrics-port "$mport" --log-level "$log_level" >>"$logdir/$id.log" 2>&1 </dev/null &
		echo $! >"$rundir/$id.pid"
		line="compute $id $o 127.0.0.1 $port $mport -"
		echo "$line" >>"$rundir/added"
		nodes+=("$line")
		new+=("$line")
		echo "cluster: started compute $id of $o on 127.0.0.1:$port (pid $!)"
	done
	wait_healthy "$timeout" "${new[@]}"
	echo "cluster: added $n compute server(s); all healthy"
}

cmd_remove_compute() {
	local n=$1 i line kind id victims=() rc=0
	running_cluster
	for ((i = ${#nodes[@]} - 1; i >= 0 && ${#victims[@]} < n; i--)); do
		read -r kind id _ <<<"${nodes[i]}"
		[[ $kind = compute ]] && alive "$id" && victims+=("$id")
	done
	[[ ${#victims[@]} -eq $n ]] || die "only ${#victims[@]} compute server(s) run; cannot remove $n"
	# SIGTERM to all at once: each drains on its own, then deregisters
	for id in "${victims[@]}"; do
		echo "cluster: draining compute $id (pid $(pid_of "$id"))"
	done
	local pids=()
	for id in "${victims[@]}"; do stop_node "$id" "$timeout" & pids+=($!); done
	for i in "${!pids[@]}"; do wait "${pids[i]}" || rc=1; done
	for id in "${victims[@]}"; do forget "$id"; done
	[[ $rc = 0 ]] || die "a compute server did not drain in ${timeout}s"
	echo "cluster: removed ${#victims[@]} compute server(s): ${victims[*]}"
}

cmd_add_memory() {
	local id o ports port dport mport bin line own
	running_cluster
	bin=$(find_bin memory)
	[[ -n $bin ]] || die "flexchain-memory is not built${build:+ in $build}"
	o=${org_opt:-$(yaml_helper orgs "$cfg_run" | cut -d' ' -f1)}
	id=$(next_id memory-e)
	# shellcheck disable=SC2046
	ports=$(yaml_helper ports "$cfg_run" 3 $(used_ports)) || die "no free ports for $id"
	read -r port dport mport <<<"$ports"
	echo "$dport" >>"$rundir/added.ports"
	"$cli" crypto issue --config "$cfg_run" --org "$o" --kind memory --id "$id" \
		>>"$logdir/crypto.log" 2>"$logdir/crypto.err" ||
		die "crypto issue for $id: $(cat "$logdir/crypto.err")"
	own=$rundir/$id.yaml
	yaml_helper addmemory "$cfg_run" "$own" "$id" "$o" 127.0.0.1 "$port" "$dport" "$mport" ||
		die "cannot write $own"
	echo "=== $(date '+%F %T') start $id" >>"$logdir/$id.log"
	setsid "$bin" --config "$own" --id "$id" --log-level "$log_level" \
		>>"$logdir/$id.log" 2>&1 </dev/null &
	echo $! >"$rundir/$id.pid"
	line="memory $id $o 127.0.0.1 $port $mport -"
	echo "$line" >>"$rundir/added"
	nodes+=("$line")
	echo "cluster: started memory $id of $o on 127.0.0.1:$port data $dport (pid $!)"
	wait_healthy "$timeout" "$line"
	echo "cluster: proposing the shard map with $id"
	if ! "$cli" config update --config "$cfg_run" --add-memory "$id:127.0.0.1:$port:$dport:$mport"; then
		# not in the shard map: nobody routes to it; take it away again
		stop_node "$id" "$timeout" || true
		forget "$id"
		rm -f "$own"
		die "config update --add-memory $id failed; $id stopped again"
	fi
	echo "cluster: added memory node $id"
}

cmd_add_storage() {
	local id=$1 o ports port mport bin line ddir n
	running_cluster
	bin=$(find_bin storage)
	[[ -n $bin ]] || die "flexchain-storage is not built${build:+ in $build}"
	o=${org_opt:-$(yaml_helper orgs "$cfg_run" | cut -d' ' -f1)}
	if [[ -z $id ]]; then
		id=$(next_id storage-e)
	else
		[[ $id =~ ^[A-Za-z_][A-Za-z0-9_.-]*$ && ${#id} -le 64 ]] || usage_error "bad node id '$id'"
		for line in "${nodes[@]}"; do
			read -r _ n _ <<<"$line"
			[[ $n = "$id" ]] && die "$id is already a node of this cluster"
		done
	fi
	# shellcheck disable=SC2046
	ports=$(yaml_helper ports "$cfg_run" 2 $(used_ports)) || die "no free ports for $id"
	read -r port mport <<<"$ports"
	ddir=$root/$id
	if [[ ! -f $crypto_dir/$o/storage/$id/cert.pem ]]; then
		"$cli" crypto issue --config "$cfg_run" --org "$o" --kind storage --id "$id" \
			>>"$logdir/crypto.log" 2>"$logdir/crypto.err" ||
			die "crypto issue for $id: $(cat "$logdir/crypto.err")"
	fi
	mkdir -p "$ddir"
	echo "=== $(date '+%F %T') start $id" >>"$logdir/$id.log"
	setsid "$bin" --config "$cfg_run" --id "$id" --org "$o" --host 127.0.0.1 --port "$port" \
		--metrics-port "$mport" --data-dir "$ddir" --log-level "$log_level" \
		>>"$logdir/$id.log" 2>&1 </dev/null &
	echo $! >"$rundir/$id.pid"
	line="storage $id $o 127.0.0.1 $port $mport $ddir"
	echo "$line" >>"$rundir/added"
	nodes+=("$line")
	echo "cluster: started storage $id of $o on 127.0.0.1:$port, data $ddir (pid $!); catching up"
	wait_healthy "$timeout" "$line"
	echo "cluster: $id caught up$(sed -n 's/.*msg="joined: ledger caught up" height=\([0-9]*\).*/ to height \1/p' "$logdir/$id.log" | tail -n 1)"
	echo "cluster: proposing the storage replicas with $id"
	if ! "$cli" config update --config "$cfg_run" --add-storage "$id:127.0.0.1:$port:$mport"; then
		# not a write target: nothing reaches it; take it away again
		stop_node "$id" "$timeout" || true
		forget "$id"
		die "config update --add-storage $id failed; $id stopped again"
	fi
	echo "cluster: added storage replica $id"
}

# remove_by_config KIND ID WHAT CHANGE: config update CHANGE ID (the node
# leaves the configuration in force), then SIGTERM and wait.
remove_by_config() {
	local kind=$1 id=$2 what=$3 change=$4 line k nid found=0
	running_cluster
	for line in "${nodes[@]}"; do
		read -r k nid _ <<<"$line"
		[[ $k = "$kind" && $nid = "$id" ]] && found=1
	done
	[[ $found = 1 ]] || die "no $what '$id' in this cluster"
	echo "cluster: proposing the configuration without $id"
	"$cli" config update --config "$cfg_run" "$change" "$id" ||
		die "config update $change $id failed; $id keeps running"
	stop_node "$id" "$timeout" || die "$id did not stop in ${timeout}s"
	forget "$id"
	echo "cluster: removed $what $id"
}
cmd_remove_storage() { remove_by_config storage "$1" "storage replica" --remove-storage; }
cmd_remove_memory() { remove_by_config memory "$1" "memory node" --remove-memory; }

cmd_stop() {
	load_config
	[[ -d $rundir ]] || { echo "cluster: not running (no $rundir)"; return 0; }
	stop_all "$timeout"
}

cmd_status() {
	local kind id org host port mport ddir line running=0 started=0 bad=0 state health pid
	load_config
	printf '%-8s %-16s %-7s %-8s %-9s %-22s %s\n' KIND ID PID STATE HEALTH ENDPOINT METRICS
	for line in "${nodes[@]}"; do
		read -r kind id org host port mport ddir <<<"$line"
		pid=- state=stopped health=-
		if [[ -f $rundir/$id.pid ]]; then
			started=$((started + 1))
			pid=$(pid_of "$id")
			if alive "$id"; then
				state=running
				running=$((running + 1))
				if healthy "$host" "$port" "$mport"; then health=healthy; else health=unhealthy; bad=1; fi
			else
				state=dead
				bad=1
			fi
		fi
		printf '%-8s %-16s %-7s %-8s %-9s %-22s %s\n' "$kind" "$id" "$pid" "$state" "$health" \
			"$host:$port" "${mport/#0/-}"
	done
	[[ $running -gt 0 ]] || return 3
	[[ $bad = 0 ]] || return 1
	return 0
}

# ---- arguments ----------------------------------------------------------
cmd=${1:-}
case $cmd in
-h | --help) usage; exit 0 ;;
start | stop | status) shift ;;
add-compute | remove-compute)
	[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage_error "$cmd needs a number of compute servers"
	count=$2
	shift 2
	;;
remove-memory)
	[[ -n ${2:-} && ${2:-} != -* ]] || usage_error "remove-memory needs a memory node id"
	count=$2
	shift 2
	;;
remove-storage)
	[[ -n ${2:-} && ${2:-} != -* ]] || usage_error "remove-storage needs a storage replica id"
	count=$2
	shift 2
	;;
add-storage)
	count=""
	if [[ -n ${2:-} && ${2:-} != -* ]]; then
		count=$2
		shift
	fi
	shift
	;;
add-memory) shift ;;
"") usage >&2; exit 2 ;;
*) usage_error "unknown command '$cmd'" ;;
esac
config=$src/deploy/local/cluster.yaml
config_given=""
build=""
transport_opt=""
timeout=""
log_level=info
org_opt=""
while [[ $# -gt 0 ]]; do
	case $1 in
	-c | --config) config=${2:-}; config_given=1; shift 2 || usage_error "--config needs a value" ;;
	-b | --build) build=${2:-}; shift 2 || usage_error "--build needs a value" ;;
	-t | --transport) transport_opt=${2:-}; shift 2 || usage_error "--transport needs a value" ;;
	--timeout) timeout=${2:-}; shift 2 || usage_error "--timeout needs a value" ;;
	--log-level) log_level=${2:-}; shift 2 || usage_error "--log-level needs a value" ;;
	-o | --org) org_opt=${2:-}; shift 2 || usage_error "--org needs a value" ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument '$1'" ;;
	esac
done
case $transport_opt in "" | tcp | rdma | auto) ;; *) usage_error "--transport must be tcp, rdma or auto" ;; esac
[[ -z $timeout || $timeout =~ ^[0-9]+$ ]] || usage_error "--timeout must be a number of seconds"
[[ -z $build ]] || build=$(cd "$build" 2>/dev/null && pwd) || die "no build directory"
if [[ -z $timeout ]]; then
	[[ $cmd = start ]] && timeout=60 || timeout=30
fi
case $cmd in
add-compute) cmd_add_compute "$count" ;;
remove-compute) cmd_remove_compute "$count" ;;
add-memory) cmd_add_memory ;;
remove-memory) cmd_remove_memory "$count" ;;
add-storage) cmd_add_storage "$count" ;;
remove-storage) cmd_remove_storage "$count" ;;
*) "cmd_$cmd" ;;
esac
