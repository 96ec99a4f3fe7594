package md

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Level is an md RAID level as stored in the superblock.
type Level int32

// The levels Create supports.
const (
	RAID0  Level = 0
	RAID1  Level = 1
	RAID5  Level = 5
	RAID10 Level = 10
)

// String is the name mdadm uses (--level, "Raid Level :").
func (l Level) String() string {
	switch l {
	case RAID0, RAID1, RAID5, RAID10:
		return fmt.Sprintf("raid%d", int32(l))
	}
	return fmt.Sprintf("level(%d)", int32(l))
}

// ParseLevel accepts "raid1", "1", "mirror", "raid10", "10", "raid0",
// "stripe", "raid5", "5".
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(s) {
	case "0", "raid0", "stripe":
		return RAID0, nil
	case "1", "raid1", "mirror":
		return RAID1, nil
	case "5", "raid5":
		return RAID5, nil
	case "10", "raid10":
		return RAID10, nil
	}
	return 0, fmt.Errorf("md: unsupported level %q (want raid0, raid1, raid5 or raid10)", s)
}

// Module is the kernel module holding the level's md personality.
func (l Level) Module() string {
	switch l {
	case RAID5:
		return "raid456"
	default:
		return l.String()
	}
}

// Layout defaults mdadm uses (mdadm.h, Grow.c map "layouts"):
const (
	// RAID10 near=2, far=1: (far_copies << 8) | near_copies.
	LayoutRAID10Near2 = 0x102
	// RAID5 left-symmetric (ALGORITHM_LEFT_SYMMETRIC in raid5.h).
	LayoutRAID5LeftSymmetric = 2
	// RAID0 "original" layout: mdadm records it (with FeatureRAID0Layout)
	// on kernels >= 5.4 so that multi-zone arrays are unambiguous.
	LayoutRAID0Original = 1

	defaultChunkKiB = 512 // mdadm.h DEFAULT_CHUNK
	maxDevices      = 128 // max_dev mdadm writes for up to 128 members
)

// Options describe the array to create.
type Options struct {
	Level Level
	// Name is the array name, e.g. "os"; with HomeHost the superblock's
	// set_name is "HomeHost:Name", as mdadm --create --homehost writes it.
	Name     string
	HomeHost string
	// UUID is the array UUID; zero means random from Rand.
	UUID UUID
	// ChunkKiB is the chunk size for RAID0/5/10 (default 512, mdadm's);
	// it must be zero for RAID1.
	ChunkKiB int
	// DataOffset in sectors; zero means mdadm's choice for the first member
	// (reshape headroom of about 0.1% up to 128 MiB, rounded to 1 MiB).
	DataOffset uint64
	// AssumeClean marks the array in sync (resync_offset = MaxSector), as
	// mdadm --assume-clean. The default leaves it dirty so that the kernel
	// runs the initial resync once assembled, as plain mdadm --create does.
	AssumeClean bool
	// Now and Rand make runs reproducible in tests; defaults: time.Now and
	// crypto/rand.Reader (device UUIDs, and the array UUID when zero).
	Now  func() time.Time
	Rand io.Reader
}

// Array is the geometry Plan computed and the superblocks to write, one per
// member in the order given (member i gets dev_number i and role i).
type Array struct {
	Level       Level
	Layout      uint32
	UUID        UUID
	SetName     string
	ChunkSize   uint32 // sectors
	DataOffset  uint64 // sectors
	Size        uint64 // sectors used on each member
	ArraySize   uint64 // sectors of the assembled array
	Superblocks []*Superblock
}

// setName builds set_name as mdadm's init_super1 does: "homehost:name" when
// the name has no ':' and the pair fits in 31 bytes, otherwise the name.
func setName(name, homehost string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("md: array name is empty")
	}
	if strings.ContainsAny(name, "/ \t\n\x00") {
		return "", fmt.Errorf("md: array name %q has '/', a space or a NUL", name)
	}
	if homehost != "" && !strings.Contains(name, ":") {
		if strings.ContainsAny(homehost, ": \t\n/\x00") {
			return "", fmt.Errorf("md: homehost %q has ':', '/', a space or a NUL", homehost)
		}
		full := homehost + ":" + name
		if len(full) >= 32 {
			return "", fmt.Errorf("md: set_name %q is %d bytes, limit 31", full, len(full))
		}
		return full, nil
	}
	if len(name) >= 32 {
		return "", fmt.Errorf("md: array name %q is %d bytes, limit 31", name, len(name))
	}
	return name, nil
}

