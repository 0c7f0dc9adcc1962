# vm_lib.sh - sourced (bash) by tests/systemd/run-vm.sh and tests/rxe/run-vm.sh:
# what both need to boot the distribution kernel in a NIC-less TCG VM that
# sees the host's / read-only over 9p. Before sourcing set vm_name (the
# prefix of every message, e.g. "rxe") and vm_what (what cannot run, e.g.
# "the soft-RoCE VM"). Provides:
#   SKIP                77, the exit status of a machine that cannot run the VM
#   skip REASON         prints "NAME: SKIPPED: this machine cannot run WHAT:
#                       REASON" and exits $SKIP
#   vm_probe            sets $qemu and $busybox (statically linked), or skips;
#                       skips without python3 or modprobe as well
#   vm_kernel TEST DESC sets $kver: the newest /boot/vmlinuz-* that is
#                       readable and for which the command `TEST KVER`
#                       succeeds; skips ("no readable /boot/vmlinuz-* with
#                       DESC") when there is none
#   vm_initramfs WORKDIR INIT MODULE[:ARGS]...
#                       writes WORKDIR/initramfs.cpio (newc): busybox as
#                       /bin/busybox, INIT as /init, and each MODULE of $kver
#                       with its dependencies in load order (decompressed),
#                       listed "PATH ARGS" in /modules.list (ARGS, if given,
#                       replace modprobe's). Sets $root (the tree the archive
#                       was made from, WORKDIR/initramfs), for the caller to
#                       check $root/modules.list
#   vm_boot LIMIT MEMORY_MB LOG APPEND
#                       runs qemu (TCG, 2 CPUs, -nic none, console on the
#                       serial port, the host's / over 9p as "hostroot") on
#                       $kver and WORKDIR/initramfs.cpio with kernel command
#                       line APPEND, killed after LIMIT s; the console goes to
#                       LOG (and to stdout too with vm_tee=1). Then prints
#                       how long it took and sets $qrc to qemu's status
#   vm_result TAG       sets $res to the status NNN of the last
#                       "FC_TAG_RESULT rc=NNN" line of LOG; without one,
#                       prints the console's last lines and exits 1
# Everything is written under WORKDIR; nothing here removes files elsewhere.

SKIP=77

skip() { echo "$vm_name: SKIPPED: this machine cannot run $vm_what: $*"; exit $SKIP; }

vm_probe() {
	qemu=$(command -v qemu-system-x86_64 || true)
	[[ -n $qemu ]] || skip "qemu-system-x86_64 not installed (deploy/install-deps.sh --vm installs it)"
	busybox=
	for b in /bin/busybox /usr/bin/busybox; do
		if [[ -x $b ]] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi
	done
	[[ -n $busybox ]] || skip "no statically linked busybox (package busybox-static)"
	command -v python3 >/dev/null || skip "python3 missing (builds the initramfs)"
	command -v modprobe >/dev/null || skip "modprobe missing (package kmod)"
}

vm_kernel() {
	kver=
	for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -rV); do
		if [[ -r /boot/vmlinuz-$k ]] && "$1" "$k"; then
			kver=$k; break
		fi
	done
	[[ -n $kver ]] || skip "no readable /boot/vmlinuz-* with $2 (package linux-image-amd64)"
}

vm_initramfs() {
	vm_workdir=$1
	local init=$2 spec m margs cmd path args dst
	shift 2
	mkdir -p "$vm_workdir"
	root=$vm_workdir/initramfs
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,mnt/lower,mnt/rw,mnt/root}
	cp "$busybox" "$root/bin/busybox"
	: >"$root/modules.list"
	local -A seen=()
	for spec in "$@"; do
		m=${spec%%:*}
		margs=
		[[ $spec == *:* ]] && margs=${spec#*:}
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
			[[ -z $margs ]] || args=$margs
			echo "$path $args" >>"$root/modules.list"
		done < <(modprobe -S "$kver" --show-depends "$m" 2>/dev/null)
	done
	cp "$init" "$root/init"
	chmod +x "$root/init"
	python3 - "$root" "$vm_workdir/initramfs.cpio" <<'PY'
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
}

vm_boot() {
	local limit=$1 memory=$2 start
	vm_log=$3
	start=$(date +%s)
	set +e
	timeout --foreground "$limit" "$qemu" -accel tcg -m "$memory" -smp 2 -display none -no-reboot \
		-nic none -monitor none -serial stdio \
		-kernel "/boot/vmlinuz-$kver" -initrd "$vm_workdir/initramfs.cpio" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-append "$4" </dev/null 2>&1 | tr -d '\r' | if [[ ${vm_tee:-0} == 1 ]]; then tee "$vm_log"; else cat >"$vm_log"; fi
	qrc=${PIPESTATUS[0]}
	set -e
	echo "$vm_name: VM finished in $(( $(date +%s) - start )) s (qemu status $qrc)"
}

vm_result() {
	res=$(sed -n "s/^FC_$1_RESULT rc=\\([0-9]*\\).*/\\1/p" "$vm_log" | tail -1)
	if [[ -z $res ]]; then
		echo "$vm_name: FAILED: the VM reported no result; the console's last lines ($vm_log):"
		tail -n 40 "$vm_log"
		exit 1
	fi
}
