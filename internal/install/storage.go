package install

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/google/uuid"
	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/image"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/md"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/toolrun"
)

// target is one disk the plan erases, from release to the written table.
type target struct {
	id    string // the plan's disk id
	pd    *plan.Disk
	disk  inventory.Disk
	dev   string // /dev/sda
	f     *os.File
	place *disk.Placement // nil for a whole-disk image
	// zeroed: BLKZEROOUT succeeded, the image writer may skip zero blocks.
	zeroed bool
}

// targets builds the list of disks to erase from the validated plan: each
// selection resolved to a block device (directly, or by the raid stage).
func targets(pl *Planned, vols *Volumes) ([]*target, error) {
	var out []*target
	for i, sel := range pl.Validated.Disks {
		if sel.Disk == nil {
			return nil, fmt.Errorf("disk %q (%s) was never resolved to a block device", sel.ID, sel.State)
		}
		pd := &pl.Plan.Disks[i]
		if vols.members[sel.ID] {
			continue // an md member: the raid stage wrote its superblock
		}
		if pd.ID != sel.ID {
			return nil, fmt.Errorf("internal: plan disk %d is %q, selection %q", i, pd.ID, sel.ID)
		}
		out = append(out, &target{id: sel.ID, pd: pd, disk: *sel.Disk, dev: "/dev/" + sel.Disk.Name})
	}
	return out, nil
}

// releaseDisks releases what holds each target disk (mounts, swap, md
// arrays, device-mapper maps) and opens it exclusively: a disk that stays
// busy stops the install before a byte is written to any disk.
func (m *Machine) releaseDisks(ctx context.Context, pl *Planned, vols *Volumes) (*Disks, error) {
	ts, err := targets(pl, vols)
	if err != nil {
		return nil, err
	}
	// The targets are handed on as soon as they exist, so that a failure
	// below still leaves the opened ones to close.
	out := &Disks{targets: ts, PartDev: map[string]string{}, Refs: map[string]string{}}
	log := m.Report.Slog("disks", m.Config.Debug)
	runner := toolrun.Exec{Log: log, Hold: m.Hold, Timeout: time.Minute}
	mdk := md.NewKernel(m.Root, log)
	for _, t := range ts {
		hs, err := disk.FindHolders(m.Root, t.disk.Name)
		if err != nil {
			return out, err
		}
		var rest []disk.Holder
		for _, h := range hs {
			if h.Kind == "md" {
				// The image has no mdadm: stop arrays through md's sysfs.
				if err := mdk.Stop(h.Name); err != nil {
					return out, fmt.Errorf("%s: disk busy: stop md array %s: %w", t.dev, h.Name, err)
				}
				m.Report.Infof("disks", "%s: stopped md array %s", t.dev, h.Name)
				continue
			}
			rest = append(rest, h)
		}
		if err := disk.Release(ctx, rest, runner, log); err != nil {
			return out, fmt.Errorf("%s: %w", t.dev, err)
		}
		// O_EXCL on a block device fails with EBUSY while anything (a
		// mount, an md array, a dm map) holds it.
		f, err := os.OpenFile(t.dev, os.O_RDWR|unix.O_EXCL, 0)
		if err != nil {
			return out, fmt.Errorf("%s: disk busy or unusable: %w", t.dev, err)
		}
		t.f = f
	}
	return out, nil
}

// wipeDisks clears every old partition table and signature of each target,
// after the whole-disk discard and zero-out its plan entry asks for
// (wipe: {discard: true, zeroout: true}). An md array the raid stage made
// is a target like any disk: BLKDISCARD and BLKZEROOUT on /dev/mdX reach
// its members through md (the kernel writes zero pages itself where a
// device lacks WRITE ZEROES, block/blk-lib.c blkdev_issue_zeroout).
func (m *Machine) wipeDisks(ctx context.Context, disks *Disks) error {
	log := m.Report.Slog("disks", m.Config.Debug)
	for _, t := range disks.targets {
		if steps := t.pd.Wipe.Steps(); len(steps) > 0 {
			// BLKZEROOUT runs as one uninterruptible ioctl that takes as long
			// as writing the disk where the device cannot zero in place:
			// say so before the console goes quiet.
			m.Report.Infof("disks", "%s: %s of the whole disk (%s)", t.dev, strings.Join(steps, ", then "), plan.HumanBytes(t.disk.Size))
		}
		msg, err := t.wipe(disk.LinuxKernel(), log)
		if err != nil {
			return err
		}
		m.Report.Infof("disks", "%s", msg)
	}
	return nil
}

