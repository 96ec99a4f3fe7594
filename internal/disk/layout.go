package disk

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// Layout is a partition table to create.
type Layout struct {
	Table      string     // "gpt" or "mbr"
	Partitions []PartSpec // in on-disk order
}

// PartSpec is one partition of a Layout.
type PartSpec struct {
	Name string // GPT partition name; also the key for derived PARTUUIDs
	// Type by name (see PartTypes), or a raw GPT type GUID, or for MBR a
	// hex byte such as "0x83".
	Type string
	// Size is "512MiB", "20GiB", "480GB", "10%" (of the usable space, so 100% fits) or "rest".
	Size string
	// PartUUID, if set, is used as given (GPT only); otherwise it is
	// derived from the seed, the disk and the name.
	PartUUID string
	Bootable bool // MBR active flag (legacy BIOS boot)
}

// PartType is a partition type known by name.
type PartType struct {
	Name string
	GPT  string // type GUID
	MBR  byte   // 0: not expressible in an MBR
}

// PartTypes are the names a plan may use. GUIDs: UEFI 2.10 §5.3.3 (ESP),
// the Discoverable Partitions Specification (uapi-group.org), GRUB's BIOS
// boot partition; MBR IDs: the classic list (fdisk's "l").
func PartTypes() []PartType {
	return []PartType{
		{"esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", 0xef},
		{"linux", "0FC63DAF-8483-4772-8E79-3D69D8477DE4", 0x83},
		{"linux-root-x86-64", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", 0x83},
		{"linux-root-arm64", "B921B045-1DF0-41C3-AF44-4C6F280D3FAE", 0x83},
		{"linux-home", "933AC7E1-2EB4-4F13-B844-0E14E2AEF915", 0x83},
		{"linux-srv", "3B8F8425-20E0-4F3B-907F-1A25A76F98E8", 0x83},
		{"linux-var", "4D21B016-B534-45C2-A9FB-5C16E091FD2D", 0x83},
		{"xbootldr", "BC13C2FF-59E6-4262-A352-B275FD6F7172", 0xea},
		{"swap", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", 0x82},
		{"raid", "A19D880F-05FC-4D3B-A006-743F0F84911E", 0xfd},
		{"lvm", "E6D6D379-F507-44C2-A23C-238F2A3DF928", 0x8e},
		{"bios-boot", "21686148-6449-6E6F-744E-656564454649", 0},
	}
}

// resolveType gives the GPT GUID (upper case) or MBR ID for a type string.
func resolveType(table, typ string) (guid string, id byte, err error) {
	for _, t := range PartTypes() {
		if t.Name == typ {
			if table == "mbr" && t.MBR == 0 {
				return "", 0, fmt.Errorf("type %q has no MBR equivalent", typ)
			}
			return t.GPT, t.MBR, nil
		}
	}
	switch table {
	case "gpt":
		u, err := uuid.Parse(typ)
		if err != nil || len(typ) != 36 {
			return "", 0, fmt.Errorf("type %q: not a known name (%s) nor a GUID", typ, typeNames())
		}
		return strings.ToUpper(u.String()), 0, nil
	default:
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(typ), "0x"), 16, 8)
		if err != nil || v == 0 || !strings.HasPrefix(strings.ToLower(typ), "0x") {
			return "", 0, fmt.Errorf("type %q: not a known name (%s) nor an MBR ID like 0x83", typ, typeNames())
		}
		return "", byte(v), nil
	}
}

func typeNames() string {
	var n []string
	for _, t := range PartTypes() {
		n = append(n, t.Name)
	}
	return strings.Join(n, ", ")
}

// Placed is a partition with its position resolved.
type Placed struct {
	Number   int    // 1-based, as the kernel names it (sda1, nvme0n1p1)
	Name     string // GPT name
	Type     string // the spec's type string
	TypeGUID string // GPT only
	TypeID   byte   // MBR ID (also set for named types on GPT, for reference)
	Start    int64  // bytes
	Size     int64  // bytes
	PartUUID string // lower case, as blkid and /dev/disk/by-partuuid show it
	Bootable bool
}

// StartLBA and Sectors in units of the logical sector size.
func (p Placed) StartLBA(sector int) uint64 { return uint64(p.Start / int64(sector)) }
func (p Placed) Sectors(sector int) uint64  { return uint64(p.Size / int64(sector)) }

// Placement is a resolved Layout for one disk: what gets written and what
// the plan records (PARTUUIDs for `${partuuid:root}` references).
type Placement struct {
	Table      string
	DiskSize   int64
	SectorSize int
	DiskGUID   string // GPT disk GUID, or the MBR disk ID as 8 hex digits
	Partitions []Placed
}

// Align is the partition alignment: 1 MiB, what every partitioning tool has
// used since 2010 and a multiple of any erase block or RAID stripe.
const Align = 1 << 20

// needleNS is the UUIDv5 namespace for derived identifiers.
var needleNS = uuid.MustParse("6e656564-6c65-5000-8000-706172747575")

// DeriveUUID gives the name-based (SHA-1, version 5) UUID of parts joined
// with "/": the same plan, disk and partition always give the same
// PARTUUID, so a re-install keeps /etc/fstab and boot entries valid.
func DeriveUUID(parts ...string) string {
	return uuid.NewSHA1(needleNS, []byte(strings.Join(parts, "/"))).String()
}

