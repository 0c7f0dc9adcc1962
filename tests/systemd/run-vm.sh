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

SKIP=77
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

skip() { echo "systemd-vm: SKIPPED: this machine cannot run the systemd VM: $*"; exit $SKIP; }

qemu=$(command -v qemu-system-x86_64 || true)
[[ -n $qemu ]] || skip "qemu-system-x86_64 not installed (deploy/install-deps.sh --vm installs it)"
busybox=
for b in /bin/busybox /usr/bin/busybox; do
	if [[ -x $b ]] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[[ -n $busybox ]] || skip "no statically linked busybox (package busybox-static)"
[[ -x /lib/systemd/systemd ]] || skip "no /lib/systemd/systemd (package systemd)"
command -v python3 >/dev/null || skip "python3 missing (builds the initramfs)"
command -v modprobe >/dev/null || skip "modprobe missing (package kmod)"
for b in flexchain flexchain-orderer flexchain-storage flexchain-memory flexchain-compute \
	flexchain-bench; do
	[[ -n $(find "$build" -maxdepth 3 -type f -name "$b" -perm -u+x 2>/dev/null) ]] ||
		{ echo "systemd-vm: FAILED: $b is not built in $build"; exit 1; }
done

# Newest installed distribution kernel with 9p and overlayfs modules.
kver=
for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -rV); do
	if [[ -r /boot/vmlinuz-$k ]] && modprobe -S "$k" --show-depends 9p >/dev/null 2>&1; then
		kver=$k; break
	fi
done
[[ -n $kver ]] || skip "no readable /boot/vmlinuz-* with the 9p module (package linux-image-amd64)"

# ---- initramfs ----------------------------------------------------------
mkdir -p "$workdir"
root=$workdir/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,mnt/lower,mnt/rw,mnt/root}
cp "$busybox" "$root/bin/busybox"
: >"$root/modules.list"
declare -A seen=()
for m in virtio_pci 9pnet_virtio 9p overlay; do
	while read -r cmd path args; do
		[[ $cmd == insmod && -z ${seen[$path]:-} ]] || continue
		seen[$path]=1
		dst=$root$path
		mkdir -p "$(dirname "$dst")"
		case $path in
		*.ko.xz) xz -dc "$path" >"${dst%.xz}"; path=${path%.xz} ;;
		*.ko.zst) zstd -qdc "$path" >"${dst%.zst}"; path=${path%.zst} ;;
		*) cp "$path" "$dst" ;;
		esac
		echo "$path $args" >>"$root/modules.list"
	done < <(modprobe -S "$kver" --show-depends "$m" 2>/dev/null)
done
grep -q /9p.ko "$root/modules.list" || skip "modprobe cannot resolve 9p for $kver"
cp "$here/vm-init.sh" "$root/init"
chmod +x "$root/init"
python3 - "$root" "$workdir/initramfs.cpio" <<'PY'
# Writes a newc cpio archive (what the kernel unpacks) of a directory.
import os, stat, sys
src, out = sys.argv[1], sys.argv[2]
ino = 1
def hdr(name, st, size):
    global ino
    ino += 1
    fields = [ino, st.st_mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name) + 1, 0]
    h = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    return h + b"\0" * ((4 - len(h) % 4) % 4)
entries = []
for d, dirs, files in os.walk(src):
    dirs.sort()
    entries += [os.path.join(d, n) for n in sorted(dirs) + sorted(files)]
with open(out, "wb") as f:
    for p in entries:
        st = os.lstat(p)
        data = b""
        if stat.S_ISREG(st.st_mode):
            data = open(p, "rb").read()
        elif stat.S_ISLNK(st.st_mode):
            data = os.readlink(p).encode()
        f.write(hdr(os.path.relpath(p, src), st, len(data)))
        f.write(data + b"\0" * ((4 - len(data) % 4) % 4))
    f.write(hdr("TRAILER!!!", os.lstat(src), 0))
PY

# ---- boot ---------------------------------------------------------------
log=$workdir/console.log
# FC_VM_DEBUG=1: systemd's boot status and kernel messages on the console.
kargs="quiet loglevel=3 systemd.show_status=0"
[[ -z ${FC_VM_DEBUG:-} ]] || kargs="loglevel=5 systemd.show_status=1"
echo "systemd-vm: booting $kver under TCG with systemd as init (limit ${limit} s)"
start=$(date +%s)
set +e
timeout --foreground "$limit" "$qemu" -accel tcg -m 3072 -smp 2 -display none -no-reboot \
	-nic none -monitor none -serial stdio \
	-kernel "/boot/vmlinuz-$kver" -initrd "$workdir/initramfs.cpio" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-append "console=ttyS0 panic=-1 $kargs fc_guest=$here/vm-guest.sh fc_src=$src fc_build=$build" \
	</dev/null 2>&1 | tr -d '\r' >"$log"
qrc=${PIPESTATUS[0]}
set -e
grep -E '^(vm[:|] |FC_SYSTEMD_)' "$log" || true
echo "systemd-vm: VM finished in $(( $(date +%s) - start )) s (qemu status $qrc)"
res=$(sed -n 's/^FC_SYSTEMD_RESULT rc=\([0-9]*\).*/\1/p' "$log" | tail -1)
if [[ -z $res ]]; then
	echo "systemd-vm: FAILED: the VM reported no result; the console's last lines ($log):"
	tail -n 40 "$log"
	exit 1
fi
echo "systemd-vm: guest status: $res"
exit "$res"