// wipe erases one target through the kernel's ioctls k and returns the
// line that reports it. On success t.zeroed says whether the image writer
// may skip zero blocks.
func (t *target) wipe(k disk.Kernel, log *slog.Logger) (string, error) {
	w := t.pd.Wipe
	rep, err := disk.Wipe(t.f, int64(t.disk.Size), disk.WipeOptions{
		SectorSize: int(t.disk.LogicalSectorSize), Discard: w.Discard, ZeroOut: w.ZeroOut,
		Device: t.f, Kernel: k, Logger: log,
	})
	if err != nil {
		return "", fmt.Errorf("%s: wipe: %w", t.dev, err)
	}
	if err := t.f.Sync(); err != nil {
		return "", fmt.Errorf("%s: wipe: fsync: %w", t.dev, err)
	}
	t.zeroed = rep.Zeroed
	return wipeLine(t.dev, t.disk.Size, w, rep), nil
}

// wipeLine reports a wipe: "/dev/vda wiped (2.0 GiB): discarded, zeroed;
// gpt header at 512 (disk), …".
func wipeLine(dev string, size uint64, w plan.Wipe, rep disk.WipeReport) string {
	var steps []string
	switch {
	case rep.Discarded:
		steps = append(steps, "discarded")
	case w.Discard:
		steps = append(steps, "discard failed (advisory, continued)")
	}
	if rep.Zeroed {
		steps = append(steps, "zeroed")
	}
	var found []string
	for _, s := range rep.Found {
		found = append(found, s.String())
	}
	if len(found) == 0 {
		found = []string{"no old signature"}
	}
	what := strings.Join(found, ", ")
	if len(steps) > 0 {
		what = strings.Join(steps, ", ") + "; " + what
	}
	return fmt.Sprintf("%s wiped (%s): %s", dev, plan.HumanBytes(size), what)
}

// diskLayout is a plan disk's partitions as disk.Place takes them.
func diskLayout(pd *plan.Disk) disk.Layout {
	l := disk.Layout{Table: pd.Table}
	if l.Table == "" {
		l.Table = "gpt"
	}
	for _, p := range pd.Partitions {
		l.Partitions = append(l.Partitions, disk.PartSpec{Name: p.Name, Type: p.Type, Size: p.Size, PartUUID: p.PartUUID})
	}
	return l
}

// layoutDisks places the partitions (1 MiB aligned, derived PARTUUIDs) and
// records the references the files and handoff stages use. Nothing is
// written: the table goes on the disk last (image/table).
func (m *Machine) layoutDisks(pl *Planned, disks *Disks) error {
	if err := place(pl, disks); err != nil {
		return err
	}
	for _, t := range disks.targets {
		if t.place == nil {
			continue
		}
		for _, p := range t.place.Partitions {
			m.Report.Infof("disks", "%s: %s %s at %s, %s (%s)", t.dev, disks.PartDev[p.Name], p.Name, plan.HumanBytes(uint64(p.Start)), plan.HumanBytes(uint64(p.Size)), p.Type)
		}
	}
	return nil
}

