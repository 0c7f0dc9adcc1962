#!/usr/bin/env bash
# Elastic scale-out and scale-in on a systemd host (deploy/install.sh layout:
# /etc/flexchain/cluster.yaml, /etc/flexchain/crypto, units
# flexchain-<pool>@<id>.service). The local cluster has the same verbs in
# deploy/local/cluster.sh.
set -euo pipefail

usage() {
	cat <<'EOT'
Usage: deploy/scale.sh add-compute N [--org ORG] [--host HOST] [--base-port P]
       deploy/scale.sh remove-compute N | ID...
       deploy/scale.sh add-memory ID --port P --data-port D [--host HOST] [--org ORG]
                                     [--metrics-port M]
       deploy/scale.sh remove-memory ID
       deploy/scale.sh add-storage ID --port P [--host HOST] [--org ORG] [--metrics-port M]
       deploy/scale.sh remove-storage ID
       deploy/scale.sh -h|--help
Common options: [--config FILE] [--dry-run]

add-compute N   for each of N new compute servers (ids compute-<host>-<k>):
                flexchain crypto issue --kind compute (the organisation's CA
                key must be on this host), a unit drop-in that makes the
                server join at run time (--org --host --port; ports from
                --base-port, default 7400, skipping those in use), then
                systemctl start flexchain-compute@ID (Type=notify: returns
                once the server serves). Organisations in turn unless --org.
remove-compute  systemctl stop flexchain-compute@ID for the N servers started
                last on this host (latest ActiveEnterTimestamp), or the IDs
                given: SIGTERM makes each one drain (no new requests, finish
                those held and the blocks it validates, deregister) and
                systemctl waits for its exit; an exit other than a clean 0
                is reported and makes the command fail.
add-memory ID   flexchain crypto issue --kind memory, the node's own
                configuration /etc/flexchain/memory-ID.yaml (the cluster's
                plus this node) and a drop-in pointing the unit at it,
                systemctl start flexchain-memory@ID, then the config
                transaction: flexchain config update --add-memory
                ID:HOST:PORT:DATA_PORT[:METRICS_PORT] (METRICS_PORT when
                --metrics-port is given; stops the node again if refused).
remove-memory   flexchain config update --remove-memory ID, then
                systemctl stop flexchain-memory@ID and removes its drop-in.
add-storage ID  flexchain crypto issue --kind storage, a drop-in that starts
                the replica outside the configuration file (flexchain-storage
                --host --port --data-dir /var/lib/flexchain/ID), systemctl
                start flexchain-storage@ID (ready once it has caught up from
                the configured replicas), then the config transaction
                flexchain config update --add-storage ID:HOST:PORT[:METRICS_PORT]
                (METRICS_PORT when --metrics-port is given; stops the
                replica again if refused).
remove-storage  flexchain config update --remove-storage ID, then systemctl
                stop flexchain-storage@ID and removes its drop-in (its data
                stays in /var/lib/flexchain/ID).
New identities are made readable by the account flexchain (the daemons' user).

Options:
  -c, --config FILE  cluster YAML (default /etc/flexchain/cluster.yaml)
  -o, --org ORG      organisation of the new nodes
      --host HOST    address the new nodes listen on and are reached at
                     (default 127.0.0.1; use the host's cluster address)
  -n, --dry-run      print the commands instead of running them
Needs root (systemctl, /etc), python3 with PyYAML, and the flexchain CLI.
EOT
}

die() { echo "scale.sh: $*" >&2; exit 1; }
usage_error() { echo "scale.sh: $* (see --help)" >&2; exit 2; }

config=/etc/flexchain/cluster.yaml
dry=0
org=""
host=127.0.0.1
base_port=7400
port="" data_port="" metrics_port=0
cli=${FLEXCHAIN_CLI:-$(command -v flexchain || echo /usr/local/bin/flexchain)}
dropin_root=/etc/systemd/system

run() {
	if [[ $dry = 1 ]]; then echo "+ $*"; else "$@"; fi
}

# write_file PATH: stdin to PATH (printed instead with --dry-run)
write_file() {
	if [[ $dry = 1 ]]; then echo "+ write $1:"; sed 's/^/    /'; else
		mkdir -p "$(dirname "$1")"
		cat >"$1.tmp" && mv "$1.tmp" "$1"
	fi
}

# crypto_dir: the configuration's crypto_dir, absolute
crypto_dir() {
	python3 -c 'import os, sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
print(os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(sys.argv[1])), c.get("crypto_dir") or "./crypto")))' "$config"
}

# issue ORG KIND ID: a new identity, readable by the daemons' account
issue() {
	run "$cli" crypto issue --config "$config" --org "$1" --kind "$2" --id "$3" --host "$host"
	local d
	d=$(crypto_dir)/$1/$2
	run chown flexchain:flexchain "$d"
	run chown -R flexchain:flexchain "$d/$3"
}

