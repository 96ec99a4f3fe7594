package raid

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/needle-boot/needle/internal/inventory"
)

// VolumeDisk finds the OS block device of a RAID volume behind the
// controller at PCI address ctrlPCI, so the plan's "raid_volume: NAME"
// disk can be resolved once the volume exists. Heuristics, in order:
//
//  1. The disk hangs off the controller's PCI function (Disk.PCIAddr).
//  2. Its size is the volume's within SizeTolerance: sas2ircu prints MiB
//     exactly, storcli rounds to three decimals of GB/TB, the kernel sees
//     the exact capacity.
//  3. With several such disks: a disk whose SCSI model is the volume name
//     (aacraid containers report it; MegaRAID and LSI IR do not); then for
//     megaraid_sas, the SCSI address: logical drives sit on channels 2 and
//     3, target (channel-2)*128+id = the VD number (MEGASAS_TARGET_ID,
//     megaraid_sas.h), so "/c0/v1" is h:2:1:0; then for mpt2sas/mpt3sas,
//     IR volumes sit on RAID_CHANNEL 1 (mpt3sas_scsih.c), bare disks on 0.
//
// Limits: two volumes of equal size on one controller are told apart only
// by these SCSI addresses (mpt*sas IR volume targets are assigned by the
// driver, not the volume ID, so two equal IR volumes stay ambiguous and
// are an error); a controller exposing its member disks as well (JBOD
// mode, QEMU's megasas which shows every disk as a logical drive) needs
// sizes that differ. A match of zero or several disks is an error listing
// the candidates: needle never guesses which disk to erase.
func VolumeDisk(inv *inventory.Inventory, ctrlPCI string, vol Volume) (inventory.Disk, error) {
	var on []inventory.Disk
	for _, d := range inv.Disks {
		if strings.EqualFold(d.PCIAddr, ctrlPCI) {
			on = append(on, d)
		}
	}
	if len(on) == 0 {
		return inventory.Disk{}, fmt.Errorf("volume %s %q: no block device behind controller %s", vol.ID, vol.Name, ctrlPCI)
	}
	var sized []inventory.Disk
	for _, d := range on {
		if vol.SizeBytes == 0 || sizeClose(d.Size, vol.SizeBytes) {
			sized = append(sized, d)
		}
	}
	if len(sized) == 0 {
		return inventory.Disk{}, fmt.Errorf("volume %s %q (%d bytes): no disk behind controller %s has its size (±%d bytes): %s",
			vol.ID, vol.Name, vol.SizeBytes, ctrlPCI, SizeTolerance(vol.SizeBytes), describeDisks(on))
	}
	if len(sized) == 1 {
		return sized[0], nil
	}
	driver := ""
	for _, p := range inv.PCI {
		if strings.EqualFold(p.Addr, ctrlPCI) {
			driver = p.Driver
		}
	}
	narrow := func(keep func(d inventory.Disk) bool) []inventory.Disk {
		var out []inventory.Disk
		for _, d := range sized {
			if keep(d) {
				out = append(out, d)
			}
		}
		return out
	}
	tries := []func(inventory.Disk) bool{
		func(d inventory.Disk) bool { return vol.Name != "" && strings.TrimSpace(d.Model) == vol.Name },
	}
	if id, err := strconv.Atoi(vol.ID); err == nil && driver == "megaraid_sas" {
		tries = append(tries, func(d inventory.Disk) bool {
			ch, tgt, ok := hctl(d.HCTL)
			return ok && ch >= 2 && (ch-2)*128+tgt == id
		})
	}
	if driver == "mpt3sas" || driver == "mpt2sas" {
		tries = append(tries, func(d inventory.Disk) bool {
			ch, _, ok := hctl(d.HCTL)
			return ok && ch == 1
		})
	}
	for _, keep := range tries {
		if got := narrow(keep); len(got) == 1 {
			return got[0], nil
		}
	}
	return inventory.Disk{}, fmt.Errorf("volume %s %q: %d disks behind controller %s have its size, cannot tell which: %s",
		vol.ID, vol.Name, len(sized), ctrlPCI, describeDisks(sized))
}

// hctl splits "h:c:t:l" into channel and target.
func hctl(s string) (channel, target int, ok bool) {
	f := strings.Split(s, ":")
	if len(f) != 4 {
		return 0, 0, false
	}
	c, err1 := strconv.Atoi(f[1])
	t, err2 := strconv.Atoi(f[2])
	return c, t, err1 == nil && err2 == nil
}

func describeDisks(ds []inventory.Disk) string {
	var out []string
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s (%d bytes, %s %s, hctl %s)", d.Name, d.Size, strings.TrimSpace(d.Vendor), strings.TrimSpace(d.Model), orDash(d.HCTL)))
	}
	return strings.Join(out, ", ")
}
