package disk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// WriteTable writes pl's partition table with go-diskfs onto the disk
// behind b (an image file or a block device) and fsyncs it. The disk must
// have been wiped: go-diskfs writes only the table's own sectors.
func WriteTable(b backend.Storage, pl Placement, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := diskfs.OpenBackend(b, diskfs.WithSectorSize(diskfs.SectorSize(pl.SectorSize)))
	if err != nil {
		return fmt.Errorf("open %s: %w", b.Path(), err)
	}
	if d.Size < pl.DiskSize {
		return fmt.Errorf("%s is %d bytes, the placement was made for %d", b.Path(), d.Size, pl.DiskSize)
	}
	ss := pl.SectorSize
	switch pl.Table {
	case "gpt":
		t := &gpt.Table{LogicalSectorSize: ss, PhysicalSectorSize: ss, ProtectiveMBR: true, GUID: pl.DiskGUID}
		for _, p := range pl.Partitions {
			// go-diskfs v1.9.4 does not place partitions: Start must be
			// given, aligned, and End is inclusive.
			t.Partitions = append(t.Partitions, &gpt.Partition{
				Index: p.Number, Start: p.StartLBA(ss), End: p.StartLBA(ss) + p.Sectors(ss) - 1,
				Size: uint64(p.Size), Type: gpt.Type(p.TypeGUID), Name: p.Name, GUID: p.PartUUID,
			})
		}
		if err := d.Partition(t); err != nil {
			return fmt.Errorf("write GPT: %w", err)
		}
	case "mbr":
		t := &mbr.Table{LogicalSectorSize: ss, PhysicalSectorSize: ss}
		for _, p := range pl.Partitions {
			t.Partitions = append(t.Partitions, &mbr.Partition{
				Bootable: p.Bootable, Type: mbr.Type(p.TypeID),
				Start: uint32(p.StartLBA(ss)), Size: uint32(p.Sectors(ss)),
			})
		}
		if err := d.Partition(t); err != nil {
			return fmt.Errorf("write MBR: %w", err)
		}
		// go-diskfs' MBR writer leaves the disk signature (bytes 440-443)
		// alone; it is what the kernel and blkid build the PARTUUIDs from.
		id, err := strconv.ParseUint(pl.DiskGUID, 16, 32)
		if err != nil {
			return fmt.Errorf("mbr disk id %q: %w", pl.DiskGUID, err)
		}
		w, err := b.Writable()
		if err != nil {
			return fmt.Errorf("%s: %w", b.Path(), err)
		}
		sig := []byte{byte(id), byte(id >> 8), byte(id >> 16), byte(id >> 24)}
		if err := writeAtFull(w, sig, 440, "MBR disk signature"); err != nil {
			return fmt.Errorf("%s: %w", b.Path(), err)
		}
	default:
		return fmt.Errorf("table %q: want gpt or mbr", pl.Table)
	}
	// go-diskfs' Disk.Close does not fsync (v1.9.4): do it here, before
	// the kernel is asked to re-read.
	f, err := b.Sys()
	if err != nil {
		return fmt.Errorf("%s: %w", b.Path(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", b.Path(), err)
	}
	for _, p := range pl.Partitions {
		log.Info("partition", "disk", b.Path(), "number", p.Number, "name", p.Name, "type", p.Type,
			"start", p.Start, "size", p.Size, "partuuid", p.PartUUID)
	}
	return nil
}

// Kernel holds the block-device ioctls as func fields, so callers and tests
// can replace them; LinuxKernel fills them on Linux.
type Kernel struct {
	// RereadTable is BLKRRPART: the kernel drops and re-scans all
	// partitions; it fails with EBUSY while any partition is open.
	RereadTable func(f *os.File) error
	// AddPartition is BLKPG_ADD_PARTITION for one partition (byte offsets).
	AddPartition func(f *os.File, number int, start, length int64) error
	// Discard is BLKDISCARD and ZeroOut BLKZEROOUT over [start, start+length).
	Discard func(f *os.File, start, length int64) error
	ZeroOut func(f *os.File, start, length int64) error
}

// Reread makes the kernel see the new table: BLKRRPART, and when the disk is
// busy, BLKPG to add each partition (as partx -a does), which works while
// another partition is held.
func Reread(f *os.File, pl Placement, k Kernel, log *slog.Logger) error {
	if k.RereadTable == nil {
		return errors.New("no BLKRRPART on this platform")
	}
	err := k.RereadTable(f)
	if err == nil {
		return nil
	}
	if k.AddPartition == nil {
		return fmt.Errorf("BLKRRPART %s: %w", f.Name(), err)
	}
	if log != nil {
		log.Warn("BLKRRPART failed, adding partitions with BLKPG", "disk", f.Name(), "err", err)
	}
	for _, p := range pl.Partitions {
		if aerr := k.AddPartition(f, p.Number, p.Start, p.Size); aerr != nil {
			return fmt.Errorf("BLKRRPART %s: %w; BLKPG add partition %d: %w", f.Name(), err, p.Number, aerr)
		}
	}
	return nil
}

// VerifySysfs waits (up to timeout, polling every 100 ms; udev and the
// kernel need a moment after a re-read) until every partition of pl shows in
// sysfsRoot/class/block/<disk>/<part>/{partition,start,size} with the
// expected start and size (in 512-byte units, as sysfs always counts:
// block/partitions/core.c part_start_show). disk is the kernel name
// ("sda", "nvme0n1").
func VerifySysfs(ctx context.Context, sysfsRoot, disk string, pl Placement, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := checkSysfs(sysfsRoot, disk, pl)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partitions of %s not in sysfs after %v: %w", disk, timeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PartName is the kernel's name for partition n of disk: "sda1", but
// "nvme0n1p1" and "mmcblk0p1" when the disk name ends in a digit
// (block/partitions/core.c add_partition, via dev_set_name "%s%s%d").
func PartName(disk string, n int) string {
	if disk != "" && disk[len(disk)-1] >= '0' && disk[len(disk)-1] <= '9' {
		return fmt.Sprintf("%sp%d", disk, n)
	}
	return fmt.Sprintf("%s%d", disk, n)
}

func checkSysfs(root, disk string, pl Placement) error {
	base := filepath.Join(root, "class", "block", disk)
	for _, p := range pl.Partitions {
		dir := filepath.Join(base, PartName(disk, p.Number))
		for _, f := range []struct {
			name string
			want int64
		}{{"start", p.Start / 512}, {"size", p.Size / 512}} {
			b, err := os.ReadFile(filepath.Join(dir, f.name))
			if err != nil {
				return err
			}
			got, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", dir, f.name, err)
			}
			if got != f.want {
				return fmt.Errorf("%s/%s is %d, want %d", dir, f.name, got, f.want)
			}
		}
	}
	return nil
}
