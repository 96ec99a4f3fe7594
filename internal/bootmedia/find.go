package bootmedia

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/needle-boot/needle/internal/sysroot"
)

// Label is what `needle usb` and `needle iso` name their volume (FAT
// label, GPT partition name, ISO volume identifier); media.Label.
const Label = "NEEDLE"

// Files on the medium (package media writes them).
const (
	EntryPath = "loader/entries/needle.conf"
	PlanPath  = "needle/plan.yaml"
	SigPath   = "needle/plan.yaml.sig"
	HWDBPath  = "needle/hwdb.d"
)

// ErrNotFound says no needle medium is attached: a netboot, or a stick
// that was pulled.
var ErrNotFound = errors.New("no needle boot medium found")

// Medium is the boot medium once mounted.
type Medium struct {
	Device     string // the whole disk, as the kernel names it: "sda", "sr0"
	Partition  string // "sda1"; "" when the filesystem spans the device (a CD)
	FSType     string // "vfat" or "iso9660"
	Label      string
	MountPoint string
	// Paths of what the medium carries; "" when absent.
	PlanPath, PlanSigPath, HWDBDir string
}

// Finder looks for the medium. The mount leaves are func fields so tests
// run on image files without root; HostMount fills them on Linux.
type Finder struct {
	Root     sysroot.Root // sysfs (block devices) and /dev
	MountDir string       // where the medium is mounted, e.g. /run/needle/media
	// Mount is mount(2); Unmount is umount(2) (used to release a candidate
	// that turned out not to be needle's).
	Mount   func(source, target, fstype string, flags uintptr, data string) error
	Unmount func(target string) error
	// Wait is how long to keep looking while no medium shows up (a USB
	// stick appears some time after usb-storage binds: the SCSI scan waits
	// for usb-storage's delay_use, 1 s by default). 0 looks once.
	Wait time.Duration
	Poll time.Duration // 250 ms when 0
	Log  *slog.Logger
}

// msRdonly is MS_RDONLY (include/uapi/linux/mount.h); the value is the
// same on every Linux architecture.
const msRdonly = 1

// candidate is a block device holding a FAT or ISO9660 filesystem.
type candidate struct {
	name, disk, partName string
	partition            bool
	fstype, label        string
}

// named says whether the label or the GPT partition name is needle's.
func (c candidate) named() bool {
	return strings.EqualFold(c.label, Label) || c.partName == Label
}

// rank orders candidates: named ones first, a FAT partition before an
// ISO9660 whole device (an ISO written to a stick shows both: its hybrid
// ESP and the ISO9660 volume), then by name for a stable choice.
func rank(a, b candidate) int {
	key := func(c candidate) int {
		k := 0
		if !c.named() {
			k += 2
		}
		if c.fstype != VFAT {
			k++
		}
		return k
	}
	if d := key(a) - key(b); d != 0 {
		return d
	}
	return strings.Compare(a.name, b.name)
}