// chooseBMSpace is choose_bm_space from mdadm's super1.c (and the kernel's
// super_1_choose_bm_space): the room reserved after the superblock for an
// internal bitmap, in sectors.
func chooseBMSpace(devSectors uint64) uint64 {
	switch {
	case devSectors < 64*2:
		return 0
	case devSectors-64*2 >= 200*1024*1024*2:
		return 128 * 2
	case devSectors-4*2 > 8*1024*1024*2:
		return 64 * 2
	}
	return 4 * 2
}

// defaultDataOffset is validate_geometry1's choice for v1.1/1.2 in mdadm's
// super1.c: 12 KiB of metadata, the bitmap space and reshape headroom of
// about 0.1% of the device (at most 128 MiB, at least two chunks when the
// level has chunks), rounded up to 1 MiB.
func defaultDataOffset(devSectors uint64, chunkKiB uint64) uint64 {
	headroom := uint64(128 * 1024 * 2)
	for headroom<<10 > devSectors && (chunkKiB == 0 || headroom/2 >= chunkKiB*2*2) {
		headroom >>= 1
	}
	off := 12*2 + chooseBMSpace(devSectors) + headroom
	const oneMiB = 2 * 1024
	return (off + oneMiB - 1) / oneMiB * oneMiB
}

// Plan computes the superblocks for an array over members of the given
// sizes in bytes, as mdadm --create --metadata=1.2 would (without an
// internal bitmap: the kernel resyncs the whole array after an unclean
// shutdown instead).
func Plan(sizes []int64, o Options) (*Array, error) {
	n := len(sizes)
	if err := checkMembers(o.Level, n, o.ChunkKiB); err != nil {
		return nil, err
	}
	name, err := setName(o.Name, o.HomeHost)
	if err != nil {
		return nil, err
	}
	chunkKiB := uint64(0)
	if o.Level != RAID1 {
		chunkKiB = defaultChunkKiB
		if o.ChunkKiB != 0 {
			chunkKiB = uint64(o.ChunkKiB)
		}
		if chunkKiB < 4 || chunkKiB&(chunkKiB-1) != 0 {
			return nil, fmt.Errorf("md: chunk %d KiB: want a power of two of at least 4 KiB", chunkKiB)
		}
	}
	for i, s := range sizes {
		if s <= 0 || s%sectorSize != 0 {
			return nil, fmt.Errorf("md: member %d: size %d bytes is not a positive multiple of 512", i, s)
		}
	}
	dataOffset := o.DataOffset
	if dataOffset == 0 {
		dataOffset = defaultDataOffset(uint64(sizes[0])/sectorSize, chunkKiB)
	}
	if dataOffset < superOffset2+16 {
		return nil, fmt.Errorf("md: data offset %d sectors overlaps the superblock (minimum 24)", dataOffset)
	}
	size, err := componentSize(sizes, dataOffset, chunkKiB, o.Level)
	if err != nil {
		return nil, err
	}

	a := &Array{Level: o.Level, SetName: name, ChunkSize: uint32(chunkKiB * 2), DataOffset: dataOffset, Size: size}
	var features uint32
	switch o.Level {
	case RAID1:
		a.ArraySize = size
	case RAID10:
		a.Layout = LayoutRAID10Near2
		// raid10_size: chunks per device times devices over near copies.
		chunks := size / uint64(a.ChunkSize)
		a.ArraySize = chunks * uint64(n) / 2 * uint64(a.ChunkSize)
	case RAID0:
		a.Layout = LayoutRAID0Original
		features |= FeatureRAID0Layout
		a.ArraySize = size * uint64(n)
	case RAID5:
		a.Layout = LayoutRAID5LeftSymmetric
		a.ArraySize = size * uint64(n-1)
	}

	rnd := o.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	a.UUID = o.UUID
	if a.UUID == (UUID{}) {
		if _, err := io.ReadFull(rnd, a.UUID[:]); err != nil {
			return nil, fmt.Errorf("md: array uuid: %w", err)
		}
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	ctime := uint64(now().Unix()) & (1<<40 - 1)
	resync := uint64(0)
	if o.AssumeClean {
		resync = MaxSector
	}
	bbSize, bbOffset := badBlockLog(dataOffset, size)
	for i, s := range sizes {
		sb := &Superblock{
			FeatureMap:   features,
			SetUUID:      a.UUID,
			SetName:      name,
			CTime:        ctime,
			Level:        int32(o.Level),
			Layout:       a.Layout,
			Size:         size,
			ChunkSize:    a.ChunkSize,
			RaidDisks:    uint32(n),
			DataOffset:   dataOffset,
			DataSize:     uint64(s)/sectorSize - dataOffset,
			SuperOffset:  superOffset2,
			DevNumber:    uint32(i),
			BBLogSize:    bbSize,
			BBLogOffset:  bbOffset,
			UTime:        ctime,
			Events:       0, // write_init_super1 starts every member at 0
			ResyncOffset: resync,
			MaxDev:       maxDevices,
			DevRoles:     make([]uint16, maxDevices),
		}
		if _, err := io.ReadFull(rnd, sb.DeviceUUID[:]); err != nil {
			return nil, fmt.Errorf("md: member %d: device uuid: %w", i, err)
		}
		for r := range sb.DevRoles {
			sb.DevRoles[r] = RoleSpare
		}
		for r := 0; r < n; r++ {
			sb.DevRoles[r] = uint16(r)
		}
		a.Superblocks = append(a.Superblocks, sb)
	}
	return a, nil
}

// checkMembers refuses a member count or chunk the level cannot take.
func checkMembers(level Level, n, chunkKiB int) error {
	switch level {
	case RAID1:
		if n < 2 {
			return fmt.Errorf("md: raid1 needs at least 2 members, have %d", n)
		}
		if chunkKiB != 0 {
			return fmt.Errorf("md: raid1 has no chunk size (got %d KiB)", chunkKiB)
		}
	case RAID10:
		if n < 2 {
			return fmt.Errorf("md: raid10 needs at least 2 members, have %d", n)
		}
	case RAID0:
		if n < 1 {
			return fmt.Errorf("md: raid0 needs at least 1 member")
		}
	case RAID5:
		if n < 3 {
			return fmt.Errorf("md: raid5 needs at least 3 members, have %d", n)
		}
	default:
		return fmt.Errorf("md: unsupported level %d", int32(level))
	}
	if n > maxDevices {
		return fmt.Errorf("md: %d members, limit %d", n, maxDevices)
	}
	return nil
}

// componentSize is the per-member data size in sectors: the smallest
// member's free space in KiB, rounded down to the chunk, or to 64 KiB for
// RAID1 (mdadm's Create.c, "if this is ever reshaped to RAID5, we will need
// a chunksize").
func componentSize(sizes []int64, dataOffset, chunkKiB uint64, level Level) (uint64, error) {
	var minKiB uint64
	for i, s := range sizes {
		sec := uint64(s) / sectorSize
		if sec <= dataOffset+64 {
			return 0, fmt.Errorf("md: member %d: %d sectors leave no room after data offset %d", i, sec, dataOffset)
		}
		free := (sec - dataOffset) / 2
		if chunkKiB != 0 {
			free &^= chunkKiB - 1
		}
		if i == 0 || free < minKiB {
			minKiB = free
		}
	}
	if level == RAID1 {
		minKiB &^= 64 - 1
	}
	if minKiB == 0 {
		return 0, fmt.Errorf("md: members too small for a %d KiB chunk", chunkKiB)
	}
	return minKiB * 2, nil
}

// badBlockLog places the bad-block log as mdadm's write_init_super1 does:
// 8 sectors right after the bitmap space when the data offset leaves room
// (4 KiB, none recorded: MD_FEATURE_BAD_BLOCKS stays clear so the kernel
// reads none).
func badBlockLog(dataOffset, size uint64) (sectors uint16, offset uint32) {
	bmSpace := chooseBMSpace(size)
	switch {
	case dataOffset >= superOffset2+8+bmSpace+8:
		return 8, uint32(8 + bmSpace)
	case dataOffset >= superOffset2+16:
		return 8, uint32(dataOffset - 8 - superOffset2)
	}
	return 0, 0
}

// Member is one disk of the array to create. The caller opens real disks
// with O_EXCL (so nothing else holds them) and only after the plan was
// validated against the inventory.
type Member struct {
	Name string // for errors and logs, e.g. /dev/sda
	Dev  io.WriterAt
	Size int64 // bytes
}

// wipeSpan is how much Create zeroes at each end of a member: at the start
// the MBR, the primary GPT, the v1.1/1.2 superblocks and the room of a
// bitmap or bad-block log; at the end the backup GPT and the v0.90 and v1.0
// superblocks (64 KiB-aligned in the last 128 KiB, and 8 KiB from the end),
// so no stale signature survives for the installed system's blkid or mdadm
// to find. The data area is the array's; it is not cleared.
const wipeSpan = 1 << 20

// Create writes a new array's superblocks onto members: it computes the
// layout with Plan, zeroes the old signatures at both ends of every member
// and writes one superblock per member at 4 KiB. Every member is wiped
// before the first superblock is written, so a wipe failure leaves no
// superblock at all; a failure among the superblock writes is returned
// naming the member, and the caller must not assemble the array.
// The caller syncs and closes the devices.
//
// With AssumeClean the mirrors are declared in sync without comparing
// them (mdadm --assume-clean's caveat applies: blocks never written since
// may differ between members, which a later "check" counts as mismatches).
func Create(ctx context.Context, log *slog.Logger, members []Member, o Options) (*Array, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sizes := make([]int64, len(members))
	for i, m := range members {
		sizes[i] = m.Size
	}
	a, err := Plan(sizes, o)
	if err != nil {
		return nil, err
	}
	zero := make([]byte, wipeSpan)
	for _, m := range members {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		head := int64(wipeSpan)
		if limit := int64(a.DataOffset) * sectorSize; head > limit {
			head = limit // never into the data area
		}
		if _, err := m.Dev.WriteAt(zero[:head], 0); err != nil {
			return nil, fmt.Errorf("md: %s: wipe first %d bytes: %w", m.Name, head, err)
		}
		tail := int64(wipeSpan)
		if tail > m.Size-head {
			tail = m.Size - head
		}
		if _, err := m.Dev.WriteAt(zero[:tail], m.Size-tail); err != nil {
			return nil, fmt.Errorf("md: %s: wipe last %d bytes: %w", m.Name, tail, err)
		}
	}
	for i, m := range members {
		b, err := a.Superblocks[i].Marshal()
		if err != nil {
			return nil, fmt.Errorf("md: %s: %w", m.Name, err)
		}
		if _, err := m.Dev.WriteAt(b, superOffset2*sectorSize); err != nil {
			return nil, fmt.Errorf("md: %s: write superblock at 4096: %w", m.Name, err)
		}
		log.Info("md superblock written", "device", m.Name, "array", a.SetName, "uuid", a.UUID.String(),
			"level", a.Level.String(), "role", i, "data_offset", a.DataOffset, "size", a.Size)
	}
	return a, nil
}

// Read reads and parses the v1.2 superblock of a member.
func Read(r io.ReaderAt, name string) (*Superblock, error) {
	b := make([]byte, sbAreaSize)
	if _, err := r.ReadAt(b, superOffset2*sectorSize); err != nil {
		return nil, fmt.Errorf("md: %s: read superblock at 4096: %w", name, err)
	}
	sb, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if sb.SuperOffset != superOffset2 {
		return nil, fmt.Errorf("md: %s: super_offset %d, want %d for v1.2", name, sb.SuperOffset, superOffset2)
	}
	return sb, nil
}
