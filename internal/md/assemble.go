package md

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/needle-boot/needle/internal/sysroot"
)

// Kernel drives the kernel's md driver through sysfs, the interface mdadm
// itself uses for most of its work (Documentation/admin-guide/md.rst,
// "MD devices in sysfs"): a new array is made by writing "mdN" to
// /sys/module/md_mod/parameters/new_array, told its metadata with
// md/metadata_version, given members by writing "MAJ:MIN" to md/new_dev
// (which makes the kernel read and check each superblock, super_1_load),
// and started by writing "active" to md/array_state (do_md_run, which reads
// level, layout, size and roles from the superblocks).
//
// The syscall leaves are func fields so that unit tests run without root.
type Kernel struct {
	Root sysroot.Root // sysfs and procfs
	// Write writes one value to a sysfs attribute (path is absolute,
	// under Root.Sys).
	Write func(path, value string) error
	// Read reads a sysfs or proc file.
	Read func(path string) ([]byte, error)
	// DevNum returns the major:minor of a block device node.
	DevNum func(path string) (major, minor uint32, err error)
	Log    *slog.Logger
}

// NewKernel returns a Kernel on the real sysfs and procfs of root.
func NewKernel(root sysroot.Root, log *slog.Logger) *Kernel {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Kernel{Root: root.WithDefaults(), Write: writeAttr, Read: os.ReadFile, DevNum: devNum, Log: log}
}

// writeAttr writes value to a sysfs attribute the way echo does: one write
// with a trailing newline, so that the kernel's store function sees the
// whole value at once and its error comes back from write(2).
func writeAttr(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(value + "\n"); err != nil {
		f.Close()
		return err // a *PathError naming the attribute, with the store's errno
	}
	return f.Close()
}

func (k *Kernel) mdPath(name, attr string) string {
	return filepath.Join(k.Root.Sys, "block", name, "md", attr)
}

func (k *Kernel) write(path, value string) error {
	k.Log.Debug("md sysfs write", "path", path, "value", value)
	if err := k.Write(path, value); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("md: write %q: %w", value, err)
		}
		return fmt.Errorf("md: write %q to %s: %w", value, path, err)
	}
	return nil
}

