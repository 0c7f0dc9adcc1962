#!/bin/busybox sh
# /init of the soft-RoCE test VM (see run-vm.sh). Loads the modules, mounts
# the host's / read-only over 9p under a tmpfs overlay, chroots into it and
# runs vm-guest.sh from the source tree, then powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r path args; do
	insmod "$path" $args || echo "FC_RXE_WARN insmod $path failed"
done </modules.list
guest=
cmd=
for kv in $(cat /proc/cmdline); do
	case $kv in
	fc_guest=*) guest=${kv#fc_guest=} ;;
	fc_cmd=*) cmd=$(echo "${kv#fc_cmd=}" | base64 -d) ;;
	esac
done
if mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose hostroot /mnt/lower &&
   mount -t tmpfs -o size=512m tmpfs /mnt/rw &&
   mkdir -p /mnt/rw/upper /mnt/rw/work &&
   mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /mnt/root; then
	mount -t proc proc /mnt/root/proc
	mount -t sysfs sys /mnt/root/sys
	mount -t devtmpfs dev /mnt/root/dev
	mkdir -p /mnt/root/dev/pts /mnt/root/dev/shm
	mount -t tmpfs tmpfs /mnt/root/dev/shm
	mount -t tmpfs tmpfs /mnt/root/run
	chroot /mnt/root /bin/sh "$guest" "$cmd"
else
	echo "FC_RXE_RESULT rc=1 (could not mount the host filesystem)"
fi
sync
poweroff -f