# stopped_clean UNIT INVOCATION: the unit is inactive and not failed (an exit
# status other than 0 or a SIGKILL after TimeoutStopSec leaves it failed), and
# its daemon logged its own clean stop ("... stopped") in that run, so it
# drained and returned from main rather than dying of the signal (which
# systemd would count as success too). systemd unloads a stopped instance at
# once, so ExecMainStatus cannot be asked afterwards.
stopped_clean() {
	local st i
	[[ $dry = 0 ]] || return 0
	st=$(systemctl show -p ActiveState --value "$1")/$(systemctl show -p Result --value "$1")
	[[ $st == inactive/success ]] || { echo "scale.sh: $1 did not stop cleanly: $st" >&2; return 1; }
	[[ -n $2 ]] || return 0
	for ((i = 0; i < 20; i++)); do # the journal may lag the exit a little
		journalctl -q -o cat "_SYSTEMD_INVOCATION_ID=$2" 2>/dev/null | grep -Eq 'msg="(stopped|memory node stopped|storage replica stopped)"' &&
			return 0
		sleep 0.5
	done
	echo "scale.sh: $1 stopped without its daemon's clean-stop log line (journalctl -u $1)" >&2
	return 1
}

orgs() {
	python3 -c 'import sys, yaml
print(" ".join(o["name"] for o in yaml.safe_load(open(sys.argv[1]))["organisations"]))' "$config"
}

port_free() { ! ss -Htln 2>/dev/null | awk '{print $4}' | grep -q ":$1\$"; }

# running KIND: ids of the running units of a pool, oldest first (by the
# time each became active; unit names sort otherwise)
running() {
	local u
	for u in $(systemctl list-units "flexchain-$1@*" --state=active --plain --no-legend 2>/dev/null |
		awk '{print $1}'); do
		echo "$(systemctl show -p ActiveEnterTimestampMonotonic --value "$u") $u"
	done | sort -n | awk '{print $2}' | sed "s/^flexchain-$1@//; s/\.service\$//"
}

