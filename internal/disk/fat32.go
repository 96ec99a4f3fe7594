package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf16"
)

// FAT32 is written by needle itself rather than by go-diskfs v1.9.4, whose
// FAT32 has three defects fsck.vfat reports: subdirectories of the root get
// ".." pointing at cluster 2 instead of 0 (Microsoft's FAT specification
// §6.1: ".." of a directory whose parent is the root holds cluster 0), a
// 64 MiB volume gets a FAT too small for its clusters ("has 129024 clusters
// but only space for 129022 FAT entries"), and the FSInfo free count is left
// uninitialised. Post-fixing the output would mean walking and rewriting its
// directories and FATs; writing the volume in one pass from an fs.FS is
// shorter, deterministic and streams file data without buffering it.
//
// References: Microsoft "FAT: General Overview of On-Disk Format" (fatgen103),
// and dosfstools' mkfs.fat for the choices fsck.vfat expects.

// FATOptions tune MakeFAT32.
type FATOptions struct {
	Label    string    // up to 11 characters, upper-cased; empty: "NO NAME"
	VolumeID uint32    // serial number; derive it from the plan for reproducibility
	Hidden   uint32    // sectors before the volume (the partition's start LBA)
	Time     time.Time // timestamp of every entry; zero: 2000-01-01
}

const (
	fatSector      = 512
	fatReserved    = 32
	fatCount       = 2
	fatMinClusters = 65525 // fewer clusters make it FAT16 by definition (fatgen103 p.15)
	fatEOC         = 0x0fffffff
	dirEntrySize   = 32
	attrReadOnly   = 0x01
	attrVolumeID   = 0x08
	attrDirectory  = 0x10
	attrArchive    = 0x20
	attrLFN        = 0x0f
)

// fatGeometry is the layout of one volume.
type fatGeometry struct {
	totalSectors uint32
	spc          uint32 // sectors per cluster
	fatSectors   uint32
	clusters     uint32
}

func (g fatGeometry) clusterBytes() int64 { return int64(g.spc) * fatSector }
func (g fatGeometry) dataStart() int64 {
	return int64(fatReserved+fatCount*g.fatSectors) * fatSector
}
func (g fatGeometry) clusterOff(c uint32) int64 {
	return g.dataStart() + int64(c-2)*g.clusterBytes()
}

// fat32Geometry picks the largest cluster size up to 4 KiB (the size UEFI
// firmware and mkfs.fat favour for an ESP) that still gives at least 65525
// clusters, then the smallest FAT that maps them all.
func fat32Geometry(size int64) (fatGeometry, error) {
	if size/fatSector > 0xffffffff {
		return fatGeometry{}, fmt.Errorf("FAT32 volume of %d bytes: more than 2^32 sectors", size)
	}
	total := uint32(size / fatSector)
	for _, spc := range []uint32{8, 4, 2, 1} {
		// FAT size by iteration: clusters depend on the FAT size and back.
		fat := uint32(1)
		for {
			if fatReserved+fatCount*fat >= total {
				break
			}
			clusters := (total - fatReserved - fatCount*fat) / spc
			need := (clusters + 2 + fatSector/4 - 1) / (fatSector / 4)
			if need <= fat {
				g := fatGeometry{totalSectors: total, spc: spc, fatSectors: fat, clusters: clusters}
				if clusters >= fatMinClusters && clusters <= 0x0ffffff5 {
					return g, nil
				}
				break
			}
			fat = need
		}
	}
	return fatGeometry{}, fmt.Errorf("FAT32 volume of %d bytes: too small for %d clusters of 512 bytes (about 33 MiB)",
		size, fatMinClusters)
}

// fatNode is a file or directory to be placed on the volume.
type fatNode struct {
	name     string // long name as given
	short    [11]byte
	lfn      bool
	dir      bool
	size     int64
	src      string // path in the source fs.FS
	children []*fatNode
	cluster  uint32
	nclust   uint32
}