// place computes every target's partitions and the references they give
// (device, ${partuuid:NAME}, and the ${uuid:NAME} and ${label:NAME} of the
// filesystems needle makes), all derived from the plan: the disks stage
// writes what place computes, and an install found already done is handed
// off to with the same references.
func place(pl *Planned, disks *Disks) error {
	for _, t := range disks.targets {
		if t.pd.Image != nil {
			continue
		}
		sector := int(t.disk.LogicalSectorSize)
		if sector == 0 {
			sector = 512
		}
		place, err := disk.Place(diskLayout(t.pd), int64(t.disk.Size), sector, pl.Plan.Name, t.id)
		if err != nil {
			return fmt.Errorf("%s: disk %q: %w", t.dev, t.id, err)
		}
		t.place = &place
		for i, p := range place.Partitions {
			disks.PartDev[p.Name] = "/dev/" + disk.PartName(t.disk.Name, p.Number)
			if p.PartUUID != "" {
				disks.Refs["partuuid:"+p.Name] = p.PartUUID
			}
			if fs := t.pd.Partitions[i].Filesystem; fs != nil && t.pd.Partitions[i].Image == nil {
				disks.Refs["uuid:"+p.Name] = fsUUID(pl.Plan.Name, t.id, p.Name, fs.Format)
				if fs.Label != "" {
					disks.Refs["label:"+p.Name] = fs.Label
				}
			}
		}
	}
	return nil
}

// fsUUID is the UUID (vfat: the volume serial) needle gives a filesystem
// it makes, derived from the plan so that it is known before it exists.
func fsUUID(planName, diskID, part, format string) string {
	id := disk.DeriveUUID(planName, diskID, part, "fs")
	if format == "vfat" {
		vid := volumeID(id)
		return fmt.Sprintf("%04X-%04X", vid>>16, vid&0xffff)
	}
	return id
}

// formatDisks makes the plan's filesystems (vfat ESP, swap, small ext4) in
// their partitions' byte ranges, before any table exists.
func (m *Machine) formatDisks(pl *Planned, disks *Disks) error {
	for _, t := range disks.targets {
		if t.place == nil {
			continue
		}
		for i, p := range t.pd.Partitions {
			if p.Filesystem == nil || p.Image != nil {
				continue
			}
			pp := t.place.Partitions[i]
			id := disk.DeriveUUID(pl.Plan.Name, t.id, p.Name, "fs")
			switch p.Filesystem.Format {
			case "vfat":
				vid := volumeID(id)
				err := disk.MakeFAT32(io.NewOffsetWriter(t.f, pp.Start), pp.Size, nil, disk.FATOptions{
					Label: p.Filesystem.Label, VolumeID: vid, Hidden: uint32(pp.StartLBA(t.place.SectorSize)),
				})
				if err != nil {
					return fmt.Errorf("%s partition %s: vfat: %w", t.dev, p.Name, err)
				}
			case "swap":
				u := uuid.MustParse(id)
				if err := disk.MakeSwap(io.NewOffsetWriter(t.f, pp.Start), pp.Size, disk.SwapOptions{UUID: u, Label: p.Filesystem.Label}); err != nil {
					return fmt.Errorf("%s partition %s: swap: %w", t.dev, p.Name, err)
				}
			case "ext4":
				u := uuid.MustParse(id)
				if err := disk.MakeExt4(file.New(t.f, false), pp.Start, pp.Size, nil, disk.Ext4Options{Label: p.Filesystem.Label, UUID: u}); err != nil {
					return fmt.Errorf("%s partition %s: ext4: %w", t.dev, p.Name, err)
				}
			default:
				return fmt.Errorf("%s partition %s: filesystem %q is not made by needle", t.dev, p.Name, p.Filesystem.Format)
			}
			m.Report.Infof("disks", "%s partition %s: %s made (${uuid:%s} %s)", t.dev, p.Name, p.Filesystem.Format, p.Name, disks.Refs["uuid:"+p.Name])
		}
		if err := t.f.Sync(); err != nil {
			return fmt.Errorf("%s: fsync: %w", t.dev, err)
		}
	}
	return nil
}

