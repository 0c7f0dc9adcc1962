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

SKIP=77
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

skip() { echo "rxe: SKIPPED: this machine cannot run the soft-RoCE VM: $*"; exit $SKIP; }

qemu=$(command -v qemu-system-x86_64 || true)
[[ -n $qemu ]] || skip "qemu-system-x86_64 not installed (deploy/install-deps.sh --vm installs it)"
busybox=
for b in /bin/busybox /usr/bin/busybox; do
	if [[ -x $b ]] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
done
[[ -n $busybox ]] || skip "no statically linked busybox (package busybox-static)"
command -v python3 >/dev/null || skip "python3 missing (builds the initramfs)"
command -v modprobe >/dev/null || skip "modprobe missing (package kmod)"

# Newest installed distribution kernel that ships rdma_rxe.
kver=
for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -rV); do
	if [[ -r /boot/vmlinuz-$k ]] &&
	   ls /lib/modules/"$k"/kernel/drivers/infiniband/sw/rxe/rdma_rxe.ko* >/dev/null 2>&1; then
		kver=$k; break
	fi
done
[[ -n $kver ]] || skip "no readable /boot/vmlinuz-* with the rdma_rxe module (package linux-image-amd64)"

# ---- initramfs ----------------------------------------------------------
mkdir -p "$workdir"
root=$workdir/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,mnt/lower,mnt/rw,mnt/root}
cp "$busybox" "$root/bin/busybox"
# Modules in the order modprobe would load them (dependencies first);
# crc32_generic before rdma_rxe, or "rdma link add" fails with ENOENT.
modules="virtio_pci 9pnet_virtio 9p overlay dummy crc32_generic rdma_rxe ib_uverbs rdma_ucm"
: >"$root/modules.list"
declare -A seen=()
for m in $modules; do
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
		[[ $m == dummy ]] && args="numdummies=0"
		echo "$path $args" >>"$root/modules.list"
	done < <(modprobe -S "$kver" --show-depends "$m" 2>/dev/null)
done
grep -q rdma_rxe "$root/modules.list" || skip "modprobe cannot resolve rdma_rxe for $kver"
cp "$here/vm-init.sh" "$root/init"
chmod +x "$root/init"
python3 - "$root" "$workdir/initramfs.cpio" <<'EOF'
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
EOF

# ---- boot ---------------------------------------------------------------
log=$workdir/console.log
cmd="$prog $*"
echo "rxe: booting $kver under TCG to run: $cmd"
start=$(date +%s)
set +e
timeout --foreground 290 "$qemu" -accel tcg -m 1024 -smp 2 -display none -no-reboot \
	-nic none -monitor none -serial stdio \
	-kernel "/boot/vmlinuz-$kver" -initrd "$workdir/initramfs.cpio" \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 fc_guest=$here/vm-guest.sh fc_cmd=$(printf %s "$cmd" | base64 -w0)" \
	</dev/null 2>&1 | tr -d '\r' | tee "$log"
qrc=${PIPESTATUS[0]}
set -e
echo "rxe: VM finished in $(( $(date +%s) - start )) s (qemu status $qrc)"
res=$(sed -n 's/^FC_RXE_RESULT rc=\([0-9]*\).*/\1/p' "$log" | tail -1)
if [[ -z $res ]]; then
	echo "rxe: FAILED: the VM reported no result (see $log)"
	exit 1
fi
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
