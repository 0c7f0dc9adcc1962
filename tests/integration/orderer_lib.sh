# orderer_lib.sh - sourced, after cluster_lib.sh, by the orderer integration
# tests (orderer_raft, orderer_decide, orderer_outvote, orderer_config).
# Before sourcing, set fc (flexchain), ord (flexchain-orderer), cli (the
# orderer client) and, to start replicas, stor (flexchain-storage).
# Sourcing picks the ports ($base). Provides:
#   $cfg               $tmp/cluster.yaml
#   orderer_yaml NAME [OPTIONS]
#                      writes $cfg and generates its crypto material:
#                      organisations Org1 and Org2, orderer0..2 (Org1, Org2,
#                      Org1) on base+0..5, then the storage replicas and the
#                      compute servers on the next ports, data under
#                      $tmp/data. Options: --storage N (replicas, default 1),
#                      --quorum Q (storage write quorum), --compute N
#                      (stand-in compute servers, with a validation section:
#                      committee of 3 and heartbeat 200 ms), --validation-ms T
#                      (committee timeout, default 5000), --max-txs N (block
#                      cutting, default 40), --policy RULE (policy "any",
#                      the default)
#   start_storage ID   starts a replica, its pid in $pid_ID, log $tmp/ID.log
#   start_orderer ID [ARGS]
#                      starts an orderer (appending to $tmp/ID.log, so that
#                      a restart keeps the log), its pid in $pid_ID
#   wait_leader        sets $leader, or fails after 30 s
#   start_compute ID [ARGS]
#                      a stand-in compute server (orderer client `compute`),
#                      its pid in $pid_ID, output $tmp/ID.out, log $tmp/ID.log
#   wait_computes N    until N stand-ins registered (bounded), else fail
#   survivors          "orderer0,orderer1,orderer2" without $leader

cfg=$tmp/cluster.yaml
pick_base

orderer_yaml() {
	oy_name=$1
	shift
	oy_storage=1 oy_quorum="" oy_compute=0 oy_vms=5000 oy_max=40 oy_policy=""
	while [ $# -gt 0 ]; do
		case $1 in
		--storage) oy_storage=$2 ;;
		--quorum) oy_quorum=$2 ;;
		--compute) oy_compute=$2 ;;
		--validation-ms) oy_vms=$2 ;;
		--max-txs) oy_max=$2 ;;
		--policy) oy_policy=$2 ;;
		*) fail "orderer_yaml: unknown option $1" ;;
		esac
		shift 2
	done
	{
		echo "cluster: $oy_name"
		echo "crypto_dir: ./crypto"
		echo "organisations:"
		echo "  - name: Org1"
		echo "  - name: Org2"
		if [ -n "$oy_policy" ]; then
			echo "policies:"
			echo "  - { name: any, rule: \"$oy_policy\" }"
			echo "default_policy: any"
		fi
		echo "orderers:"
		for i in 0 1 2; do
			echo "  - { id: orderer$i, org: Org$((i % 2 + 1)), host: 127.0.0.1, port: $((base + 2 * i)), raft_port: $((base + 2 * i + 1)), data_dir: $tmp/data/orderer$i }"
		done
		echo "storage:"
		[ -z "$oy_quorum" ] || echo "  write_quorum: $oy_quorum"
		echo "  replicas:"
		port=$((base + 6))
		i=0
		while [ $i -lt "$oy_storage" ]; do
			echo "    - { id: storage$i, org: Org$((i % 2 + 1)), host: 127.0.0.1, port: $port, data_dir: $tmp/data/storage$i }"
			port=$((port + 1))
			i=$((i + 1))
		done
		if [ "$oy_compute" -gt 0 ]; then
			echo "compute:"
			i=0
			while [ $i -lt "$oy_compute" ]; do
				echo "  - { id: compute$i, org: Org$((i % 2 + 1)), host: 127.0.0.1, port: $port }"
				port=$((port + 1))
				i=$((i + 1))
			done
		fi
		echo "block_cutting:"
		echo "  max_txs: $oy_max"
		echo "  max_bytes: 1048576"
		echo "  timeout_ms: 50"
		if [ "$oy_compute" -gt 0 ]; then
			echo "validation:"
			echo "  committee_size: 3"
			echo "  timeout_ms: $oy_vms"
			echo "network:"
			echo "  heartbeat_ms: 200"
		fi
	} >"$cfg"
	"$fc" crypto generate --config "$cfg" >/dev/null || fail "crypto generate"
}

start_storage() {
	"$stor" --config "$cfg" --id "$1" >"$tmp/$1.log" 2>&1 &
	eval "pid_$1=$!"
	pids="$pids $!"
}

start_orderer() {
	so_id=$1
	shift
	"$ord" --config "$cfg" --id "$so_id" "$@" >>"$tmp/$so_id.log" 2>&1 &
	eval "pid_$so_id=$!"
	pids="$pids $!"
}

wait_leader() {
	leader=$(timeout 30 "$cli" leader --config "$cfg") || fail "no leader elected"
}

start_compute() {
	sc_id=$1
	shift
	"$cli" compute --config "$cfg" --id "$sc_id" "$@" >"$tmp/$sc_id.out" 2>"$tmp/$sc_id.log" &
	eval "pid_$sc_id=$!"
	pids="$pids $!"
}

wait_computes() {
	n=0
	while [ "$(cat "$tmp"/compute*.log | grep -c registered)" -lt "$1" ] && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	[ "$(cat "$tmp"/compute*.log | grep -c registered)" -ge "$1" ] || fail "computes not registered"
}

survivors() {
	sv=""
	for i in 0 1 2; do
		[ "orderer$i" = "$leader" ] || sv="$sv${sv:+,}orderer$i"
	done
	echo "$sv"
}