// MakeFAT32 writes a FAT32 volume of size bytes at offset 0 of w holding the
// tree of files (regular files and directories) in content, which may be
// nil. Use io.NewOffsetWriter to place it in a partition.
func MakeFAT32(w io.WriterAt, size int64, content fs.FS, opts FATOptions) error {
	g, err := fat32Geometry(size)
	if err != nil {
		return err
	}
	if opts.Time.IsZero() {
		opts.Time = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	label, err := fatLabel(opts.Label)
	if err != nil {
		return err
	}
	root := &fatNode{dir: true, src: "."}
	if content != nil {
		if err := fatTree(content, ".", root); err != nil {
			return err
		}
	}
	// Allocate clusters contiguously, directories and files in tree order;
	// the root directory comes first at cluster 2 as fatgen103 recommends.
	next := uint32(2)
	if err := fatAlloc(g, root, label != "", true, &next); err != nil {
		return fmt.Errorf("FAT32 volume of %d bytes: %w", size, err)
	}
	// Reserved area: boot sector, FSInfo and their backups at 6 and 7.
	res := make([]byte, fatReserved*fatSector)
	boot := fatBootSector(g, label, opts)
	fsinfo := fatFSInfo(g.clusters-(next-2), next)
	copy(res[0:], boot)
	copy(res[1*fatSector:], fsinfo)
	copy(res[6*fatSector:], boot)
	copy(res[7*fatSector:], fsinfo)
	if err := writeAtFull(w, res, 0, "FAT32 reserved sectors"); err != nil {
		return err
	}
	fat := fatTable(g, root)
	for i := range int64(fatCount) {
		if err := writeAtFull(w, fat, int64(fatReserved)*fatSector+i*int64(len(fat)), "FAT"); err != nil {
			return err
		}
	}
	dw := &fatDirWriter{w: w, content: content, g: g, root: root, label: label, stamp: dosTime(opts.Time)}
	return dw.write(root, nil)
}

// fatAlloc gives n and everything under it their clusters from *next on:
// a directory as many as its entries need (the volume label in the root,
// "." and ".." elsewhere, and each child's long-name entries), a file as
// many as its bytes.
func fatAlloc(g fatGeometry, n *fatNode, hasLabel, isRoot bool, next *uint32) error {
	var bytes int64
	if n.dir {
		entries := int64(0)
		if isRoot && hasLabel {
			entries++
		} else if !isRoot {
			entries += 2 // "." and ".."
		}
		for _, c := range n.children {
			entries += 1 + int64(lfnCount(c))
		}
		bytes = max(entries*dirEntrySize, 1)
	} else {
		bytes = n.size
	}
	n.nclust = uint32((bytes + g.clusterBytes() - 1) / g.clusterBytes())
	if n.nclust > 0 {
		if uint64(*next)+uint64(n.nclust) > uint64(g.clusters)+2 {
			return fmt.Errorf("content does not fit (%q needs %d more clusters of %d bytes)",
				"/"+n.src, uint64(*next)+uint64(n.nclust)-uint64(g.clusters)-2, g.clusterBytes())
		}
		n.cluster = *next
		*next += n.nclust
	}
	for _, c := range n.children {
		if err := fatAlloc(g, c, hasLabel, false, next); err != nil {
			return err
		}
	}
	return nil
}

// fatTable is one copy of the FAT: the two reserved entries, then each
// node's cluster chain.
func fatTable(g fatGeometry, root *fatNode) []byte {
	fat := make([]byte, int64(g.fatSectors)*fatSector)
	le := binary.LittleEndian
	le.PutUint32(fat[0:], 0x0ffffff8) // media byte F8 in the low 8 bits
	le.PutUint32(fat[4:], fatEOC)     // clean-shutdown and no-error bits set
	var chain func(n *fatNode)
	chain = func(n *fatNode) {
		for i := range n.nclust {
			v := uint32(fatEOC)
			if i+1 < n.nclust {
				v = n.cluster + i + 1
			}
			le.PutUint32(fat[4*(n.cluster+i):], v)
		}
		for _, c := range n.children {
			chain(c)
		}
	}
	chain(root)
	return fat
}

// fatDirWriter writes the directories' clusters and copies the files.
type fatDirWriter struct {
	w       io.WriterAt
	content fs.FS
	g       fatGeometry
	root    *fatNode
	label   string
	stamp   [2]uint16 // DOS date and time
}

func (d *fatDirWriter) write(n, parent *fatNode) error {
	if !n.dir {
		return fatCopyFile(d.w, d.content, n, d.g)
	}
	buf := make([]byte, int64(n.nclust)*d.g.clusterBytes())
	at := 0
	put := func(e []byte) { copy(buf[at:], e); at += dirEntrySize }
	if n == d.root {
		if d.label != "" {
			var name [11]byte
			copy(name[:], fmt.Sprintf("%-11s", d.label))
			put(dirEntry(name, attrVolumeID, 0, 0, d.stamp))
		}
	} else {
		dot := [11]byte{'.', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '}
		put(dirEntry(dot, attrDirectory, n.cluster, 0, d.stamp))
		dotdot := dot
		dotdot[1] = '.'
		pc := parent.cluster
		if parent == d.root {
			pc = 0 // fatgen103 §6.1: the root is cluster 0 here
		}
		put(dirEntry(dotdot, attrDirectory, pc, 0, d.stamp))
	}
	for _, c := range n.children {
		if c.lfn {
			for _, e := range lfnEntries(c.name, c.short) {
				put(e)
			}
		}
		attr := byte(attrArchive)
		if c.dir {
			attr = attrDirectory
		}
		put(dirEntry(c.short, attr, c.cluster, uint32(c.size), d.stamp))
	}
	if err := writeAtFull(d.w, buf, d.g.clusterOff(n.cluster), "FAT32 directory /"+n.src); err != nil {
		return err
	}
	for _, c := range n.children {
		if err := d.write(c, n); err != nil {
			return err
		}
	}
	return nil
}

// fatTree reads dir of content into n, children sorted by name.
func fatTree(content fs.FS, dir string, n *fatNode) error {
	ents, err := fs.ReadDir(content, dir)
	if err != nil {
		return fmt.Errorf("FAT32 content %s: %w", dir, err)
	}
	used := map[[11]byte]bool{}
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("FAT32 content %s: %w", p, err)
		}
		c := &fatNode{name: e.Name(), src: p}
		switch {
		case info.IsDir():
			c.dir = true
		case info.Mode().IsRegular():
			c.size = info.Size()
			if c.size > 0xffffffff {
				return fmt.Errorf("FAT32 content %s: %d bytes, FAT32 files stop at 4 GiB-1", p, c.size)
			}
		default:
			return fmt.Errorf("FAT32 content %s: %s is neither a file nor a directory", p, info.Mode().Type())
		}
		if c.short, c.lfn, err = shortName(e.Name(), used); err != nil {
			return fmt.Errorf("FAT32 content %s: %w", p, err)
		}
		used[c.short] = true
		n.children = append(n.children, c)
		if c.dir {
			if err := fatTree(content, p, c); err != nil {
				return err
			}
		}
	}
	slices.SortFunc(n.children, func(a, b *fatNode) int { return strings.Compare(a.name, b.name) })
	return nil
}