// Find returns the mounted medium, or ErrNotFound once Wait has passed
// without one. A volume labelled (or a GPT partition named) NEEDLE is
// taken at once; otherwise any FAT or ISO9660 volume holding
// loader/entries/needle.conf is (an operator may relabel a stick).
func (f *Finder) Find(ctx context.Context) (*Medium, error) {
	log := f.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	poll := f.Poll
	if poll == 0 {
		poll = 250 * time.Millisecond
	}
	deadline := time.Now().Add(f.Wait)
	tried := map[string]bool{} // unnamed candidates already mounted and rejected
	for {
		cands, err := f.scan(log)
		if err != nil {
			return nil, err
		}
		for _, c := range cands {
			if !c.named() {
				if tried[c.name] {
					continue
				}
				tried[c.name] = true
			}
			m, err := f.mount(c)
			if err != nil {
				if c.named() {
					return nil, err
				}
				log.Warn("boot medium candidate", "device", c.name, "err", err)
				continue
			}
			if m != nil {
				log.Info("boot medium", "device", m.Device, "partition", m.Partition, "fstype", m.FSType,
					"label", m.Label, "mount", m.MountPoint, "plan", m.PlanPath)
				return m, nil
			}
		}
		if !time.Now().Before(deadline) {
			return nil, ErrNotFound
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// scan lists the FAT and ISO9660 volumes in sysfs order, ranked.
func (f *Finder) scan(log *slog.Logger) ([]candidate, error) {
	dir := filepath.Join(f.Root.Sys, "class/block")
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no block device yet
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []candidate
	for _, e := range ents {
		name := e.Name()
		// RAM disks, loop and zram devices never hold the boot medium.
		if strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "zram") {
			continue
		}
		c := candidate{name: name, disk: name}
		if _, err := os.Stat(filepath.Join(dir, name, "partition")); err == nil {
			c.partition = true
			// /sys/class/block/sda1 links to …/block/sda/sda1.
			real, err := filepath.EvalSymlinks(filepath.Join(dir, name))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			c.disk = filepath.Base(filepath.Dir(real))
			c.partName = ueventValue(filepath.Join(dir, name, "uevent"), "PARTNAME")
		}
		head, err := readHead(filepath.Join(f.Root.Dev, name))
		if err != nil {
			// An empty CD tray or a disk the kernel is still probing.
			log.Debug("boot medium probe", "device", name, "err", err)
			continue
		}
		c.fstype, c.label = Probe(head)
		if c.fstype == "" {
			continue
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, rank)
	return out, nil
}

func readHead(dev string) ([]byte, error) {
	fd, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	b := make([]byte, probeSize)
	n, err := io.ReadFull(fd, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("read %s: %w", dev, err)
	}
	return b[:n], nil
}

// ueventValue reads KEY=value from a sysfs uevent file ("" when absent).
func ueventValue(path, key string) string {
	fd, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer fd.Close()
	s := bufio.NewScanner(fd)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), "="); ok && k == key {
			return v
		}
	}
	return ""
}

// mount mounts c read-only and returns the medium, or nil (unmounted
// again) when c is an unnamed volume without needle's loader entry.
func (f *Finder) mount(c candidate) (*Medium, error) {
	if f.Mount == nil {
		return nil, errors.New("bootmedia: Finder.Mount is nil")
	}
	mp := filepath.Join(f.MountDir, c.name)
	if err := os.MkdirAll(mp, 0o755); err != nil {
		return nil, fmt.Errorf("boot medium %s: %w", c.name, err)
	}
	src := filepath.Join(f.Root.Dev, c.name)
	if err := f.Mount(src, mp, c.fstype, msRdonly, ""); err != nil {
		return nil, fmt.Errorf("mount %s (%s, label %q) read-only on %s: %w", src, c.fstype, c.label, mp, err)
	}
	if !c.named() && !exists(filepath.Join(mp, EntryPath)) {
		if f.Unmount != nil {
			_ = f.Unmount(mp)
		}
		return nil, nil
	}
	m := &Medium{Device: c.disk, FSType: c.fstype, Label: c.label, MountPoint: mp}
	if c.partition {
		m.Partition = c.name
	}
	if p := filepath.Join(mp, PlanPath); exists(p) {
		m.PlanPath = p
	}
	if p := filepath.Join(mp, SigPath); exists(p) {
		m.PlanSigPath = p
	}
	if p := filepath.Join(mp, HWDBPath); exists(p) {
		m.HWDBDir = p
	}
	return m, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Expected reads needle.media=usb|iso from the kernel command line's
// fields: the loader entries `needle usb` and `needle iso` write carry it,
// so the init knows to wait for the medium (Finder.Wait) rather than look
// once. "" means the command line does not say (a netboot, say).
func Expected(fields []string) string {
	for _, f := range fields {
		if v, ok := strings.CutPrefix(f, "needle.media="); ok {
			return v
		}
	}
	return ""
}
