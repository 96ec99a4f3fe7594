// Package md writes, reads and assembles Linux software RAID (md) arrays
// with version 1.2 superblocks, natively in Go, so that the ramdisk needs no
// mdadm: Plan computes the superblocks mdadm --create would write, Create
// writes them onto the member disks, Assemble starts the array through the
// kernel's md sysfs interface, and ConfLine names the array for the installed
// system's mdadm.conf.
//
// The on-disk format is struct mdp_superblock_1 of the kernel's
// include/uapi/linux/raid/md_p.h, read by super_1_load in drivers/md/md.c;
// the layout choices (data offset, bad-block log, sizes) follow mdadm's
// super1.c and Create.c so that mdadm on the installed system treats the
// array as one of its own.
package md

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Format constants from include/uapi/linux/raid/md_p.h.
const (
	Magic        = 0xa92b4efc
	MaxSector    = ^uint64(0) // resync_offset of an array known to be in sync
	sbFixedSize  = 256        // sizeof(struct mdp_superblock_1) without dev_roles
	sbAreaSize   = 4096       // the kernel always reads 4 KiB (super_1_load)
	maxDevLimit  = (sbAreaSize - sbFixedSize) / 2
	superOffset2 = 8 // v1.2: superblock 4 KiB from the start of the device, in sectors
	sectorSize   = 512

	// dev_roles values other than an active slot number.
	RoleSpare   = 0xffff
	RoleFaulty  = 0xfffe
	RoleJournal = 0xfffd
	roleMax     = 0xff00

	// feature_map bits.
	FeatureBitmapOffset   = 1
	FeatureRecoveryOffset = 2
	FeatureReshapeActive  = 4
	FeatureBadBlocks      = 8
	FeatureRAID0Layout    = 4096
	featureAll            = 8191

	// devflags bits.
	WriteMostly1 = 1
	FailFast1    = 2
)

// UUID is an md array or device UUID, stored as 16 raw bytes.
type UUID [16]byte

// String formats u the way mdadm prints it for 1.x metadata (--examine,
// --detail, mdadm.conf): four groups of eight hex digits joined by colons,
// bytes in on-disk order.
func (u UUID) String() string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + ":" + h[8:16] + ":" + h[16:24] + ":" + h[24:32]
}

// ParseUUID reads mdadm's colon form (or the 32 hex digits with any of
// ':', '-', '.' or ' ' as separators).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ':', '-', '.', ' ':
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(clean)
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("md: uuid %q: want 32 hex digits", s)
	}
	copy(u[:], b)
	return u, nil
}

// Superblock is a decoded struct mdp_superblock_1. Sizes and offsets are in
// 512-byte sectors, as on disk.
type Superblock struct {
	FeatureMap      uint32
	SetUUID         UUID
	SetName         string // "homehost:name" or "name"
	CTime           uint64 // low 40 bits seconds, high 24 bits microseconds
	Level           int32  // -1 linear, 0, 1, 4, 5, 6, 10
	Layout          uint32
	Size            uint64 // used size of each component
	ChunkSize       uint32
	RaidDisks       uint32
	BitmapOffset    uint32 // signed on disk; meaningful with FeatureBitmapOffset
	NewLevel        uint32
	ReshapePosition uint64
	DeltaDisks      uint32
	NewLayout       uint32
	NewChunk        uint32
	NewOffset       uint32

	DataOffset       uint64
	DataSize         uint64
	SuperOffset      uint64
	RecoveryOffset   uint64
	DevNumber        uint32
	CntCorrectedRead uint32
	DeviceUUID       UUID
	DevFlags         uint8
	BBLogShift       uint8
	BBLogSize        uint16
	BBLogOffset      uint32 // signed on disk, relative to the superblock

	UTime        uint64
	Events       uint64
	ResyncOffset uint64
	Checksum     uint32 // sb_csum as stored; Marshal recomputes it
	MaxDev       uint32
	DevRoles     []uint16 // MaxDev entries, indexed by dev_number
}

// Clean reports whether the array was marked in sync (mdadm --examine's
// "State : clean"; anything else it prints as "active").
func (s *Superblock) Clean() bool { return s.ResyncOffset == MaxSector }