func fatCopyFile(w io.WriterAt, content fs.FS, n *fatNode, g fatGeometry) error {
	if n.nclust == 0 {
		return nil
	}
	f, err := content.Open(n.src)
	if err != nil {
		return fmt.Errorf("FAT32 content %s: %w", n.src, err)
	}
	defer f.Close()
	off := g.clusterOff(n.cluster)
	ow := io.NewOffsetWriter(w, off)
	copied, err := io.Copy(ow, io.LimitReader(f, n.size))
	if err != nil {
		return fmt.Errorf("FAT32 file /%s at offset %d: %w", n.src, off+copied, err)
	}
	if copied != n.size {
		return fmt.Errorf("FAT32 file /%s: read %d bytes, stat said %d", n.src, copied, n.size)
	}
	// Zero the tail of the last cluster so the volume is a function of its
	// content only.
	if pad := int64(n.nclust)*g.clusterBytes() - n.size; pad > 0 {
		return writeAtFull(w, make([]byte, pad), off+n.size, "FAT32 file tail /"+n.src)
	}
	return nil
}

func writeAtFull(w io.WriterAt, b []byte, off int64, what string) error {
	n, err := w.WriteAt(b, off)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("write %s (%d bytes) at offset %d: %w", what, len(b), off+int64(n), err)
	}
	return nil
}

