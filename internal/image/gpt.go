package image

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// GPT header fields, UEFI 2.10 §5.3.2 table 5.21.
const (
	gptSig          = "EFI PART"
	gptHdrSizeOff   = 12
	gptHdrCRCOff    = 16
	gptMyLBAOff     = 24
	gptAltLBAOff    = 32
	gptLastUsable   = 48
	gptEntriesLBA   = 72
	gptNumEntries   = 80
	gptEntrySize    = 84
	gptEntriesCRC   = 88
	mbrEntry0       = 446
	mbrTypeOff      = 4
	mbrSizeOff      = 12
	mbrProtectiveGP = 0xee
)

// relocateGPT moves a whole-disk image's backup GPT from the end of the
// image to the end of a larger target, as `sgdisk -e` does: the primary
// header (inside head, which the caller writes last) gets the new backup
// LBA, the new last usable LBA and fresh CRCs; the backup entries and header
// are written at the target's end now. Without this the kernel and firmware
// see a GPT whose backup is missing ("GPT: Alternate GPT header not at the
// end of the disk", block/partitions/efi.c) and the space past the image is
// unusable. It returns false when head holds no GPT.
func relocateGPT(dst io.WriterAt, head []byte, imageEnd, diskSize int64) (bool, int, error) {
	ss := 0
	for _, s := range []int{512, 4096} {
		if len(head) >= 2*s && string(head[s:s+8]) == gptSig {
			ss = s
			break
		}
	}
	if ss == 0 {
		return false, 0, nil
	}
	hdr := head[ss : 2*ss]
	le := binary.LittleEndian
	hsize := le.Uint32(hdr[gptHdrSizeOff:])
	if hsize < 92 || int(hsize) > ss {
		return false, ss, fmt.Errorf("primary GPT header size %d out of range", hsize)
	}
	if got, want := headerCRC(hdr[:hsize]), le.Uint32(hdr[gptHdrCRCOff:]); got != want {
		return false, ss, fmt.Errorf("primary GPT header CRC %#08x, computed %#08x", want, got)
	}
	entLBA := int64(le.Uint64(hdr[gptEntriesLBA:]))
	n, esz := int64(le.Uint32(hdr[gptNumEntries:])), int64(le.Uint32(hdr[gptEntrySize:]))
	if esz < 128 || esz > 4096 || n > 1<<16 || entLBA < 2 || entLBA > int64(len(head)) {
		return false, ss, fmt.Errorf("GPT entries at LBA %d, %d×%d bytes: out of range", entLBA, n, esz)
	}
	entLen := n * esz
	entOff := entLBA * int64(ss)
	if entOff+entLen > int64(len(head)) {
		return false, ss, fmt.Errorf("GPT entries (LBA %d, %d×%d bytes) are not inside the first %d bytes", entLBA, n, esz, len(head))
	}
	entries := head[entOff : entOff+entLen]
	if got, want := crc32.ChecksumIEEE(entries), le.Uint32(hdr[gptEntriesCRC:]); got != want {
		return false, ss, fmt.Errorf("GPT entries CRC %#08x, computed %#08x", want, got)
	}
	lastLBA := diskSize/int64(ss) - 1
	oldAlt := int64(le.Uint64(hdr[gptAltLBAOff:]))
	if oldAlt == lastLBA {
		return false, ss, nil
	}
	entSectors := (entLen + int64(ss) - 1) / int64(ss)
	backupEntLBA := lastLBA - entSectors
	for i := range n {
		e := entries[i*esz : (i+1)*esz]
		if end := int64(le.Uint64(e[40:])); end >= backupEntLBA {
			return false, ss, fmt.Errorf("GPT partition %d ends at LBA %d, past the new last usable LBA %d", i+1, end, backupEntLBA-1)
		}
	}

	le.PutUint64(hdr[gptAltLBAOff:], uint64(lastLBA))
	le.PutUint64(hdr[gptLastUsable:], uint64(backupEntLBA-1))
	le.PutUint32(hdr[gptHdrCRCOff:], headerCRC(hdr[:hsize]))

	backup := make([]byte, ss)
	copy(backup, hdr[:hsize])
	le.PutUint64(backup[gptMyLBAOff:], uint64(lastLBA))
	le.PutUint64(backup[gptAltLBAOff:], 1)
	le.PutUint64(backup[gptEntriesLBA:], uint64(backupEntLBA))
	le.PutUint32(backup[gptHdrCRCOff:], headerCRC(backup[:hsize]))

	if err := writeFull(dst, entries, backupEntLBA*int64(ss)); err != nil {
		return false, ss, fmt.Errorf("backup GPT entries: %w", err)
	}
	if err := writeFull(dst, backup, lastLBA*int64(ss)); err != nil {
		return false, ss, fmt.Errorf("backup GPT header: %w", err)
	}
	// The image's own backup header now sits in the middle of the disk; a
	// stale "EFI PART" there would only confuse recovery tools.
	if off := oldAlt * int64(ss); off >= int64(len(head)) && off+int64(ss) <= imageEnd {
		if err := writeFull(dst, make([]byte, ss), off); err != nil {
			return false, ss, fmt.Errorf("clear old backup GPT header: %w", err)
		}
	}
	// Protective MBR: its one partition covers the disk, capped at 2^32-1
	// sectors (UEFI 2.10 §5.2.3).
	pm := head[mbrEntry0:]
	if pm[mbrTypeOff] == mbrProtectiveGP {
		le.PutUint32(pm[mbrSizeOff:], uint32(min(lastLBA, 0xffffffff)))
	}
	return true, ss, nil
}

// headerCRC is the CRC32 of the header with its CRC field taken as zero.
func headerCRC(h []byte) uint32 {
	c := bytes.Clone(h)
	binary.LittleEndian.PutUint32(c[gptHdrCRCOff:], 0)
	return crc32.ChecksumIEEE(c)
}
