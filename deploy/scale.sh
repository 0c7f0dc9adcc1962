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
                last on this host, or the IDs given: SIGTERM makes each one
                drain (no new requests, finish those held and the blocks it
                validates, deregister) and systemctl waits for its exit.
add-memory ID   flexchain crypto issue --kind memory, the node's own
                configuration /etc/flexchain/memory-ID.yaml (the cluster's
                plus this node) and a drop-in pointing the unit at it,
                systemctl start flexchain-memory@ID, then the config
                transaction: flexchain config update --add-memory
                ID:HOST:PORT:DATA_PORT (stops the node again if refused).
remove-memory   flexchain config update --remove-memory ID, then
                systemctl stop flexchain-memory@ID and removes its drop-in.

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

orgs() {
	python3 -c 'import sys, yaml
print(" ".join(o["name"] for o in yaml.safe_load(open(sys.argv[1]))["organisations"]))' "$config"
}

port_free() { ! ss -Htln 2>/dev/null | awk '{print $4}' | grep -q ":$1\$"; }

# running KIND: ids of the running units of a pool, oldest first
running() {
	systemctl list-units "flexchain-$1@*" --state=active --plain --no-legend 2>/dev/null |
		awk '{print $1}' | sed "s/^flexchain-$1@//; s/\.service\$//"
}

add_compute() {
	local n=$1 i k=0 id o p=$base_port list
	read -r -a list <<<"${org:-$(orgs)}"
	for ((i = 0; i < n; i++)); do
		o=${list[i % ${#list[@]}]}
		while id=compute-${host//[^A-Za-z0-9]/-}-$k &&
			[[ -e $dropin_root/flexchain-compute@$id.service.d ]]; do k=$((k + 1)); done
		while ! port_free "$p"; do p=$((p + 1)); done
		run "$cli" crypto issue --config "$config" --org "$o" --kind compute --id "$id" --host "$host"
		write_file "$dropin_root/flexchain-compute@$id.service.d/join.conf" <<EOT
# written by deploy/scale.sh: compute server $id joins at run time
[Service]
ExecStart=
ExecStart=/usr/local/bin/flexchain-compute --config $config --id %i --org $o --host $host --port $p
EOT
		run systemctl daemon-reload
		run systemctl start "flexchain-compute@$id"
		echo "scale: compute $id of $o serves on $host:$p"
		p=$((p + 1))
		k=$((k + 1))
	done
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
	for id in "${ids[@]}"; do
		echo "scale: draining compute $id"
		run systemctl stop "flexchain-compute@$id"
		run rm -rf "$dropin_root/flexchain-compute@$id.service.d"
	done
	run systemctl daemon-reload
}

add_memory() {
	local id=$1 o own=/etc/flexchain/memory-$1.yaml
	[[ -n $port && -n $data_port ]] || usage_error "add-memory needs --port and --data-port"
	o=${org:-$(orgs | cut -d' ' -f1)}
	run "$cli" crypto issue --config "$config" --org "$o" --kind memory --id "$id" --host "$host"
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
	if ! run "$cli" config update --config "$config" --add-memory "$id:$host:$port:$data_port"; then
		run systemctl stop "flexchain-memory@$id"
		die "config update --add-memory $id refused; $id stopped again"
	fi
	echo "scale: memory node $id is in the shard map"
}

remove_memory() {
	run "$cli" config update --config "$config" --remove-memory "$1" ||
		die "config update --remove-memory $1 refused; $1 keeps running"
	run systemctl stop "flexchain-memory@$1"
	run rm -rf "$dropin_root/flexchain-memory@$1.service.d" "/etc/flexchain/memory-$1.yaml"
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
*) usage_error "unknown command '$cmd'" ;;
esac