// Place resolves l against a disk of diskSize bytes with the given logical
// sector size (512 or 4096). seed and disk name the plan and the disk (e.g.
// "plan-web01", "os") and make the derived identifiers unique per install.
func Place(l Layout, diskSize int64, sector int, seed, disk string) (Placement, error) {
	if sector != 512 && sector != 4096 {
		return Placement{}, fmt.Errorf("logical sector size %d: want 512 or 4096", sector)
	}
	pl := Placement{Table: l.Table, DiskSize: diskSize, SectorSize: sector}
	var first, end int64 // usable bytes [first, end)
	switch l.Table {
	case "gpt":
		// The backup GPT takes the last 33 sectors at 512 bytes (header +
		// 128 entries × 128 bytes = 32 sectors), 5 at 4096.
		backup := int64(1 + (128*128+sector-1)/sector)
		first, end = Align, alignDown(diskSize-backup*int64(sector), Align)
		pl.DiskGUID = DeriveUUID(seed, disk)
		if len(l.Partitions) > 128 {
			return pl, fmt.Errorf("gpt: %d partitions, at most 128", len(l.Partitions))
		}
	case "mbr":
		first, end = Align, alignDown(min(diskSize, (1<<32)*int64(sector)), Align)
		h := sha256.Sum256([]byte(seed + "/" + disk))
		id := binary.LittleEndian.Uint32(h[:4])
		if id == 0 {
			id = 1 // 0 means "no disk signature"
		}
		pl.DiskGUID = fmt.Sprintf("%08x", id)
		if len(l.Partitions) > 4 {
			return pl, fmt.Errorf("mbr: %d partitions, at most 4 primary partitions", len(l.Partitions))
		}
	default:
		return pl, fmt.Errorf("table %q: want gpt or mbr", l.Table)
	}
	if end <= first {
		return pl, fmt.Errorf("disk of %d bytes has no room for partitions", diskSize)
	}
	if len(l.Partitions) == 0 {
		return pl, fmt.Errorf("%s: no partitions", l.Table)
	}
	sizes := make([]int64, len(l.Partitions))
	rest := -1
	var fixed int64
	names := map[string]bool{}
	for i, p := range l.Partitions {
		where := fmt.Sprintf("partition %d (%s)", i+1, p.Name)
		if p.Name == "" {
			return pl, fmt.Errorf("partition %d: no name", i+1)
		}
		if names[p.Name] {
			return pl, fmt.Errorf("%s: duplicate name", where)
		}
		names[p.Name] = true
		switch {
		case p.Size == "rest":
			if rest >= 0 {
				return pl, fmt.Errorf("%s: size rest: partition %d already takes the rest", where, rest+1)
			}
			rest = i
			continue
		case strings.HasSuffix(p.Size, "%"):
			pct, err := strconv.ParseFloat(strings.TrimSuffix(p.Size, "%"), 64)
			if err != nil || pct <= 0 || pct > 100 {
				return pl, fmt.Errorf("%s: size %q: want a percentage in (0, 100]", where, p.Size)
			}
			// Of the usable space, as the plan's dry run computes it, so
			// 100% fits.
			sizes[i] = alignDown(int64(float64(end-first)*pct/100), Align)
		default:
			n, err := ParseSize(p.Size)
			if err != nil {
				return pl, fmt.Errorf("%s: %w", where, err)
			}
			// Round up: asking for 100MB must never give less than 100 MB.
			sizes[i] = alignUp(n, Align)
		}
		if sizes[i] <= 0 {
			return pl, fmt.Errorf("%s: size %q is less than the 1 MiB alignment", where, p.Size)
		}
		fixed += sizes[i]
	}
	avail := end - first
	if fixed > avail || (rest >= 0 && fixed == avail) {
		short := fixed - avail
		if rest >= 0 {
			short += Align
		}
		return pl, fmt.Errorf("%s layout needs %s but the %s disk has %s usable: %s short",
			l.Table, FormatSize(fixed), FormatSize(diskSize), FormatSize(avail), FormatSize(short))
	}
	if rest >= 0 {
		sizes[rest] = avail - fixed
	}
	off := first
	for i, p := range l.Partitions {
		guid, id, err := resolveType(l.Table, p.Type)
		if err != nil {
			return pl, fmt.Errorf("partition %d (%s): %w", i+1, p.Name, err)
		}
		pp := Placed{Number: i + 1, Name: p.Name, Type: p.Type, TypeGUID: guid, TypeID: id,
			Start: off, Size: sizes[i], Bootable: p.Bootable}
		switch {
		case l.Table == "mbr":
			pp.TypeGUID = ""
			if p.PartUUID != "" {
				return pl, fmt.Errorf("partition %d (%s): an MBR PARTUUID is the disk ID and the number, it cannot be given", i+1, p.Name)
			}
			// libblkid's format for MBR: "%.33s-%02x" of the disk ID
			// (libblkid/src/partitions/partitions.c).
			pp.PartUUID = fmt.Sprintf("%s-%02x", pl.DiskGUID, i+1)
		case p.PartUUID != "":
			u, err := uuid.Parse(p.PartUUID)
			if err != nil || len(p.PartUUID) != 36 {
				return pl, fmt.Errorf("partition %d (%s): partuuid %q is not a UUID", i+1, p.Name, p.PartUUID)
			}
			pp.PartUUID = u.String()
		default:
			pp.PartUUID = DeriveUUID(seed, disk, p.Name)
		}
		if l.Table == "gpt" && len([]rune(p.Name)) > 36 {
			return pl, fmt.Errorf("partition %d (%s): GPT names hold at most 36 characters", i+1, p.Name)
		}
		pl.Partitions = append(pl.Partitions, pp)
		off += sizes[i]
	}
	return pl, nil
}

func alignDown(n, a int64) int64 { return n / a * a }
func alignUp(n, a int64) int64   { return (n + a - 1) / a * a }