// fatBootSector is the FAT32 BPB (fatgen103 pp. 9-13).
func fatBootSector(g fatGeometry, label string, opts FATOptions) []byte {
	b := make([]byte, fatSector)
	le := binary.LittleEndian
	copy(b[0:], []byte{0xeb, 0x58, 0x90}) // jmp over the BPB, nop
	copy(b[3:11], "NEEDLE  ")
	le.PutUint16(b[11:], fatSector)
	b[13] = byte(g.spc)
	le.PutUint16(b[14:], fatReserved)
	b[16] = fatCount
	b[21] = 0xf8              // media: fixed disk
	le.PutUint16(b[24:], 63)  // sectors per track, only for CHS-era tools
	le.PutUint16(b[26:], 255) // heads
	le.PutUint32(b[28:], opts.Hidden)
	le.PutUint32(b[32:], g.totalSectors)
	le.PutUint32(b[36:], g.fatSectors)
	le.PutUint32(b[44:], 2) // root cluster
	le.PutUint16(b[48:], 1) // FSInfo sector
	le.PutUint16(b[50:], 6) // backup boot sector
	b[64] = 0x80            // drive number
	b[66] = 0x29            // extended boot signature: the next three fields exist
	le.PutUint32(b[67:], opts.VolumeID)
	vl := label
	if vl == "" {
		vl = "NO NAME"
	}
	copy(b[71:82], fmt.Sprintf("%-11s", vl))
	copy(b[82:90], "FAT32   ")
	// Boot code: print nothing and halt; firmware never runs it on UEFI.
	copy(b[90:], []byte{0xfa, 0xf4, 0xeb, 0xfd}) // cli; hlt; jmp $-1
	b[510], b[511] = 0x55, 0xaa
	return b
}

// fatFSInfo is the FSInfo sector (fatgen103 p.21).
func fatFSInfo(free, next uint32) []byte {
	b := make([]byte, fatSector)
	le := binary.LittleEndian
	le.PutUint32(b[0:], 0x41615252)
	le.PutUint32(b[484:], 0x61417272)
	le.PutUint32(b[488:], free)
	le.PutUint32(b[492:], next)
	le.PutUint32(b[508:], 0xaa550000)
	return b
}

func dirEntry(name [11]byte, attr byte, cluster, size uint32, stamp [2]uint16) []byte {
	e := make([]byte, dirEntrySize)
	le := binary.LittleEndian
	copy(e[0:11], name[:])
	e[11] = attr
	le.PutUint16(e[14:], stamp[1]) // creation time
	le.PutUint16(e[16:], stamp[0]) // creation date
	le.PutUint16(e[18:], stamp[0]) // last access date
	le.PutUint16(e[20:], uint16(cluster>>16))
	le.PutUint16(e[22:], stamp[1])
	le.PutUint16(e[24:], stamp[0])
	le.PutUint16(e[26:], uint16(cluster))
	le.PutUint32(e[28:], size)
	return e
}

// dosTime is {date, time} in FAT's encoding, which starts in 1980.
func dosTime(t time.Time) [2]uint16 {
	y := max(t.Year(), 1980)
	d := uint16((y-1980)<<9 | int(t.Month())<<5 | t.Day())
	tm := uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	return [2]uint16{d, tm}
}

