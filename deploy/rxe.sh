#!/usr/bin/env bash
# Soft-RoCE (rdma_rxe) on an Ethernet interface, for machines without an
# RDMA NIC: the `rdma` transport then runs over ordinary Ethernet.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: deploy/rxe.sh up IFACE      bind soft-RoCE to IFACE as rxe_IFACE (idempotent)
       deploy/rxe.sh down IFACE    remove rxe_IFACE
       deploy/rxe.sh status        list RDMA links and devices with their GIDs
       deploy/rxe.sh -h|--help

`up` checks that the kernel has the rdma_rxe module, loads crc32_generic
(without it `rdma link add` fails with "No such file or directory") and
rdma_rxe, adds the link unless IFACE already has one, and shows the device
and its GIDs. Needs root for up and down, and the rdma-core / ibverbs-utils
tools (`bash deploy/install-deps.sh --vm`).

Notes: rdma_cm cannot use 127.0.0.1; bind rxe to an interface with a real
address (a dummy interface carrying e.g. 192.0.2.1/24 works on a laptop) and
put that address in the cluster configuration's host fields.

Exit status: 0 done, 1 failure (e.g. no rdma_rxe in this kernel), 2 bad usage.
EOF
}

die() { echo "rxe.sh: $*" >&2; exit 1; }

need_tool() {
	command -v "$1" >/dev/null || die "'$1' not found; install $2 (deploy/install-deps.sh --vm)"
}

# The rxe device bound to netdev $1, if any (from `rdma link`:
# "link rxe_eth0/1 state ACTIVE physical_state LINK_UP netdev eth0").
rxe_of() {
	rdma link show 2>/dev/null | awk -v nd="$1" '
		{ for (i = 1; i < NF; i++) if ($i == "netdev" && $(i + 1) == nd) { split($2, a, "/"); print a[1]; exit } }' || true
}

show_dev() {
	local dev=$1 d
	rdma link show "$dev/1" 2>/dev/null || rdma link show 2>/dev/null | grep -F "$dev/" || true
	d=/sys/class/infiniband/$dev
	if [[ -d $d/ports/1/gids ]]; then
		local i g t
		for i in $(ls "$d/ports/1/gids" | sort -n); do
			g=$(cat "$d/ports/1/gids/$i" 2>/dev/null) || continue
			[[ $g = 0000:0000:0000:0000:0000:0000:0000:0000 ]] && continue
			t=$(cat "$d/ports/1/gid_attrs/types/$i" 2>/dev/null || echo "?")
			echo "  gid[$i] $g ($t)"
		done
	fi
	if command -v ibv_devinfo >/dev/null; then
		ibv_devinfo -d "$dev" 2>/dev/null | grep -E 'hca_id|state|active_mtu|link_layer' || true
	fi
}

cmd_up() {
	local iface=$1 dev
	[[ -e /sys/class/net/$iface ]] || die "no network interface '$iface' (see: ip link)"
	if ! modinfo rdma_rxe >/dev/null 2>&1; then
		die "this kernel has no rdma_rxe module: $(uname -r) was built without" \
			"CONFIG_RDMA_RXE or its modules package is missing (Debian's" \
			"linux-image-amd64 has it); soft-RoCE cannot run here, use transport: tcp"
	fi
	need_tool rdma iproute2
	[[ $(id -u) -eq 0 ]] || die "'up' needs root (modprobe, rdma link add)"
	# rdma_rxe needs crc32_generic first; built in on some kernels.
	modprobe crc32_generic 2>/dev/null || true
	modprobe rdma_rxe || die "modprobe rdma_rxe failed"
	dev=$(rxe_of "$iface")
	if [[ -n $dev ]]; then
		echo "rxe: $iface already has $dev"
	else
		dev=rxe_$iface
		rdma link add "$dev" type rxe netdev "$iface" ||
			die "rdma link add $dev type rxe netdev $iface failed"
		echo "rxe: added $dev on $iface"
	fi
	show_dev "$dev"
}

cmd_down() {
	local iface=$1 dev
	need_tool rdma iproute2
	dev=$(rxe_of "$iface")
	if [[ -z $dev ]]; then
		echo "rxe: $iface has no rxe device; nothing to do"
		return 0
	fi
	[[ $(id -u) -eq 0 ]] || die "'down' needs root (rdma link delete)"
	rdma link delete "$dev" || die "rdma link delete $dev failed"
	echo "rxe: removed $dev from $iface"
}

cmd_status() {
	local n=0 d
	if ! modinfo rdma_rxe >/dev/null 2>&1; then
		echo "rxe: this kernel has no rdma_rxe module ($(uname -r))"
	elif [[ -d /sys/module/rdma_rxe ]]; then
		echo "rxe: rdma_rxe loaded"
	else
		echo "rxe: rdma_rxe available, not loaded (rxe.sh up IFACE loads it)"
	fi
	for d in /sys/class/infiniband/*; do
		[[ -e $d ]] || continue
		n=$((n + 1))
		echo "device $(basename "$d")"
		show_dev "$(basename "$d")"
	done
	[[ $n -gt 0 ]] || echo "rxe: no RDMA device"
}

case ${1:-} in
-h | --help) usage; exit 0 ;;
up | down)
	[[ $# -eq 2 ]] || { echo "rxe.sh: $1 needs exactly one IFACE (see --help)" >&2; exit 2; }
	"cmd_$1" "$2" ;;
status)
	[[ $# -eq 1 ]] || { echo "rxe.sh: status takes no argument" >&2; exit 2; }
	cmd_status ;;
"") usage >&2; exit 2 ;;
*) echo "rxe.sh: unknown command '$1' (see --help)" >&2; exit 2 ;;
esac
