#!/usr/bin/env bash
# Boots the distribution kernel in a NIC-less TCG VM with systemd as PID 1 and
# runs tests/systemd/vm-guest.sh there as a service: the flexchain units of
# deploy/systemd installed by deploy/install.sh from the build tree, started,
# scaled and stopped by systemctl and deploy/scale.sh.
#
#   tests/systemd/run-vm.sh --workdir DIR --src SRC --build BUILD [--timeout SEC]
#
# The VM sees the host's / read-only over 9p under a tmpfs overlay (as in
# tests/rxe/run-vm.sh); vm-init.sh configures systemd in the overlay and
# exec's /lib/systemd/systemd. Nothing leaves the VM (-nic none). The whole
# console goes to DIR/console.log; the guest's own lines ("vm: ...") to stdout.
#
# Exit status: the guest's status; 77 when this machine cannot run the VM (no
# qemu, kernel, busybox or systemd), with the reason on stdout; 1 when the VM
# did not report a result.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
workdir= src= build= limit=280
usage() { echo "usage: $0 --workdir DIR --src SRC --build BUILD [--timeout SEC]" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
	case $1 in
	--workdir) workdir=$2; shift 2 ;;
	--src) src=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--timeout) limit=$2; shift 2 ;;
	*) usage ;;
	esac
done
[[ -n $workdir && -n $src && -n $build ]] || usage
src=$(readlink -f "$src")
build=$(readlink -f "$build")

vm_name=systemd-vm
vm_what="the systemd VM"
. "$here/../vm_lib.sh"
vm_probe
[[ -x /lib/systemd/systemd ]] || skip "no /lib/systemd/systemd (package systemd)"
for b in flexchain flexchain-orderer flexchain-storage flexchain-memory flexchain-compute \
	flexchain-bench; do
	[[ -n $(find "$build" -maxdepth 3 -type f -name "$b" -perm -u+x 2>/dev/null) ]] ||
		{ echo "systemd-vm: FAILED: $b is not built in $build"; exit 1; }
done

# Newest installed distribution kernel with 9p and overlayfs modules.
has_9p() { modprobe -S "$1" --show-depends 9p >/dev/null 2>&1; }
vm_kernel has_9p "the 9p module"

vm_initramfs "$workdir" "$here/vm-init.sh" virtio_pci 9pnet_virtio 9p overlay
grep -q /9p.ko "$root/modules.list" || skip "modprobe cannot resolve 9p for $kver"

# ---- boot ---------------------------------------------------------------
# FC_VM_DEBUG=1: systemd's boot status and kernel messages on the console.
kargs="quiet loglevel=3 systemd.show_status=0"
[[ -z ${FC_VM_DEBUG:-} ]] || kargs="loglevel=5 systemd.show_status=1"
echo "systemd-vm: booting $kver under TCG with systemd as init (limit ${limit} s)"
vm_boot "$limit" 3072 "$workdir/console.log" \
	"console=ttyS0 panic=-1 $kargs fc_guest=$here/vm-guest.sh fc_src=$src fc_build=$build"
grep -E '^(vm[:|] |FC_SYSTEMD_)' "$vm_log" || true
vm_result SYSTEMD
echo "systemd-vm: guest status: $res"
exit "$res"
