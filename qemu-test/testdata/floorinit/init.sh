#!/bin/sh
# The floor for the end-to-end measurement (qemu-test/install_bench_test.go):
# the same install as osimage.Plan, done the shortest way a shell can do it.
# No inventory, no hwdb, no plan, no hash check, no safety; busybox plus
# Debian's curl, zstd, sfdisk and mkfs.vfat, and u-root's kexec. The kernel
# hands it floorurl= and floorhost= from its command line as environment
# variables. Not part of needle.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
set -o pipefail

fail() {
	echo "FLOOR FAILED: $*"
	sync
	poweroff -f
	sleep 60
}

mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "FLOOR start"

while read -r m; do
	insmod "/lib/modules/$(uname -r)/$m" || fail "insmod $m"
done </etc/floor-modules
echo "FLOOR modules"

i=0
while [ ! -e /sys/class/net/eth0 ] || [ ! -e /sys/block/vda ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "no eth0 or vda after 20 s"
	sleep 0.1
done
ip link set lo up
ip link set eth0 up
udhcpc -q -n -t 10 -i eth0 -s /etc/floor-dhcp >/dev/null || fail "no DHCP lease"
echo "FLOOR network"

printf 'label: gpt\nsize=64MiB, type=uefi, name=esp\ntype=4f68bce3-e8cd-4db1-96e7-fbcaf984b709, name=root\n' |
	sfdisk -q /dev/vda || fail "sfdisk /dev/vda"
i=0
while [ ! -b /dev/vda2 ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "no /dev/vda2 after the table was written"
	sleep 0.1
done
mkfs.vfat -F 32 -n ESP /dev/vda1 >/dev/null || fail "mkfs.vfat /dev/vda1"
echo "FLOOR disks"

curl -sf "$floorurl" | zstd -dc | dd of=/dev/vda2 bs=4M conv=fsync 2>/dev/null || fail "curl | zstd -dc | dd"
echo "FLOOR image"

mount -t ext4 /dev/vda2 /mnt || fail "mount /dev/vda2"
echo "$floorhost" >/mnt/etc/hostname
echo "installed by floor" >/mnt/etc/needle-marker
echo "FLOOR files"

kexec -l /mnt/boot/vmlinuz -i /mnt/boot/initrd.img -c "root=/dev/vda2 ro console=ttyS0 no_timer_check" >/dev/null || fail "kexec -l"
umount /mnt
sync
echo "FLOOR kexec"
kexec -e
fail "kexec -e returned"
