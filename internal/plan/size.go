package plan

import (
	"fmt"
	"math/big"
	"strings"
)

// MiB is the partition alignment: partitions start and end on 1 MiB
// boundaries, as fdisk and parted do, which suits every sector size and
// RAID stripe in use.
const MiB = 1 << 20

// Size is a parsed size: a byte count, a percentage of the disk's usable
// space, "rest" (all that the other partitions leave) or "max" (a RAID
// volume as large as its members allow).
type Size struct {
	Bytes   uint64
	Percent int // 1..100
	Rest    bool
	Max     bool
}

func (s Size) String() string {
	switch {
	case s.Rest:
		return "rest"
	case s.Max:
		return "max"
	case s.Percent > 0:
		return fmt.Sprintf("%d%%", s.Percent)
	}
	return HumanBytes(s.Bytes)
}

// units are the accepted size suffixes. Binary units are what partitioners
// use; decimal ones are what disk vendors print on the label, so size ranges
// in selectors can be copied from a datasheet.
func units() map[string]uint64 {
	return map[string]uint64{
		"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"B": 1,
	}
}

// ParseBytes reads "512MiB", "1.5 TiB", "480GB" or "4096B" (a unit is
// required: a bare number is too easy to misread). Fractions are rounded
// down to a byte.
func ParseBytes(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	n := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if n < 0 {
		return 0, fmt.Errorf("size %q has no unit (use KiB, MiB, GiB, TiB, KB, MB, GB, TB or B)", s)
	}
	num, unit := t[:n], strings.TrimSpace(t[n:])
	if !isDecimal(num) {
		return 0, fmt.Errorf("size %q does not start with a number", s)
	}
	if mult, ok := units()[unit]; ok {
		r, _ := new(big.Rat).SetString(num)
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).SetUint64(mult)))
		b := new(big.Int).Quo(r.Num(), r.Denom())
		if !b.IsUint64() {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return b.Uint64(), nil
	}
	return 0, fmt.Errorf("size %q: unknown unit %q (use KiB, MiB, GiB, TiB, KB, MB, GB, TB or B)", s, unit)
}

// isDecimal accepts "12" and "1.5": digits with at most one point inside.
func isDecimal(s string) bool {
	if len(s) > 40 {
		return false
	}
	digits, point := 0, false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !point && i > 0 && i < len(s)-1:
			point = true
		default:
			return false
		}
	}
	return digits > 0
}

// ParseSize reads a partition or volume size: a byte size, "N%" with N in
// 1..100, "rest", or (when allowMax) "max".
func ParseSize(s string, allowMax bool) (Size, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "rest" && !allowMax:
		return Size{Rest: true}, nil
	case t == "max" && allowMax:
		return Size{Max: true}, nil
	case t == "max":
		return Size{}, fmt.Errorf("size \"max\" is for RAID volumes; a partition takes \"rest\"")
	case t == "rest":
		return Size{}, fmt.Errorf("size \"rest\" is for partitions; a RAID volume takes \"max\"")
	case strings.HasSuffix(t, "%"):
		var n int
		num := strings.TrimSpace(strings.TrimSuffix(t, "%"))
		if _, err := fmt.Sscanf(num, "%d", &n); err != nil || fmt.Sprint(n) != num || n < 1 || n > 100 {
			return Size{}, fmt.Errorf("size %q: a percentage is a whole number from 1 to 100", s)
		}
		return Size{Percent: n}, nil
	}
	b, err := ParseBytes(t)
	if err != nil {
		return Size{}, err
	}
	if b == 0 {
		return Size{}, fmt.Errorf("size %q is zero", s)
	}
	return Size{Bytes: b}, nil
}

// HumanBytes prints a byte count in binary units with one decimal, the way
// the dry run shows disks.
func HumanBytes(b uint64) string {
	const u = "KMGTPE"
	if b < 1024 {
		return fmt.Sprintf("%d B", b)
	}
	v, i := float64(b)/1024, 0
	for v >= 1024 && i < len(u)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, u[i])
}

func alignUp(v uint64) uint64   { return (v + MiB - 1) / MiB * MiB }
func alignDown(v uint64) uint64 { return v / MiB * MiB }

// Extent is where a partition lands, in bytes from the start of the disk.
type Extent struct {
	Name  string
	Start uint64
	Size  uint64
}

// usable returns the byte range partitions may use on a disk of size bytes
// with the given logical sector size (0 means 512): from 1 MiB (past the MBR
// and the primary GPT, aligned) to the end aligned down to 1 MiB, less on GPT
// the backup header and its 128-entry table (33 sectors at 512 bytes, 5 at
// 4096; UEFI spec 2.10 §5.3.1), and on MBR no further than the 2^32 sectors
// it can address. disk.Place computes the same range; an agreement test in
// internal/install holds the two together.
func usable(table string, size uint64, sector int) (start, end uint64) {
	if sector <= 0 {
		sector = 512
	}
	ss := uint64(sector)
	start = MiB
	switch table {
	case "mbr":
		end = alignDown(min(size, ss<<32))
	default:
		backup := (1 + (128*128+ss-1)/ss) * ss
		if size > backup {
			end = alignDown(size - backup)
		}
	}
	return start, end
}

// Layout places the disk's partitions on a disk of size bytes: fixed sizes
// rounded up to 1 MiB, percentages of the usable space rounded down to 1 MiB,
// and the "rest" partition (at most one, anywhere in the order) taking what
// is left. It fails when the partitions do not fit. Check must have run.
func (d *Disk) Layout(size uint64, sector int) ([]Extent, error) {
	start, end := usable(d.Table, size, sector)
	if end <= start {
		return nil, fmt.Errorf("disk of %s is too small for a partition table", HumanBytes(size))
	}
	avail := end - start
	var used uint64
	rest := -1
	sizes := make([]uint64, len(d.Partitions))
	for i, p := range d.Partitions {
		switch s := p.SizeSpec; {
		case s.Rest:
			rest = i
			continue
		case s.Percent > 0:
			sizes[i] = alignDown(avail * uint64(s.Percent) / 100)
			if sizes[i] == 0 {
				return nil, fmt.Errorf("partition %q: %d%% of %s is less than 1 MiB", p.Name, s.Percent, HumanBytes(avail))
			}
		default:
			sizes[i] = alignUp(s.Bytes)
		}
		used += sizes[i]
	}
	if rest >= 0 {
		if used+MiB > avail {
			return nil, fmt.Errorf("partitions need %d MiB before %q takes the rest, but the disk has %d MiB usable (%s)",
				used/MiB, d.Partitions[rest].Name, avail/MiB, HumanBytes(size))
		}
		sizes[rest] = avail - used
		used = avail
	}
	if used > avail {
		return nil, fmt.Errorf("partitions need %d MiB, but the disk has %d MiB usable (%s)",
			used/MiB, avail/MiB, HumanBytes(size))
	}
	out := make([]Extent, len(d.Partitions))
	at := start
	for i, p := range d.Partitions {
		out[i] = Extent{Name: p.Name, Start: at, Size: sizes[i]}
		at += sizes[i]
	}
	return out, nil
}
