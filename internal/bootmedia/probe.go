// Package bootmedia finds, at boot, the medium needle was started from (a
// USB stick written by `needle usb`, a CD-ROM or virtual-media ISO written
// by `needle iso`, or that ISO written to a stick), mounts it read-only and
// says where its plan and extra hwdb rules are. The init uses it after
// coldplug (xhci, usb-storage, sd_mod or sr_mod are loaded by then) to
// prefer the medium's plan and to keep the medium out of the disks a plan
// may erase.
//
// There is no blkid in the image: the FAT boot sector's volume label, the
// ISO9660 primary volume descriptor's volume identifier and the GPT
// partition name (PARTNAME in the partition's sysfs uevent) are read here.
package bootmedia

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// Filesystem types as mount(2) names them.
const (
	VFAT    = "vfat"
	ISO9660 = "iso9660"
)

// probeSize is how much of a device probe reads: the ISO9660 primary
// volume descriptor sits at 32 KiB (ECMA-119 §6.2.1: sectors 0-15 are the
// system area, the descriptor set starts at sector 16 of 2 KiB).
const probeSize = 32768 + 2048

// Probe identifies the filesystem at the start of head (the first
// probeSize bytes of a device or partition, or fewer) and returns its type
// and label, or "" when it is neither FAT nor ISO9660.
func Probe(head []byte) (fstype, label string) {
	if l, ok := fatLabel(head); ok {
		return VFAT, l
	}
	if l, ok := isoLabel(head); ok {
		return ISO9660, l
	}
	return "", ""
}

// fatLabel reads a FAT boot sector (Microsoft's "FAT: General Overview of
// On-Disk Format", the BPB): a jump instruction, a power-of-two sector size
// of 512-4096, a non-zero power-of-two sectors-per-cluster, and the
// filesystem type string of the extended BPB, which sits at 54 for
// FAT12/16 (label at 43) and at 82 for FAT32 (label at 71). A protective
// or DOS MBR has the 0x55AA signature too, but none of the rest.
func fatLabel(b []byte) (string, bool) {
	if len(b) < 512 || b[510] != 0x55 || b[511] != 0xaa {
		return "", false
	}
	if b[0] != 0xeb && b[0] != 0xe9 {
		return "", false
	}
	bps := binary.LittleEndian.Uint16(b[11:13])
	if bps < 512 || bps > 4096 || bps&(bps-1) != 0 {
		return "", false
	}
	if spc := b[13]; spc == 0 || spc&(spc-1) != 0 {
		return "", false
	}
	switch {
	case string(b[82:87]) == "FAT32" && b[66] == 0x29:
		return cleanLabel(b[71:82]), true
	case string(b[54:57]) == "FAT" && b[38] == 0x29:
		return cleanLabel(b[43:54]), true
	}
	return "", false
}

// isoLabel reads the primary volume descriptor (type 1, "CD001") at
// sector 16 and returns its volume identifier (bytes 40-71; space padded
// by the standard, NUL padded by some writers).
func isoLabel(b []byte) (string, bool) {
	const off = 16 * 2048
	if len(b) < off+72 {
		return "", false
	}
	vd := b[off:]
	if vd[0] != 1 || string(vd[1:6]) != "CD001" {
		return "", false
	}
	return cleanLabel(vd[40:72]), true
}

// cleanLabel ends the label at its first NUL, as the C strings of blkid
// and the kernel do, so a label never carries a NUL into a comparison or
// a log line.
func cleanLabel(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimRight(b, " ")
	l := strings.TrimSpace(string(b))
	if l == "NO NAME" { // mkfs.fat's "no label"
		return ""
	}
	return l
}
