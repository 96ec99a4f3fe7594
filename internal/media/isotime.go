package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// isoTime is every timestamp of needle's ISO, as the FAT images have
// (disk.MakeFAT32): the same inputs give the same bytes.
var isoTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// isoFile is what fixISOTimes reads and patches.
type isoFile interface {
	io.ReaderAt
	io.WriterAt
}

// fixISOTimes rewrites the timestamps of a finished ISO9660 image to t.
// go-diskfs v1.9.4 stamps the volume descriptors and the El Torito boot
// catalog's entry with time.Now() and every other entry with its source
// file's mtime, and has no option to say otherwise; this pass is the
// workaround. It patches, by ECMA-119 (4th ed.): the four 17-byte dates of
// each primary and supplementary volume descriptor (§8.4.26–29) and the
// root record in them (§8.4.18); the 7-byte recording date of every
// directory record (§9.1.5), walking the tree from the root; and the Rock
// Ridge TF entries in their System Use fields, following CE continuation
// areas (RRIP 1.12 §4.1.6, SUSP 1.12 §5.1).
func fixISOTimes(f isoFile, t time.Time) error {
	const sector = 2048
	long, short := isoLongDate(t), isoShortDate(t)
	buf := make([]byte, sector)
	var roots [][2]uint32
	for lba := int64(16); ; lba++ {
		if _, err := f.ReadAt(buf, lba*sector); err != nil {
			return fmt.Errorf("volume descriptor at sector %d: %w", lba, err)
		}
		if string(buf[1:6]) != "CD001" {
			return fmt.Errorf("sector %d: no volume descriptor (%q)", lba, buf[1:6])
		}
		typ := buf[0]
		if typ == 255 {
			break
		}
		if typ != 1 && typ != 2 {
			continue
		}
		for _, off := range []int{813, 830, 847, 864} {
			copy(buf[off:off+17], long)
		}
		copy(buf[156+18:156+25], short)
		roots = append(roots, [2]uint32{binary.LittleEndian.Uint32(buf[156+2:]), binary.LittleEndian.Uint32(buf[156+10:])})
		if _, err := f.WriteAt(buf, lba*sector); err != nil {
			return err
		}
		if lba > 64 {
			return errors.New("no volume descriptor set terminator in the first 64 sectors")
		}
	}
	w := isoWalker{f: f, short: short, long: long, seen: map[uint32]bool{}}
	for _, r := range roots {
		if err := w.dir(r[0], r[1]); err != nil {
			return err
		}
	}
	return nil
}

type isoWalker struct {
	f           isoFile
	short, long []byte
	seen        map[uint32]bool
}

// dir patches the records of the directory extent at lba and descends into
// its subdirectories.
func (w *isoWalker) dir(lba, size uint32) error {
	if w.seen[lba] {
		return nil
	}
	w.seen[lba] = true
	if size > 64<<20 {
		return fmt.Errorf("directory at sector %d claims %d bytes", lba, size)
	}
	b := make([]byte, size)
	if _, err := w.f.ReadAt(b, int64(lba)*2048); err != nil {
		return fmt.Errorf("directory at sector %d: %w", lba, err)
	}
	var subdirs [][2]uint32
	for off := 0; off < len(b); {
		n := int(b[off])
		if n == 0 { // records do not cross sectors: skip the padding
			off = (off/2048 + 1) * 2048
			continue
		}
		if n < 34 || off+n > len(b) {
			return fmt.Errorf("directory at sector %d: bad record of %d bytes at %d", lba, n, off)
		}
		r := b[off : off+n]
		copy(r[18:25], w.short)
		nameLen := int(r[32])
		su := 33 + nameLen
		if nameLen%2 == 0 {
			su++ // the padding byte after an even-length name
		}
		if su <= n {
			if err := w.susp(r[su:]); err != nil {
				return fmt.Errorf("directory at sector %d, record at %d: %w", lba, off, err)
			}
		}
		dot := nameLen == 1 && (r[33] == 0 || r[33] == 1)
		if r[25]&2 != 0 && !dot {
			subdirs = append(subdirs, [2]uint32{binary.LittleEndian.Uint32(r[2:]), binary.LittleEndian.Uint32(r[10:])})
		}
		off += n
	}
	if _, err := w.f.WriteAt(b, int64(lba)*2048); err != nil {
		return err
	}
	for _, d := range subdirs {
		if err := w.dir(d[0], d[1]); err != nil {
			return err
		}
	}
	return nil
}

// susp patches the TF entries of a System Use area and of the continuation
// areas its CE entries point to.
func (w *isoWalker) susp(b []byte) error {
	for len(b) >= 4 {
		sig, n := string(b[:2]), int(b[2])
		if n < 4 || n > len(b) {
			return nil // the rest is padding, not SUSP
		}
		e := b[:n]
		switch sig {
		case "TF":
			if n < 5 {
				return fmt.Errorf("TF entry of %d bytes", n)
			}
			flags := e[4]
			stamp := w.short
			if flags&0x80 != 0 {
				stamp = w.long
			}
			at := 5
			for bit := 0; bit < 7; bit++ {
				if flags&(1<<bit) == 0 {
					continue
				}
				if at+len(stamp) > n {
					return fmt.Errorf("TF entry of %d bytes too short for its flags %#x", n, flags)
				}
				copy(e[at:], stamp)
				at += len(stamp)
			}
		case "CE":
			if n < 28 {
				return fmt.Errorf("CE entry of %d bytes", n)
			}
			lba, off, size := binary.LittleEndian.Uint32(e[4:]), binary.LittleEndian.Uint32(e[12:]), binary.LittleEndian.Uint32(e[20:])
			if size > 2048 {
				return fmt.Errorf("CE continuation of %d bytes", size)
			}
			c := make([]byte, size)
			pos := int64(lba)*2048 + int64(off)
			if _, err := w.f.ReadAt(c, pos); err != nil {
				return fmt.Errorf("CE continuation at sector %d: %w", lba, err)
			}
			if err := w.susp(c); err != nil {
				return err
			}
			if _, err := w.f.WriteAt(c, pos); err != nil {
				return err
			}
		case "ST":
			return nil
		}
		b = b[n:]
	}
	return nil
}

// isoShortDate is the 7-byte recording date (ECMA-119 §9.1.5): years since
// 1900, month, day, hour, minute, second, offset from GMT in 15 min.
func isoShortDate(t time.Time) []byte {
	t = t.UTC()
	return []byte{byte(t.Year() - 1900), byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second()), 0}
}

// isoLongDate is the 17-byte volume date (ECMA-119 §8.4.26.1): 16 digits
// YYYYMMDDHHMMSScc and the offset from GMT.
func isoLongDate(t time.Time) []byte {
	t = t.UTC()
	return append([]byte(t.Format("20060102150405")+"00"), 0)
}
