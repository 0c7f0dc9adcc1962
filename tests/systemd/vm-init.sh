#!/bin/busybox sh
# /init of the systemd test VM (see run-vm.sh). Loads the modules, mounts the
# host's / read-only over 9p under a tmpfs overlay, turns that tree into a
# minimal systemd host (a boot target that runs vm-guest.sh as a service,
# masks for what cannot work or is not needed in a NIC-less VM, a volatile
# journal), then hands PID 1 to /lib/systemd/systemd.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
fail() {
	echo "FC_SYSTEMD_RESULT rc=1 ($*)"
	sync
	poweroff -f
}
while read -r path args; do
	insmod "$path" $args || echo "FC_SYSTEMD_WARN insmod $path failed"
done </modules.list
guest=
src=
build=
for kv in $(cat /proc/cmdline); do
	case $kv in
	fc_guest=*) guest=${kv#fc_guest=} ;;
	fc_src=*) src=${kv#fc_src=} ;;
	fc_build=*) build=${kv#fc_build=} ;;
	esac
done
r=/mnt/root
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot /mnt/lower &&
	mount -t tmpfs -o size=1536m,mode=0755 tmpfs /mnt/rw &&
	mkdir -p /mnt/rw/upper /mnt/rw/work &&
	mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work $r ||
	fail "could not mount the host filesystem"
[ -x $r/lib/systemd/systemd ] || fail "no /lib/systemd/systemd in the host filesystem"

# ---- the guest's systemd configuration (in the tmpfs upper layer only) ----
u=$r/etc/systemd/system
mkdir -p $u $r/etc/systemd/journald.conf.d $r/etc/systemd/system.conf.d
# The host's wants (timers, getty, databases, ...) are not this VM's.
rm -rf $u/*.wants $u/*.requires
# Nothing to do without hardware, network or persistent storage; each would
# only cost boot time under TCG.
for m in apparmor.service systemd-pstore.service systemd-timesyncd.service \
	systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
	systemd-udev-trigger.service systemd-udev-settle.service systemd-hwdb-update.service \
	ldconfig.service systemd-journal-catalog-update.service systemd-update-done.service \
	systemd-random-seed.service systemd-machine-id-commit.service systemd-firstboot.service \
	systemd-sysusers.service systemd-modules-load.service systemd-binfmt.service \
	proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount \
	sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
	sys-fs-fuse-connections.mount dev-hugepages.mount kmod-static-nodes.service \
	systemd-journal-flush.service systemd-remount-fs.service systemd-repart.service \
	systemd-fsck-root.service systemd-networkd.service systemd-networkd-wait-online.service \
	networking.service ifupdown-pre.service systemd-resolved.service \
	getty.target serial-getty@ttyS0.service getty@tty1.service console-getty.service \
	systemd-logind.service dbus.service dbus.socket cron.service e2scrub_reap.service \
	systemd-ask-password-console.path systemd-ask-password-wall.path \
	systemd-boot-system-token.service systemd-pcrphase-sysinit.service \
	systemd-pcrphase.service systemd-tpm2-setup-early.service \
	systemd-tmpfiles-clean.timer systemd-tmpfiles-setup.service tmp.mount; do
	ln -sf /dev/null $u/$m
done
cat >$r/etc/systemd/journald.conf.d/fc-vm.conf <<EOT
[Journal]
Storage=volatile
RuntimeMaxUse=64M
EOT
cat >$r/etc/systemd/system.conf.d/fc-vm.conf <<EOT
[Manager]
ShowStatus=no
DefaultTimeoutStartSec=240s
EOT
cat >$u/fc-test.target <<EOT
[Unit]
Description=flexchain systemd test boot
Requires=basic.target
Wants=fc-test.service
After=basic.target
AllowIsolate=yes
EOT
cat >$u/fc-test.service <<EOT
[Unit]
Description=flexchain systemd test (tests/systemd/vm-guest.sh)
After=basic.target
# Only a reference: keeps flexchain.target, and through its Wants= the units
# it starts, loaded after they stop, so that their Result and exit status can
# be read (systemd unloads an inactive unit nothing refers to).
After=flexchain.target
SuccessAction=poweroff-force
FailureAction=poweroff-force
[Service]
Type=oneshot
Environment=FC_SRC=$src FC_BUILD=$build
Environment=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ExecStart=/bin/bash $guest
StandardInput=null
StandardOutput=tty
StandardError=tty
TTYPath=/dev/ttyS0
TTYReset=no
TTYVHangup=no
TimeoutStartSec=infinity
EOT
: >$r/etc/fstab
ln -sf fc-test.target $u/default.target
# The host may be a container; the VM is not (systemd would read neither the
# kernel command line nor set up the machine as a VM host).
rm -f $r/.dockerenv $r/run/.containerenv

# The host's /tmp is not the VM's (systemd-tmpfiles would empty it over 9p),
# except the source and build trees when they live there: those stay
# visible (through the overlay) at their own paths.
n=0
kept=
for d in $src $build; do
	case $d in /tmp/* | /var/tmp/*) ;; *) continue ;; esac
	skip=0
	for k in $kept; do
		case $d/ in "$k"/*) skip=1 ;; esac
	done
	[ $skip = 0 ] || continue
	n=$((n + 1))
	mkdir -p /mnt/keep$n
	mount --bind "$r$d" /mnt/keep$n || fail "could not keep $d"
	kept="$kept $d"
done
mount -t tmpfs -o mode=1777 tmpfs $r/tmp
mount -t tmpfs -o mode=1777 tmpfs $r/var/tmp
n=0
for d in $kept; do
	n=$((n + 1))
	mkdir -p "$r$d"
	mount --move /mnt/keep$n "$r$d" || fail "could not keep $d"
done
umount /proc /sys
mount --move /dev $r/dev
exec switch_root $r /lib/systemd/systemd