func (k *Kernel) attr(name, attr string) (string, error) {
	b, err := k.Read(k.mdPath(name, attr))
	if err != nil {
		return "", fmt.Errorf("md: %s: read %s: %w", name, attr, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// personality is the name /proc/mdstat lists for a level's personality.
func personality(l Level) string {
	if l == RAID5 {
		return "raid5"
	}
	return l.String()
}

// Personalities lists the md personalities the kernel has registered, from
// the first line of /proc/mdstat ("Personalities : [raid1] [raid10]").
func (k *Kernel) Personalities() ([]string, error) {
	b, err := k.Read(filepath.Join(k.Root.Proc, "mdstat"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("md: %s/mdstat missing: kernel module md_mod is not loaded", k.Root.Proc)
		}
		return nil, fmt.Errorf("md: read mdstat: %w", err)
	}
	return parsePersonalities(string(b))
}

func parsePersonalities(mdstat string) ([]string, error) {
	line, _, _ := strings.Cut(mdstat, "\n")
	rest, ok := strings.CutPrefix(line, "Personalities :")
	if !ok {
		return nil, fmt.Errorf("md: mdstat first line %q: want \"Personalities : ...\"", line)
	}
	var ps []string
	for _, f := range strings.Fields(rest) {
		name, ok := strings.CutPrefix(f, "[")
		name, ok2 := strings.CutSuffix(name, "]")
		if !ok || !ok2 || name == "" || strings.ContainsAny(name, "[]") {
			return nil, fmt.Errorf("md: mdstat personality %q: want [name]", f)
		}
		ps = append(ps, name)
	}
	return ps, nil
}

// FreeName returns the highest unused mdN, counting down from md127 as
// mdadm does for arrays it names itself.
func (k *Kernel) FreeName() (string, error) {
	for n := 127; n >= 0; n-- {
		name := "md" + strconv.Itoa(n)
		if _, err := os.Stat(filepath.Join(k.Root.Sys, "block", name)); errors.Is(err, fs.ErrNotExist) {
			return name, nil
		}
	}
	return "", fmt.Errorf("md: no free md device between md0 and md127")
}

// Assemble starts the array whose v1.2 superblocks are on devices (block
// device paths) as name ("md127"). The members must not be open elsewhere
// (Create's caller closes them first: the kernel claims each exclusively and
// new_dev fails with EBUSY otherwise). The personality for level must already
// be registered: the kernel would otherwise call request_module, which the
// ramdisk cannot serve, so needle loads raid1/raid10/raid0/raid456 first.
func (k *Kernel) Assemble(ctx context.Context, name string, level Level, devices []string) (*State, error) {
	if !strings.HasPrefix(name, "md") {
		return nil, fmt.Errorf("md: array name %q: want mdN", name)
	}
	if _, err := strconv.Atoi(name[2:]); err != nil {
		return nil, fmt.Errorf("md: array name %q: want mdN", name)
	}
	ps, err := k.Personalities()
	if err != nil {
		return nil, err
	}
	found := false
	for _, p := range ps {
		if p == personality(level) {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("md: %s: personality %s not registered (have %v): load kernel module %s first",
			name, personality(level), ps, level.Module())
	}
	if _, err := os.Stat(filepath.Join(k.Root.Sys, "block", name)); err == nil {
		return nil, fmt.Errorf("md: %s already exists; stop it first", name)
	}
	nums := make([]string, len(devices))
	for i, d := range devices {
		ma, mi, err := k.DevNum(d)
		if err != nil {
			return nil, fmt.Errorf("md: %s: member %s: %w", name, d, err)
		}
		nums[i] = fmt.Sprintf("%d:%d", ma, mi)
	}
	start := time.Now()
	if err := k.write(filepath.Join(k.Root.Sys, "module", "md_mod", "parameters", "new_array"), name); err != nil {
		return nil, err
	}
	fail := func(err error) (*State, error) {
		// Leave nothing half-assembled holding the members.
		if serr := k.write(k.mdPath(name, "array_state"), "clear"); serr != nil {
			k.Log.Warn("md clear after failed assembly", "array", name, "err", serr)
		}
		return nil, err
	}
	if err := k.write(k.mdPath(name, "metadata_version"), "1.2"); err != nil {
		return fail(err)
	}
	for i, n := range nums {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		if err := k.write(k.mdPath(name, "new_dev"), n); err != nil {
			return fail(fmt.Errorf("md: %s: add member %s (%s): the kernel rejected its superblock or the device is busy: %w",
				name, devices[i], n, err))
		}
	}
	if err := k.write(k.mdPath(name, "array_state"), "active"); err != nil {
		return fail(fmt.Errorf("md: %s: start: %w", name, err))
	}
	st, err := k.Status(name)
	if err != nil {
		return fail(err)
	}
	switch st.ArrayState {
	case "clean", "active", "active-idle", "write-pending":
	default:
		return fail(fmt.Errorf("md: %s: array_state %q after start, want clean or active", name, st.ArrayState))
	}
	if st.Level != level.String() {
		return fail(fmt.Errorf("md: %s: kernel level %q, superblocks were written for %s", name, st.Level, level))
	}
	if st.RaidDisks != len(devices) || st.Degraded != 0 {
		return fail(fmt.Errorf("md: %s: raid_disks %d degraded %d, want %d members none degraded",
			name, st.RaidDisks, st.Degraded, len(devices)))
	}
	k.Log.Info("md array started", "array", name, "level", st.Level, "members", devices,
		"state", st.ArrayState, "sync_action", st.SyncAction, "duration", time.Since(start))
	return st, nil
}

// Stop stops the array and releases its members (array_state "clear",
// do_md_stop); it fails while the array is open or mounted.
func (k *Kernel) Stop(name string) error {
	return k.write(k.mdPath(name, "array_state"), "clear")
}

// State is the kernel's view of a running array.
type State struct {
	ArrayState string // clean, active, active-idle, readonly, inactive, …
	Level      string // raid1, raid10, …
	RaidDisks  int
	Degraded   int
	SyncAction string // idle, resync, recover, check, …
	// SyncDone and SyncTotal are md/sync_completed in sectors; both zero
	// when it says "none".
	SyncDone, SyncTotal uint64
	// SyncSpeedKiB is md/sync_speed: the recent resync rate in KiB/s.
	SyncSpeedKiB uint64
	// ResyncStart is md/resync_start: the sector up to which the array is
	// known in sync, MaxSector ("none") once it all is. A dirty array reads
	// 0 here from assembly until its resync finishes, including the moment
	// before the resync thread starts, when sync_action may still be idle.
	ResyncStart uint64
}

// InSync reports whether the whole array is known consistent and nothing
// is being rebuilt.
func (s *State) InSync() bool {
	return !s.Syncing() && s.SyncTotal == 0 && s.ResyncStart == MaxSector && s.Degraded == 0
}

// Syncing reports whether a resync or recovery is under way.
func (s *State) Syncing() bool { return s.SyncAction != "idle" && s.SyncAction != "" }

// Status reads the array's md/ attributes.
func (k *Kernel) Status(name string) (*State, error) {
	var st State
	var err error
	get := func(attr string) string {
		if err != nil {
			return ""
		}
		var v string
		v, err = k.attr(name, attr)
		return v
	}
	st.ArrayState = get("array_state")
	st.Level = get("level")
	rd := get("raid_disks")
	deg := get("degraded")
	st.SyncAction = get("sync_action")
	done := get("sync_completed")
	speed := get("sync_speed")
	rs := get("resync_start")
	if err != nil {
		return nil, err
	}
	if st.RaidDisks, err = strconv.Atoi(rd); err != nil {
		return nil, fmt.Errorf("md: %s: raid_disks %q: %w", name, rd, err)
	}
	if st.Degraded, err = strconv.Atoi(deg); err != nil {
		return nil, fmt.Errorf("md: %s: degraded %q: %w", name, deg, err)
	}
	if st.SyncDone, st.SyncTotal, err = parseSyncCompleted(done); err != nil {
		return nil, fmt.Errorf("md: %s: %w", name, err)
	}
	if speed != "none" {
		if st.SyncSpeedKiB, err = strconv.ParseUint(speed, 10, 64); err != nil {
			return nil, fmt.Errorf("md: %s: sync_speed %q: %w", name, speed, err)
		}
	}
	st.ResyncStart = MaxSector
	if rs != "none" {
		if st.ResyncStart, err = strconv.ParseUint(rs, 10, 64); err != nil {
			return nil, fmt.Errorf("md: %s: resync_start %q: %w", name, rs, err)
		}
	}
	return &st, nil
}

// parseSyncCompleted reads md/sync_completed: "none", or "DONE / TOTAL"
// in sectors (sync_completed_show in drivers/md/md.c).
func parseSyncCompleted(s string) (done, total uint64, err error) {
	if s == "none" || s == "delayed" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("sync_completed %q: want \"none\" or \"N / M\"", s)
	}
	if done, err = strconv.ParseUint(strings.TrimSpace(a), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("sync_completed %q: %w", s, err)
	}
	if total, err = strconv.ParseUint(strings.TrimSpace(b), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("sync_completed %q: %w", s, err)
	}
	return done, total, nil
}

// WaitSync polls the array every interval until it is fully in sync (see
// State.InSync; RAID0, which has no redundancy, as soon as it runs),
// calling progress (if not nil) with each state read.
func (k *Kernel) WaitSync(ctx context.Context, name string, interval time.Duration, progress func(*State)) (*State, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := k.Status(name)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(st)
		}
		if st.InSync() || st.Level == "raid0" {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, fmt.Errorf("md: %s: waiting for resync (%d/%d sectors): %w", name, st.SyncDone, st.SyncTotal, ctx.Err())
		case <-t.C:
		}
	}
}