func fatLabel(l string) (string, error) {
	l = strings.ToUpper(l)
	if len(l) > 11 {
		return "", fmt.Errorf("FAT32 label %q: longer than 11 characters", l)
	}
	for _, r := range l {
		if r < 0x20 || r > 0x7e || strings.ContainsRune(`"*+,./:;<=>?[\]|`, r) {
			return "", fmt.Errorf("FAT32 label %q: character %q not allowed", l, r)
		}
	}
	return l, nil
}

// shortName gives the 8.3 name for name: the name itself when it already is
// a valid upper-case 8.3 name, else an alias "BASIS~N.EXT" (N unique among
// used) with lfn set, as Windows and mkfs.fat's mcopy do.
func shortName(name string, used map[[11]byte]bool) ([11]byte, bool, error) {
	var sn [11]byte
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") || len(utf16.Encode([]rune(name))) > 255 {
		return sn, false, fmt.Errorf("name %q not allowed on FAT", name)
	}
	base, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		base, ext = name[:i], name[i+1:]
	}
	valid83 := len(base) >= 1 && len(base) <= 8 && len(ext) <= 3 && name == strings.ToUpper(name) &&
		!strings.Contains(base, ".") && okShort(base) && okShort(ext)
	if valid83 {
		copy(sn[:], fmt.Sprintf("%-8s%-3s", base, ext))
		if used[sn] {
			return sn, false, fmt.Errorf("duplicate name %q", name)
		}
		return sn, false, nil
	}
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(s) {
			if b.Len() == n {
				break
			}
			switch {
			case r == ' ' || r == '.':
			case r < 0x80 && okShort(string(r)):
				b.WriteRune(r)
			default:
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	b, e := clean(base, 6), clean(ext, 3)
	if b == "" {
		b = "_"
	}
	for i := 1; i < 1000000; i++ {
		tail := fmt.Sprintf("~%d", i)
		bb := b
		if len(bb)+len(tail) > 8 {
			bb = bb[:8-len(tail)]
		}
		copy(sn[:], fmt.Sprintf("%-8s%-3s", bb+tail, e))
		if !used[sn] {
			return sn, true, nil
		}
	}
	return sn, false, errors.New("no free short name")
}

func okShort(s string) bool {
	for _, r := range s {
		if r <= 0x20 || r >= 0x7f || strings.ContainsRune(`"*+,./:;<=>?[\]|`, r) || (r >= 'a' && r <= 'z') {
			return false
		}
	}
	return true
}

func lfnCount(n *fatNode) int {
	if !n.lfn {
		return 0
	}
	return (len(utf16.Encode([]rune(n.name))) + 12) / 13
}

// lfnEntries are the long-name entries for name, last part first, each
// carrying the checksum of the short name (fatgen103 pp. 27-30).
func lfnEntries(name string, short [11]byte) [][]byte {
	var sum byte
	for _, c := range short {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	u := utf16.Encode([]rune(name))
	count := (len(u) + 12) / 13
	// Pad: one 0x0000 terminator unless the name fills the last entry, then 0xFFFF.
	padded := make([]uint16, count*13)
	for i := range padded {
		switch {
		case i < len(u):
			padded[i] = u[i]
		case i == len(u):
			padded[i] = 0
		default:
			padded[i] = 0xffff
		}
	}
	slots := []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
	out := make([][]byte, 0, count)
	for ord := count; ord >= 1; ord-- {
		e := make([]byte, dirEntrySize)
		e[0] = byte(ord)
		if ord == count {
			e[0] |= 0x40
		}
		e[11] = attrLFN
		e[13] = sum
		part := padded[(ord-1)*13 : ord*13]
		for i, off := range slots {
			binary.LittleEndian.PutUint16(e[off:], part[i])
		}
		out = append(out, e)
	}
	return out
}
