#!/usr/bin/env bash
# Runs a test program against the rdma transport over real verbs: boots the
# distribution kernel in a NIC-less TCG VM, loads soft-RoCE (rdma_rxe) on a
# dummy netdev carrying 192.0.2.1/24, and runs the program there.
#
#   tests/rxe/run-vm.sh --workdir DIR -- PROGRAM [ARGS...]
#
# The VM sees the host's / read-only over 9p under a tmpfs overlay, so the
# program runs from its build directory unchanged. Nothing leaves the VM
# (-nic none). Build artefacts (initramfs) go to DIR, never to the source.
#
# Exit status: the program's own status from inside the VM; 77 when this
# machine cannot run the VM (no qemu, no kernel with rdma_rxe, no busybox),
# with the reason on stdout; 1 when the VM did not report a result.
# TCG only: with KVM this kernel hangs after "Booting from ROM" here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
workdir=
while [[ $# -gt 0 ]]; do
	case $1 in
	--workdir) workdir=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "usage: $0 --workdir DIR -- PROGRAM [ARGS...]" >&2; exit 2 ;;
	esac
done
[[ -n $workdir && $# -ge 1 ]] || { echo "usage: $0 --workdir DIR -- PROGRAM [ARGS...]" >&2; exit 2; }
prog=$(readlink -f "$1"); shift

vm_name=rxe
vm_what="the soft-RoCE VM"
. "$here/../vm_lib.sh"
vm_probe

# Newest installed distribution kernel that ships rdma_rxe.
has_rxe() { ls /lib/modules/"$1"/kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko* >/dev/null 2>&1; }
vm_kernel has_rxe "the rdma_rxe module"

# Modules in the order modprobe would load them (dependencies first);
# crc32_generic before rdma_rxe, or "rdma link add" fails with ENOENT.
vm_initramfs "$workdir" "$here/vm-init.sh" virtio_pci 9pnet_virtio 9p overlay dummy:numdummies=0 \
	crc32_generic rdma_rxe ib_uverbs rdma_ucm
grep -q rdma_rxe "$root/modules.list" || skip "modprobe cannot resolve rdma_rxe for $kver"

# ---- boot ---------------------------------------------------------------
cmd="$prog $*"
echo "rxe: booting $kver under TCG to run: $cmd"
vm_tee=1 vm_boot 290 1024 "$workdir/console.log" \
	"console=ttyS0 panic=-1 quiet loglevel=3 fc_guest=$here/vm-guest.sh fc_cmd=$(printf %s "$cmd" | base64 -w0)"
log=$vm_log
vm_result RXE
if ! grep -q '^FC_RXE_DEVICE ' "$log"; then
	echo "rxe: FAILED: no soft-RoCE device came up in the VM"
	exit 1
fi
if grep -q '^backend used: rdma' "$log"; then
	echo "rxe: rdma backend really used inside the VM: yes"
elif grep -q '^transport contract:' "$log"; then
	echo "rxe: FAILED: the contract suite did not run the rdma backend"
	exit 1
fi
echo "rxe: program status inside the VM: $res"
exit "$res"