// Role is this device's role: its slot number when active, or RoleSpare,
// RoleFaulty, RoleJournal (mdadm's role_from_sb).
func (s *Superblock) Role() uint16 {
	if s.DevNumber < uint32(len(s.DevRoles)) {
		return s.DevRoles[s.DevNumber]
	}
	return RoleSpare
}

// ErrChecksum is returned by Parse for a superblock whose sb_csum does not
// match its contents.
var ErrChecksum = errors.New("superblock checksum mismatch")

// ErrNoSuperblock is returned by Parse when the magic is absent.
var ErrNoSuperblock = errors.New("no md v1 superblock")

// size is the number of bytes the checksum covers and mdadm writes
// (rounded up to a sector).
func (s *Superblock) size() int {
	n := sbFixedSize + 2*int(s.MaxDev)
	return (n + sectorSize - 1) &^ (sectorSize - 1)
}

// Marshal encodes s into a 4 KiB block (the area the kernel reads), with
// sb_csum computed over it as calc_sb_1_csum does; s.Checksum is updated.
func (s *Superblock) Marshal() ([]byte, error) {
	if s.MaxDev > maxDevLimit {
		return nil, fmt.Errorf("md: max_dev %d exceeds %d", s.MaxDev, maxDevLimit)
	}
	if len(s.DevRoles) != int(s.MaxDev) {
		return nil, fmt.Errorf("md: %d dev_roles for max_dev %d", len(s.DevRoles), s.MaxDev)
	}
	if len(s.SetName) > 32 {
		return nil, fmt.Errorf("md: set_name %q longer than 32 bytes", s.SetName)
	}
	b := make([]byte, sbAreaSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], Magic)
	le.PutUint32(b[4:], 1)
	le.PutUint32(b[8:], s.FeatureMap)
	copy(b[16:32], s.SetUUID[:])
	copy(b[32:64], s.SetName)
	le.PutUint64(b[64:], s.CTime)
	le.PutUint32(b[72:], uint32(s.Level))
	le.PutUint32(b[76:], s.Layout)
	le.PutUint64(b[80:], s.Size)
	le.PutUint32(b[88:], s.ChunkSize)
	le.PutUint32(b[92:], s.RaidDisks)
	le.PutUint32(b[96:], s.BitmapOffset)
	le.PutUint32(b[100:], s.NewLevel)
	le.PutUint64(b[104:], s.ReshapePosition)
	le.PutUint32(b[112:], s.DeltaDisks)
	le.PutUint32(b[116:], s.NewLayout)
	le.PutUint32(b[120:], s.NewChunk)
	le.PutUint32(b[124:], s.NewOffset)
	le.PutUint64(b[128:], s.DataOffset)
	le.PutUint64(b[136:], s.DataSize)
	le.PutUint64(b[144:], s.SuperOffset)
	le.PutUint64(b[152:], s.RecoveryOffset)
	le.PutUint32(b[160:], s.DevNumber)
	le.PutUint32(b[164:], s.CntCorrectedRead)
	copy(b[168:184], s.DeviceUUID[:])
	b[184] = s.DevFlags
	b[185] = s.BBLogShift
	le.PutUint16(b[186:], s.BBLogSize)
	le.PutUint32(b[188:], s.BBLogOffset)
	le.PutUint64(b[192:], s.UTime)
	le.PutUint64(b[200:], s.Events)
	le.PutUint64(b[208:], s.ResyncOffset)
	le.PutUint32(b[220:], s.MaxDev)
	for i, r := range s.DevRoles {
		le.PutUint16(b[sbFixedSize+2*i:], r)
	}
	s.Checksum = checksum(b)
	le.PutUint32(b[216:], s.Checksum)
	return b, nil
}

// checksum is calc_sb_1_csum (drivers/md/md.c): the sum of the little-endian
// 32-bit words of the first 256+2*max_dev bytes with sb_csum taken as zero,
// a trailing 16-bit word added alone, folded from 64 to 32 bits once.
func checksum(b []byte) uint32 {
	le := binary.LittleEndian
	n := sbFixedSize + 2*int(le.Uint32(b[220:]))
	var sum uint64
	i := 0
	for ; n-i >= 4; i += 4 {
		if i == 216 {
			continue // sb_csum itself counts as zero
		}
		sum += uint64(le.Uint32(b[i:]))
	}
	if n-i == 2 {
		sum += uint64(le.Uint16(b[i:]))
	}
	return uint32(sum&0xffffffff) + uint32(sum>>32)
}

