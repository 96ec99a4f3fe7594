package disk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
)

// Signature is an on-disk structure found before wiping.
type Signature struct {
	Kind   string // "gpt", "gpt-backup", "mbr", "ext4", "xfs", "btrfs", "vfat", "swap", "lvm2", "md-0.90", "md-1.0", "md-1.1", "md-1.2", "luks"
	Offset int64  // absolute byte offset of the magic's structure
	Where  string // "disk" or "partition N"
}

func (s Signature) String() string {
	return fmt.Sprintf("%s at %d (%s)", describe(s.Kind), s.Offset, s.Where)
}

func describe(kind string) string {
	switch kind {
	case "gpt", "gpt-backup", "mbr":
		return kind + " header"
	case "ext2", "ext3", "ext4", "xfs", "btrfs":
		return kind + " superblock"
	case "vfat":
		return "vfat boot sector"
	case "swap":
		return "swap header"
	case "lvm2":
		return "LVM2 label"
	case "luks":
		return "LUKS header"
	}
	return kind + " superblock"
}

// Region is a byte range that Wipe zeroes.
type Region struct {
	Off, Len int64
	Why      string
}

// WipeOptions tune Wipe.
type WipeOptions struct {
	// SectorSize is the logical sector size (512 or 4096; 0: both
	// candidates' backup GPT locations are cleared).
	SectorSize int
	// Discard issues BLKDISCARD over the whole disk first (SSDs, thin
	// LUNs); a failure is logged, not fatal: discard is advisory.
	Discard bool
	// ZeroOut issues BLKZEROOUT over the whole disk; on success the report
	// says Zeroed and the image writer may skip zero blocks.
	ZeroOut bool
	// Device is the open block device for the ioctls; Kernel holds them.
	Device *os.File
	Kernel Kernel
	Logger *slog.Logger
}

// WipeReport says what was found and cleared.
type WipeReport struct {
	Found     []Signature
	Cleared   []Region
	Discarded bool // BLKDISCARD succeeded (it failing is only logged)
	Zeroed    bool // the whole disk reads back zeros (BLKZEROOUT succeeded)
}

// Wipe clears every partition table and signature that would make a
// previous install reappear: the MBR and primary GPT (the first MiB, which
// also holds the XFS, vfat, ext2/3/4, btrfs, swap, LVM2, LUKS and md
// 1.1/1.2 signatures of a whole-disk filesystem), the backup GPT (last 33
// sectors at 512 bytes, last 5 at 4096), md 0.90 and 1.0 superblocks near
// the end, and the same signatures at the start and end of each partition of
// the old table, so an identical new table does not resurrect an old md
// array or filesystem. When w is also an io.ReaderAt, signatures are
// detected first so the report and the log name what was cleared.
//
// The caller must have released the disk's holders (Release): Wipe does not
// check that the disk is unused.
func Wipe(w io.WriterAt, size int64, opts WipeOptions) (WipeReport, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var rep WipeReport
	if size < 2*Align {
		return rep, fmt.Errorf("wipe: disk of %d bytes is smaller than 2 MiB", size)
	}
	bases := []area{{0, size, "disk"}}
	if r, ok := w.(io.ReaderAt); ok {
		parts, err := oldPartitions(r, size)
		if err != nil {
			log.Warn("old partition table unreadable, wiping the disk's own areas only", "err", err)
		}
		bases = append(bases, parts...)
		for _, a := range bases {
			sigs, err := detect(r, a)
			if err != nil {
				return rep, fmt.Errorf("wipe: detect signatures: %w", err)
			}
			rep.Found = append(rep.Found, sigs...)
		}
	}
	if opts.Discard {
		if err := ioctl(opts.Kernel.Discard, opts.Device, size); err != nil {
			log.Warn("discard failed, continuing (discard is advisory)", "err", err)
		} else {
			rep.Discarded = true
			log.Info("discarded the whole disk", "bytes", size)
		}
	}
	if opts.ZeroOut {
		if err := ioctl(opts.Kernel.ZeroOut, opts.Device, size); err != nil {
			return rep, fmt.Errorf("wipe: %w", err)
		}
		rep.Zeroed = true
		log.Info("zeroed the whole disk", "bytes", size)
	}
	for _, a := range bases {
		rep.Cleared = append(rep.Cleared, wipeRegions(a, opts.SectorSize)...)
	}
	rep.Cleared = mergeRegions(rep.Cleared)
	zero := make([]byte, Align)
	for _, rg := range rep.Cleared {
		for off := rg.Off; off < rg.Off+rg.Len; off += int64(len(zero)) {
			n := min(int64(len(zero)), rg.Off+rg.Len-off)
			if err := writeAtFull(w, zero[:n], off, rg.Why); err != nil {
				return rep, fmt.Errorf("wipe: %w", err)
			}
		}
	}
	if s, ok := w.(interface{ Sync() error }); ok {
		if err := s.Sync(); err != nil {
			return rep, fmt.Errorf("wipe: fsync: %w", err)
		}
	}
	for _, s := range rep.Found {
		log.Info("cleared "+describe(s.Kind), "offset", s.Offset, "where", s.Where)
	}
	return rep, nil
}

