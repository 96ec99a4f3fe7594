#!/bin/sh
# Builds the fake sysfs trees of the coldplug test: the PCI functions of
# needle's QEMU stock-coldplug machine (q35 + e1000, virtio-net, virtio-blk,
# megasas-gen2, nvme, mptsas1068, qemu-xhci), modaliases as the 6.1 kernel
# prints them for those QEMU devices. sysfs/ is present at boot; hotplug/M/
# holds the devices that appear once module M is loaded (virtio_pci reveals
# the virtio devices, xhci_pci the USB stick). Rerun after editing.
set -eu
cd "$(dirname "$0")"
rm -rf sysfs hotplug

dev() { # tree path subsystem modalias
	mkdir -p "$1/$2"
	printf '%s\n' "$4" >"$1/$2/modalias"
	mkdir -p "$1/bus/$3/devices"
	rel=$(echo "$2" | sed 's|[^/]*|..|g')
	ln -sfn "$rel/bus/$3" "$1/$2/subsystem"
	ln -sfn "../../../$2" "$1/bus/$3/devices/$(basename "$2")"
}

S=sysfs
P=devices/pci0000:00
dev $S $P/0000:00:00.0 pci pci:v00008086d000029C0sv00001AF4sd00001100bc06sc00i00
dev $S $P/0000:00:01.0 pci pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00
dev $S $P/0000:00:02.0 pci pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00
dev $S $P/0000:00:03.0 pci pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00
dev $S $P/0000:00:04.0 pci pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00
dev $S $P/0000:00:05.0 pci pci:v00001000d00000079sv00001000sd00009261bc01sc04i00
dev $S $P/0000:00:06.0 pci pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02
dev $S $P/0000:00:07.0 pci pci:v00001000d00000054sv00000000sd00000000bc01sc00i00
dev $S $P/0000:00:08.0 pci pci:v00001B36d0000000Dsv00001AF4sd00001100bc0Csc03i30
dev $S $P/0000:00:1f.2 pci pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01
dev $S devices/platform/rtc_cmos platform platform:rtc_cmos
dev $S devices/LNXSYSTM:00/LNXSYBUS:00/PNP0A08:00 acpi acpi:PNP0A08:PNP0A03:

H=hotplug/virtio_pci
dev $H $P/0000:00:03.0/virtio0 virtio virtio:d00000001v00001AF4
dev $H $P/0000:00:04.0/virtio1 virtio virtio:d00000002v00001AF4
H=hotplug/xhci_pci
dev $H $P/0000:00:08.0/usb1/1-1/1-1:1.0 usb usb:v46F4p0001d0000dc00dsc00dp00ic08isc06ip50in00
