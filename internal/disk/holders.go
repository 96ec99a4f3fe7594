package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/needle-boot/needle/internal/procfs"
	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/needle-boot/needle/internal/toolrun"
)

// Holder is something keeping a disk busy.
type Holder struct {
	Kind   string // "mount", "swap", "dm", "md"
	Name   string // mount point, swap device, dm-N, mdN
	Device string // what it holds: "sda" or "sda2"
	DMName string // for dm: the mapper name (dm/name), used by dmsetup
}

func (h Holder) String() string {
	return fmt.Sprintf("%s %s on %s", h.Kind, h.Name, h.Device)
}

// FindHolders lists what holds disk or its partitions: mounts (from
// root.Proc/self/mountinfo, by major:minor), active swap (root.Proc/swaps),
// and stacked devices (root.Sys/class/block/<dev>/holders: md arrays and
// device-mapper maps, including LVM and dm-crypt), recursively, so that a
// mount of an LV on an md array on the disk is found too.
func FindHolders(root sysroot.Root, disk string) ([]Holder, error) {
	sysfsRoot, procRoot := root.WithDefaults().Sys, root.WithDefaults().Proc
	devs := []string{disk}
	ents, err := os.ReadDir(filepath.Join(sysfsRoot, "class", "block", disk))
	if err != nil {
		return nil, fmt.Errorf("holders of %s: %w", disk, err)
	}
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(sysfsRoot, "class", "block", disk, e.Name(), "partition")); err == nil {
			devs = append(devs, e.Name())
		}
	}
	var out []Holder
	seen := map[string]bool{}
	var walk func(dev string) error
	walk = func(dev string) error {
		if seen[dev] {
			return nil
		}
		seen[dev] = true
		hs, err := os.ReadDir(filepath.Join(sysfsRoot, "class", "block", dev, "holders"))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("holders of %s: %w", dev, err)
		}
		for _, h := range hs {
			name := h.Name()
			hold := Holder{Name: name, Device: dev}
			switch {
			case strings.HasPrefix(name, "md"):
				hold.Kind = "md"
			case strings.HasPrefix(name, "dm-"):
				hold.Kind = "dm"
				b, err := os.ReadFile(filepath.Join(sysfsRoot, "class", "block", name, "dm", "name"))
				if err != nil {
					return fmt.Errorf("dm name of %s: %w", name, err)
				}
				hold.DMName = strings.TrimSpace(string(b))
			default:
				hold.Kind = "holder"
			}
			if err := walk(name); err != nil {
				return err
			}
			out = append(out, hold)
		}
		return nil
	}
	for _, d := range devs {
		if err := walk(d); err != nil {
			return nil, err
		}
	}
	// Everything found so far, and the disk itself, may be mounted or swap.
	all := []string{}
	for d := range seen {
		all = append(all, d)
	}
	slices.Sort(all)
	majmin := map[string]string{}
	for _, d := range all {
		b, err := os.ReadFile(filepath.Join(sysfsRoot, "class", "block", d, "dev"))
		if err != nil {
			return nil, fmt.Errorf("dev of %s: %w", d, err)
		}
		majmin[strings.TrimSpace(string(b))] = d
	}
	mi, err := procfs.Mounts(procRoot)
	if err != nil {
		return nil, fmt.Errorf("mounts: %w", err)
	}
	var mounts []Holder
	for _, m := range mi {
		if d, ok := majmin[m.Dev]; ok {
			mounts = append(mounts, Holder{Kind: "mount", Name: m.Point, Device: d})
		}
	}
	// Unmount the deepest first.
	slices.SortStableFunc(mounts, func(a, b Holder) int { return strings.Count(b.Name, "/") - strings.Count(a.Name, "/") })
	sw, err := os.ReadFile(filepath.Join(procRoot, "swaps"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("swaps: %w", err)
	}
	var swaps []Holder
	for i, l := range strings.Split(string(sw), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) == 0 {
			continue
		}
		base := filepath.Base(f[0])
		if seen[base] {
			swaps = append(swaps, Holder{Kind: "swap", Name: f[0], Device: base})
		}
		// /dev/mapper/NAME swaps: match the dm name.
		for _, h := range out {
			if h.Kind == "dm" && f[0] == "/dev/mapper/"+h.DMName {
				swaps = append(swaps, Holder{Kind: "swap", Name: f[0], Device: h.Name})
			}
		}
	}
	// Release order: mounts, swap, then stacked devices top-down (the walk
	// appends a holder after everything stacked on it).
	return append(append(mounts, swaps...), out...), nil
}

// ReleaseArgv is the command that releases h.
func ReleaseArgv(h Holder) ([]string, error) {
	switch h.Kind {
	case "mount":
		return []string{"umount", h.Name}, nil
	case "swap":
		return []string{"swapoff", h.Name}, nil
	case "dm":
		if h.DMName == "" {
			return nil, fmt.Errorf("dm holder %s has no mapper name", h.Name)
		}
		return []string{"dmsetup", "remove", "--retry", h.DMName}, nil
	case "md":
		return []string{"mdadm", "--stop", "/dev/" + h.Name}, nil
	}
	return nil, fmt.Errorf("holder %s: cannot release a %q", h, h.Kind)
}

// Release releases holders in order (mounts, swap, stacked devices top
// down, as FindHolders returns them). It stops at the first failure: the
// disk is then busy, and nothing may be written to it.
func Release(ctx context.Context, holders []Holder, r toolrun.Runner, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, h := range holders {
		argv, err := ReleaseArgv(h)
		if err != nil {
			return fmt.Errorf("disk busy: %w", err)
		}
		if _, err := r.Run(ctx, argv[0], argv[1:]...); err != nil {
			return fmt.Errorf("disk busy: release %s: %w", h, err)
		}
		log.Info("released holder", "kind", h.Kind, "name", h.Name, "device", h.Device)
	}
	return nil
}

// Erase releases holders and then wipes the disk: a holder that cannot be
// released fails the erase before a single byte is written.
func Erase(ctx context.Context, w interface {
	WriteAt(p []byte, off int64) (int, error)
}, size int64, holders []Holder, r toolrun.Runner, opts WipeOptions) (WipeReport, error) {
	if err := Release(ctx, holders, r, opts.Logger); err != nil {
		return WipeReport{}, err
	}
	return Wipe(w, size, opts)
}