// Parse decodes a v1 superblock from b, which starts at the superblock
// (offset 4096 of a v1.2 member). It applies the kernel's super_1_load
// sanity checks: magic, major version 1, max_dev, known feature bits, zero
// padding and the checksum.
func Parse(b []byte) (*Superblock, error) {
	if len(b) < sbFixedSize {
		return nil, fmt.Errorf("md: superblock: %d bytes, need %d", len(b), sbFixedSize)
	}
	le := binary.LittleEndian
	if m := le.Uint32(b[0:]); m != Magic {
		return nil, fmt.Errorf("md: magic %#08x: %w", m, ErrNoSuperblock)
	}
	if v := le.Uint32(b[4:]); v != 1 {
		return nil, fmt.Errorf("md: superblock major_version %d, want 1", v)
	}
	s := &Superblock{
		FeatureMap:       le.Uint32(b[8:]),
		CTime:            le.Uint64(b[64:]),
		Level:            int32(le.Uint32(b[72:])),
		Layout:           le.Uint32(b[76:]),
		Size:             le.Uint64(b[80:]),
		ChunkSize:        le.Uint32(b[88:]),
		RaidDisks:        le.Uint32(b[92:]),
		BitmapOffset:     le.Uint32(b[96:]),
		NewLevel:         le.Uint32(b[100:]),
		ReshapePosition:  le.Uint64(b[104:]),
		DeltaDisks:       le.Uint32(b[112:]),
		NewLayout:        le.Uint32(b[116:]),
		NewChunk:         le.Uint32(b[120:]),
		NewOffset:        le.Uint32(b[124:]),
		DataOffset:       le.Uint64(b[128:]),
		DataSize:         le.Uint64(b[136:]),
		SuperOffset:      le.Uint64(b[144:]),
		RecoveryOffset:   le.Uint64(b[152:]),
		DevNumber:        le.Uint32(b[160:]),
		CntCorrectedRead: le.Uint32(b[164:]),
		DevFlags:         b[184],
		BBLogShift:       b[185],
		BBLogSize:        le.Uint16(b[186:]),
		BBLogOffset:      le.Uint32(b[188:]),
		UTime:            le.Uint64(b[192:]),
		Events:           le.Uint64(b[200:]),
		ResyncOffset:     le.Uint64(b[208:]),
		Checksum:         le.Uint32(b[216:]),
		MaxDev:           le.Uint32(b[220:]),
	}
	copy(s.SetUUID[:], b[16:32])
	copy(s.DeviceUUID[:], b[168:184])
	s.SetName = strings.TrimRight(string(b[32:64]), "\x00")
	if i := strings.IndexByte(s.SetName, 0); i >= 0 {
		s.SetName = s.SetName[:i]
	}
	if s.MaxDev > maxDevLimit {
		return nil, fmt.Errorf("md: superblock max_dev %d exceeds %d", s.MaxDev, maxDevLimit)
	}
	need := sbFixedSize + 2*int(s.MaxDev)
	if len(b) < need {
		return nil, fmt.Errorf("md: superblock with max_dev %d needs %d bytes, have %d", s.MaxDev, need, len(b))
	}
	if f := s.FeatureMap &^ featureAll; f != 0 {
		return nil, fmt.Errorf("md: superblock feature_map %#x has unknown bits %#x", s.FeatureMap, f)
	}
	if le.Uint32(b[12:]) != 0 {
		return nil, fmt.Errorf("md: superblock pad0 is not zero")
	}
	for _, c := range b[224:256] {
		if c != 0 {
			return nil, fmt.Errorf("md: superblock pad3 is not zero")
		}
	}
	if got := checksum(b); got != s.Checksum {
		return nil, fmt.Errorf("md: sb_csum %#08x, computed %#08x: %w", s.Checksum, got, ErrChecksum)
	}
	s.DevRoles = make([]uint16, s.MaxDev)
	for i := range s.DevRoles {
		s.DevRoles[i] = le.Uint16(b[sbFixedSize+2*i:])
	}
	return s, nil
}