add_compute() {
	local n=$1 i k=0 id o p=$base_port list units=() said=()
	read -r -a list <<<"${org:-$(orgs)}"
	for ((i = 0; i < n; i++)); do
		o=${list[i % ${#list[@]}]}
		while id=compute-${host//[^A-Za-z0-9]/-}-$k &&
			[[ -e $dropin_root/flexchain-compute@$id.service.d ]]; do k=$((k + 1)); done
		while ! port_free "$p"; do p=$((p + 1)); done
		issue "$o" compute "$id"
		write_file "$dropin_root/flexchain-compute@$id.service.d/join.conf" <<EOT
# written by deploy/scale.sh: compute server $id joins at run time
[Service]
ExecStart=
ExecStart=/usr/local/bin/flexchain-compute --config $config --id %i --org $o --host $host --port $p
EOT
		units+=("flexchain-compute@$id")
		said+=("scale: compute $id of $o serves on $host:$p")
		p=$((p + 1))
		k=$((k + 1))
	done
	run systemctl daemon-reload
	# all at once; Type=notify: returns when every one serves (or one failed)
	run systemctl start "${units[@]}" || die "systemctl start ${units[*]} failed (journalctl -u UNIT)"
	printf '%s\n' "${said[@]}"
}

remove_compute() {
	local ids=() all
	if [[ $1 =~ ^[0-9]+$ ]]; then
		mapfile -t all < <(running compute)
		((${#all[@]} >= $1)) || die "only ${#all[@]} compute server(s) run here"
		ids=("${all[@]: -$1}")
	else
		ids=("$@")
	fi
	local bad=0 id units=()
	declare -A inv=()
	for id in "${ids[@]}"; do
		echo "scale: draining compute $id"
		units+=("flexchain-compute@$id")
		inv[$id]=$([[ $dry = 1 ]] || systemctl show -p InvocationID --value "flexchain-compute@$id")
	done
	# SIGTERM to all at once; systemctl waits until each has drained and exited
	run systemctl stop "${units[@]}" || bad=1
	for id in "${ids[@]}"; do
		if stopped_clean "flexchain-compute@$id" "${inv[$id]}"; then
			echo "scale: compute $id drained and stopped cleanly"
		else
			bad=1
		fi
		run rm -rf "$dropin_root/flexchain-compute@$id.service.d"
	done
	run systemctl daemon-reload
	[[ $bad = 0 ]] || die "a compute server did not stop cleanly (journalctl -u flexchain-compute@ID)"
}

add_memory() {
	local id=$1 o own=/etc/flexchain/memory-$1.yaml mp_field=""
	[[ -n $port && -n $data_port ]] || usage_error "add-memory needs --port and --data-port"
	[[ $metrics_port = 0 ]] || mp_field=":$metrics_port"
	o=${org:-$(orgs | cut -d' ' -f1)}
	issue "$o" memory "$id"
	python3 - "$config" "$id" "$o" "$host" "$port" "$data_port" "$metrics_port" <<'PY' | write_file "$own"
import sys, yaml
path, nid, org, host, port, dport, mport = sys.argv[1:8]
cfg = yaml.safe_load(open(path))
mem = cfg.get("memory") or {}
node = {"id": nid, "org": org, "host": host, "port": int(port), "data_port": int(dport)}
if int(mport):
    node["metrics_port"] = int(mport)
mem["nodes"] = (mem.get("nodes") or []) + [node]
cfg["memory"] = mem
print("# written by deploy/scale.sh: the cluster of %s plus memory node %s" % (path, nid))
print(yaml.safe_dump(cfg, sort_keys=False), end="")
PY
	write_file "$dropin_root/flexchain-memory@$id.service.d/join.conf" <<EOT
# written by deploy/scale.sh: memory node $id added at run time
[Service]
ExecStart=
ExecStart=/usr/local/bin/flexchain-memory --config $own --id %i
EOT
	run systemctl daemon-reload
	run systemctl start "flexchain-memory@$id"
	if ! run "$cli" config update --config "$config" --add-memory "$id:$host:$port:$data_port${mp_field}"; then
		run systemctl stop "flexchain-memory@$id"
		die "config update --add-memory $id refused; $id stopped again"
	fi
	echo "scale: memory node $id is in the shard map"
}

remove_memory() {
	local inv
	run "$cli" config update --config "$config" --remove-memory "$1" ||
		die "config update --remove-memory $1 refused; $1 keeps running"
	inv=$([[ $dry = 1 ]] || systemctl show -p InvocationID --value "flexchain-memory@$1")
	run systemctl stop "flexchain-memory@$1"
	stopped_clean "flexchain-memory@$1" "$inv" || die "memory node $1 did not stop cleanly"
	echo "scale: memory node $1 left the shard map and stopped cleanly"
	run rm -rf "$dropin_root/flexchain-memory@$1.service.d" "/etc/flexchain/memory-$1.yaml"
	run systemctl daemon-reload
}

add_storage() {
	local id=$1 o mp_field=""
	[[ -n $port ]] || usage_error "add-storage needs --port"
	[[ $metrics_port = 0 ]] || mp_field=":$metrics_port"
	o=${org:-$(orgs | cut -d' ' -f1)}
	issue "$o" storage "$id"
	local extra=""
	[[ $metrics_port = 0 ]] || extra=" --metrics-port $metrics_port"
	write_file "$dropin_root/flexchain-storage@$id.service.d/join.conf" <<EOT
# written by deploy/scale.sh: storage replica $id added at run time
[Service]
ExecStart=
ExecStart=/usr/local/bin/flexchain-storage --config $config --id %i --host $host --port $port --data-dir /var/lib/flexchain/$id$extra
EOT
	run systemctl daemon-reload
	run systemctl start "flexchain-storage@$id"
	if ! run "$cli" config update --config "$config" --add-storage "$id:$host:$port${mp_field}"; then
		run systemctl stop "flexchain-storage@$id"
		die "config update --add-storage $id refused; $id stopped again"
	fi
	echo "scale: storage replica $id is a write target"
}

remove_storage() {
	run "$cli" config update --config "$config" --remove-storage "$1" ||
		die "config update --remove-storage $1 refused; $1 keeps running"
	local inv
	inv=$([[ $dry = 1 ]] || systemctl show -p InvocationID --value "flexchain-storage@$1")
	run systemctl stop "flexchain-storage@$1"
	stopped_clean "flexchain-storage@$1" "$inv" || die "storage replica $1 did not stop cleanly"
	run rm -rf "$dropin_root/flexchain-storage@$1.service.d"
	run systemctl daemon-reload
}

cmd=${1:-}
[[ -n $cmd ]] || { usage >&2; exit 2; }
shift
args=()
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	-c | --config) config=${2:?}; shift 2 ;;
	-o | --org) org=${2:?}; shift 2 ;;
	--host) host=${2:?}; shift 2 ;;
	--base-port) base_port=${2:?}; shift 2 ;;
	--port) port=${2:?}; shift 2 ;;
	--data-port) data_port=${2:?}; shift 2 ;;
	--metrics-port) metrics_port=${2:?}; shift 2 ;;
	-n | --dry-run) dry=1; shift ;;
	-*) usage_error "unknown option '$1'" ;;
	*) args+=("$1"); shift ;;
	esac
done
# the drop-ins name the configuration by its absolute path
[[ $config = /* ]] || config=$PWD/$config
case $cmd in
-h | --help) usage; exit 0 ;;
add-compute)
	[[ ${#args[@]} = 1 && ${args[0]} =~ ^[1-9][0-9]*$ ]] || usage_error "add-compute needs N"
	add_compute "${args[0]}" ;;
remove-compute)
	[[ ${#args[@]} -ge 1 ]] || usage_error "remove-compute needs N or ids"
	remove_compute "${args[@]}" ;;
add-memory)
	[[ ${#args[@]} = 1 ]] || usage_error "add-memory needs one ID"
	add_memory "${args[0]}" ;;
remove-memory)
	[[ ${#args[@]} = 1 ]] || usage_error "remove-memory needs one ID"
	remove_memory "${args[0]}" ;;
add-storage)
	[[ ${#args[@]} = 1 ]] || usage_error "add-storage needs one ID"
	add_storage "${args[0]}" ;;
remove-storage)
	[[ ${#args[@]} = 1 ]] || usage_error "remove-storage needs one ID"
	remove_storage "${args[0]}" ;;
*) usage_error "unknown command '$cmd'" ;;
esac