func ioctl(f func(*os.File, int64, int64) error, dev *os.File, size int64) error {
	if f == nil || dev == nil {
		return fmt.Errorf("no device or ioctl for a whole-disk operation")
	}
	return f(dev, 0, size)
}

// area is the disk or one partition of the old table.
type area struct {
	off, size int64
	where     string
}

// mdOffsets are where md keeps superblocks relative to a device of size
// bytes (mdadm super0.c: MD_NEW_SIZE_SECTORS, 64 KiB aligned, the last 64
// KiB; super1.c: v1.0 at the end minus 8 KiB rounded down to 4 KiB, v1.1 at
// 0, v1.2 at 4 KiB).
func mdOffsets(size int64) map[string]int64 {
	return map[string]int64{
		"md-0.90": (size &^ (64<<10 - 1)) - 64<<10,
		"md-1.0":  (size - 8<<10) &^ (4<<10 - 1),
		"md-1.1":  0,
		"md-1.2":  4 << 10,
	}
}

// wipeRegions are the byte ranges cleared for one area.
func wipeRegions(a area, sector int) []Region {
	head := min(a.size, Align)
	rs := []Region{{a.off, head, "first MiB of " + a.where}}
	if a.where == "disk" {
		for _, ss := range []int{512, 4096} {
			if sector != 0 && sector != ss {
				continue
			}
			// Backup GPT: header in the last sector, 128 entries of 128
			// bytes before it (UEFI 2.10 §5.3.1).
			n := int64(1 + (128*128+ss-1)/ss)
			rs = append(rs, Region{a.size - n*int64(ss), n * int64(ss), fmt.Sprintf("backup GPT (%d-byte sectors)", ss)})
		}
	}
	md := mdOffsets(a.size)
	for _, k := range []string{"md-0.90", "md-1.0"} {
		if off := md[k]; off >= head {
			rs = append(rs, Region{a.off + off, 4 << 10, k + " superblock of " + a.where})
		}
	}
	return rs
}