// volumeID derives a FAT volume serial from a UUID string.
func volumeID(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// streamImages writes every image of the plan: whole-disk images onto
// their disk (the image writer holds back the first MiB and moves the
// backup GPT to the real end), partition images into their partition's
// byte range. The hash is checked while streaming; a mismatch fails the
// install with no partition table on the disk.
func (m *Machine) streamImages(ctx context.Context, disks *Disks) (*Images, error) {
	log := m.Report.Slog("image", m.Config.Debug)
	out := &Images{}
	for _, t := range disks.targets {
		type job struct {
			name   string
			img    *plan.Image
			dst    image.Target
			size   int64
			keepGT bool
		}
		var jobs []job
		dst := image.NewSyncedFile(t.f, t.dev)
		if t.pd.Image != nil {
			jobs = append(jobs, job{name: t.id, img: t.pd.Image, dst: dst, size: int64(t.disk.Size)})
		} else {
			for i, p := range t.pd.Partitions {
				if p.Image == nil {
					continue
				}
				pp := t.place.Partitions[i]
				// A partition image is a filesystem, not a disk: never
				// touch a GPT it might carry.
				jobs = append(jobs, job{name: p.Name, img: p.Image, dst: image.Section(dst, pp.Start, pp.Size), size: pp.Size, keepGT: true})
			}
		}
		for _, j := range jobs {
			hash := "sha256:" + j.img.SHA256
			if j.img.SHA512 != "" {
				hash = "sha512:" + j.img.SHA512
			}
			m.Report.Infof("image", "%s → %s (%s)", j.img.URL, t.dev, j.name)
			last := time.Time{}
			res, err := image.Write(ctx, j.dst, image.Source{URL: j.img.URL, Hash: hash, Client: m.HTTP},
				ImageOptions(j.size, t.zeroed, j.keepGT, log, func(p image.Progress) {
					if time.Since(last) < 5*time.Second && !p.Finishing {
						return
					}
					last = time.Now()
					m.Report.Emit(reportProgress("image", ProgressLine(j.name, p), p))
				}))
			if err != nil {
				return out, fmt.Errorf("%s (%s): %w", t.dev, j.name, err)
			}
			out.Written = append(out.Written, WrittenImage{Name: j.name, Device: t.dev, Digest: res.Digest, Bytes: res.Written})
			m.Report.Infof("image", "%s", ResultLine(j.name, res))
		}
	}
	return out, nil
}

// writeTables writes each disk's partition table, last, so that a failed
// install leaves no table (an unbootable disk, never a half-booting one);
// then the kernel re-reads it and needle checks the partitions in sysfs.
func (m *Machine) writeTables(ctx context.Context, disks *Disks) error {
	log := m.Report.Slog("disks", m.Config.Debug)
	for _, t := range disks.targets {
		if t.place == nil {
			// A whole-disk image brought its own table: just re-read it.
			if err := disk.LinuxKernel().RereadTable(t.f); err != nil {
				return fmt.Errorf("%s: re-read the image's partition table: %w", t.dev, err)
			}
			continue
		}
		if err := disk.WriteTable(file.New(t.f, false), *t.place, log); err != nil {
			return fmt.Errorf("%s: partition table: %w", t.dev, err)
		}
		if err := t.f.Sync(); err != nil {
			return fmt.Errorf("%s: partition table: fsync: %w", t.dev, err)
		}
		if err := disk.Reread(t.f, *t.place, disk.LinuxKernel(), log); err != nil {
			return err
		}
		if err := disk.VerifySysfs(ctx, m.Root.Sys, t.disk.Name, *t.place, 10*time.Second); err != nil {
			return fmt.Errorf("%s: %w", t.dev, err)
		}
		m.Report.Infof("disks", "%s: %s table written, %d partitions seen by the kernel", t.dev, t.place.Table, len(t.place.Partitions))
	}
	for _, t := range disks.targets {
		if err := t.f.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			return fmt.Errorf("%s: close: %w", t.dev, err)
		}
	}
	return nil
}

// reportProgress turns an image progress report into an event.
func reportProgress(stage, msg string, p image.Progress) report.Event {
	return report.Event{Stage: stage, Kind: report.Progress, Message: msg, Data: map[string]any{
		"written": p.Written, "settled": p.Settled, "estimate": p.Estimate, "fetched": p.Fetched, "total": p.Total, "rate": p.Rate,
		"eta_s": p.ETA.Seconds(), "resumes": p.Resumes, "skipped": p.Skipped,
	}}
}
