#!/bin/sh
# configure.sh runs inside the debootstrapped tree (chroot, /proc mounted)
# after osimage has copied its files in. It turns a bare bookworm minbase
# into the image needle installs: serial login, the marker unit, an initrd
# that boots on any of needle's disk layouts, and kernel links in /boot
# where needle's handoff looks.
set -eu
export LC_ALL=C DEBIAN_FRONTEND=noninteractive PATH=/usr/sbin:/usr/bin:/sbin:/bin

# needle's plan writes the real hostname; the image says "debian".
echo debian >/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' >/etc/hosts

chmod 0755 /usr/local/sbin/needle-marker
systemctl enable needle-marker.service serial-getty@ttyS0.service
# The login prompt must appear and the tests must be able to log in:
# root has an empty password (pam_unix is configured with nullok).
passwd -d root

# One kernel is installed; find its version from the modules tree.
kver=$(ls /lib/modules)
case "$kver" in
*[[:space:]]*|"") echo "configure.sh: expected exactly one kernel in /lib/modules, found: $kver" >&2; exit 1 ;;
esac
# The installed initrd was built with the defaults (MODULES=dep guesses from
# the build host); rebuild it with MODULES=most and the mdadm hook.
update-initramfs -d -k "$kver" >/dev/null 2>&1 || true
update-initramfs -c -k "$kver"
# Debian's links live at / (link_in_boot=no); needle's handoff reads
# /boot/vmlinuz and /boot/initrd.img. Relative, so they resolve wherever
# the filesystem is mounted.
ln -sfn "vmlinuz-$kver" /boot/vmlinuz
ln -sfn "initrd.img-$kver" /boot/initrd.img
ln -sfn "boot/vmlinuz-$kver" /vmlinuz
ln -sfn "boot/initrd.img-$kver" /initrd.img
echo "$kver" >/etc/needle-image-kernel

# Every installed machine gets its own machine-id at first boot.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
# Nothing of the build host stays in the image.
rm -f /etc/resolv.conf /etc/ssh/ssh_host_* 
apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /var/cache/debconf/*-old /tmp/* /var/tmp/*