// mergeRegions sorts and joins overlapping or touching regions.
func mergeRegions(rs []Region) []Region {
	slices.SortFunc(rs, func(a, b Region) int {
		switch {
		case a.Off < b.Off:
			return -1
		case a.Off > b.Off:
			return 1
		}
		return 0
	})
	var out []Region
	for _, r := range rs {
		if n := len(out); n > 0 && r.Off <= out[n-1].Off+out[n-1].Len {
			last := &out[n-1]
			if end := r.Off + r.Len; end > last.Off+last.Len {
				last.Len = end - last.Off
				last.Why += ", " + r.Why
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// detect finds known signatures in one area.
func detect(r io.ReaderAt, a area) ([]Signature, error) {
	read := func(off int64, n int) ([]byte, error) {
		b := make([]byte, n)
		if off < 0 || off+int64(n) > a.size {
			return nil, nil
		}
		if _, err := r.ReadAt(b, a.off+off); err != nil && err != io.EOF {
			return nil, fmt.Errorf("read %s at offset %d: %w", a.where, a.off+off, err)
		}
		return b, nil
	}
	var found []Signature
	add := func(kind string, off int64) { found = append(found, Signature{kind, a.off + off, a.where}) }
	head, err := read(0, 128<<10)
	if err != nil || head == nil {
		return nil, err
	}
	le := binary.LittleEndian
	at := func(off int, magic string) bool {
		return off+len(magic) <= len(head) && string(head[off:off+len(magic)]) == magic
	}
	isGPT := false
	for _, ss := range []int{512, 4096} {
		if at(ss, "EFI PART") {
			add("gpt", int64(ss))
			isGPT = true
		}
	}
	if a.where == "disk" {
		for _, ss := range []int64{512, 4096} {
			if b, err := read(a.size-ss, 8); err != nil {
				return nil, err
			} else if string(b) == "EFI PART" {
				add("gpt-backup", a.size-ss)
			}
		}
	}
	fat := head[510] == 0x55 && head[511] == 0xaa && (at(82, "FAT32   ") || at(54, "FAT1") || at(54, "FAT"))
	switch {
	case fat:
		add("vfat", 0)
	case head[510] == 0x55 && head[511] == 0xaa && !isGPT && a.where == "disk":
		add("mbr", 0)
	}
	if le.Uint16(head[1024+0x38:]) == 0xef53 {
		compat, incompat := le.Uint32(head[1024+0x5c:]), le.Uint32(head[1024+0x60:])
		kind := "ext2"
		switch {
		case incompat&0x40 != 0 || incompat&0x200 != 0: // extents or flex_bg
			kind = "ext4"
		case compat&0x4 != 0: // has_journal
			kind = "ext3"
		}
		add(kind, 1024)
	}
	if at(0, "XFSB") {
		add("xfs", 0)
	}
	if at(64<<10+0x40, "_BHRfS_M") {
		add("btrfs", 64<<10)
	}
	for _, ps := range []int{4096, 8192, 16384, 65536} {
		if at(ps-10, "SWAPSPACE2") || at(ps-10, "SWAP-SPACE") {
			add("swap", 0)
			break
		}
	}
	for s := range 4 {
		if at(s*512, "LABELONE") && at(s*512+24, "LVM2 001") {
			add("lvm2", int64(s*512))
		}
	}
	if at(0, "LUKS\xba\xbe") {
		add("luks", 0)
	}
	const mdMagic = "\xfc\x4e\x2b\xa9" // 0xa92b4efc little endian
	for _, k := range []string{"md-0.90", "md-1.0", "md-1.1", "md-1.2"} {
		off := mdOffsets(a.size)[k]
		b, err := read(off, 4)
		if err != nil {
			return nil, err
		}
		if b != nil && bytes.Equal(b, []byte(mdMagic)) {
			add(k, off)
		}
	}
	return found, nil
}

// oldPartitions lists the partitions of the GPT (primary, else backup) or
// MBR found on the disk, so their signatures are cleared too.
func oldPartitions(r io.ReaderAt, size int64) ([]area, error) {
	le := binary.LittleEndian
	hdr := make([]byte, 512)
	for _, ss := range []int64{512, 4096} {
		for _, lba := range []int64{1, size/ss - 1} {
			if _, err := r.ReadAt(hdr, lba*ss); err != nil {
				return nil, fmt.Errorf("read GPT header at %d: %w", lba*ss, err)
			}
			if string(hdr[:8]) != "EFI PART" {
				continue
			}
			entLBA, n, esz := int64(le.Uint64(hdr[72:])), int64(le.Uint32(hdr[80:])), int64(le.Uint32(hdr[84:]))
			if n > 1024 || esz < 128 || esz > 1024 || entLBA*ss < 0 || entLBA*ss+n*esz > size {
				continue
			}
			ents := make([]byte, n*esz)
			if _, err := r.ReadAt(ents, entLBA*ss); err != nil {
				return nil, fmt.Errorf("read GPT entries at %d: %w", entLBA*ss, err)
			}
			var out []area
			for i := range n {
				e := ents[i*esz:]
				first, last := int64(le.Uint64(e[32:])), int64(le.Uint64(e[40:]))
				if bytes.Equal(e[:16], make([]byte, 16)) || last < first || (last+1)*ss > size {
					continue
				}
				out = append(out, area{first * ss, (last - first + 1) * ss, fmt.Sprintf("partition %d", i+1)})
			}
			return out, nil
		}
	}
	mbr := make([]byte, 512)
	if _, err := r.ReadAt(mbr, 0); err != nil {
		return nil, fmt.Errorf("read MBR: %w", err)
	}
	if mbr[510] != 0x55 || mbr[511] != 0xaa {
		return nil, nil
	}
	var out []area
	for i := range 4 {
		e := mbr[446+16*i:]
		typ, start, n := e[4], int64(le.Uint32(e[8:])), int64(le.Uint32(e[12:]))
		if typ == 0 || typ == 0xee || n == 0 || (start+n)*512 > size {
			continue
		}
		out = append(out, area{start * 512, n * 512, fmt.Sprintf("partition %d", i+1)})
	}
	return out, nil
}
