package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// PartType is a partition type resolved for both table kinds. MBR is 0 when
// the type has no MBR code (bios-boot is GPT-only).
type PartType struct {
	Name string // the plan's name, or the GUID when one was given
	GUID string // upper-case, as the UEFI spec prints them
	MBR  byte
}

// partTypes returns the named partition types. GUIDs from the UEFI spec
// (ESP), the GRUB manual (BIOS boot) and the Discoverable Partitions
// Specification (https://uapi-group.org/specifications/specs/discoverable_partitions_specification/);
// MBR codes as fdisk lists them.
func partTypes() map[string]PartType {
	return map[string]PartType{
		"esp":                {GUID: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", MBR: 0xef},
		"bios-boot":          {GUID: "21686148-6449-6E6F-744E-656564454649"},
		"linux":              {GUID: "0FC63DAF-8483-4772-8E79-3D69D8477DE4", MBR: 0x83},
		"linux-root-x86-64":  {GUID: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", MBR: 0x83},
		"linux-root-arm64":   {GUID: "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", MBR: 0x83},
		"linux-var":          {GUID: "4D21B016-B534-45C2-A9FB-5C16E091FD2D", MBR: 0x83},
		"linux-home":         {GUID: "933AC7E1-2EB4-4F13-B844-0E14E2AEF915", MBR: 0x83},
		"linux-srv":          {GUID: "3B8F8425-20E0-4F3B-907F-1A25A76F98E8", MBR: 0x83},
		"xbootldr":           {GUID: "BC13C2FF-59E6-4262-A352-B275FD6F7172", MBR: 0xea},
		"swap":               {GUID: "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", MBR: 0x82},
		"raid":               {GUID: "A19D880F-05FC-4D3B-A006-743F0F84911E", MBR: 0xfd},
		"lvm":                {GUID: "E6D6D379-F507-44C2-A23C-238F2A3DF928", MBR: 0x8e},
		"microsoft-basic":    {GUID: "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", MBR: 0x07},
		"linux-extended-mbr": {MBR: 0x85}, // never written by needle; listed so MBR dumps read back
	}
}

// PartTypeNames lists the names a plan may use, for messages and docs.
func PartTypeNames() []string {
	var out []string
	for n := range partTypes() {
		if n != "linux-extended-mbr" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// isGUID accepts the 8-4-4-4-12 hex form.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c rune) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// resolvePartType reads a partition's type for a table kind: a name from
// partTypes, a GUID (GPT), or a hex byte such as "0x83" (MBR). Empty means
// the default for the partition's filesystem: swap for swap, else linux.
func resolvePartType(typ, table string, fs *Filesystem) (PartType, error) {
	if typ == "" {
		typ = "linux"
		if fs != nil && fs.Format == "swap" {
			typ = "swap"
		}
	}
	if t, ok := partTypes()[typ]; ok && typ != "linux-extended-mbr" {
		t.Name = typ
		if table == "mbr" && t.MBR == 0 {
			return PartType{}, fmt.Errorf("type %q exists only on GPT", typ)
		}
		return t, nil
	}
	if isGUID(typ) {
		if table == "mbr" {
			return PartType{}, fmt.Errorf("type %q is a GPT GUID but the table is mbr (give an MBR code such as 0x83)", typ)
		}
		return PartType{Name: typ, GUID: strings.ToUpper(typ)}, nil
	}
	if h, ok := strings.CutPrefix(strings.ToLower(typ), "0x"); ok {
		v, err := strconv.ParseUint(h, 16, 8)
		if err == nil && v != 0 && v != 0x05 && v != 0x0f && v != 0x85 {
			if table != "mbr" {
				return PartType{}, fmt.Errorf("type %q is an MBR code but the table is gpt (give a name or a GUID)", typ)
			}
			return PartType{Name: typ, MBR: byte(v)}, nil
		}
		return PartType{}, fmt.Errorf("type %q is not a usable MBR code (0x01..0xff; extended partitions are not supported)", typ)
	}
	return PartType{}, fmt.Errorf("unknown partition type %q (use one of %s, a GPT GUID, or an MBR code like 0x83)",
		typ, strings.Join(PartTypeNames(), ", "))
}
