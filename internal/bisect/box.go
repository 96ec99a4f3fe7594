package bisect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/needle-boot/needle/internal/toolrun"
	"github.com/needle-boot/needle/modules"
)

// Swapper unloads and loads the driver (modules.Loader).
type Swapper interface {
	Unload(name string) error
	LoadFile(ctx context.Context, name, path, params string) (modules.Outcome, error)
}

// Box runs candidates on this machine: it fetches each one, swaps it in for
// the driver, waits for the driver's devices, and runs the probe. It never
// writes to a disk: it only refuses when something holds the driver's.
type Box struct {
	Root sysroot.Root
	// Source is where the bisection set is: an http(s) URL or a
	// directory (a USB stick); Get fetches a URL.
	Source string
	Get    func(ctx context.Context, url string) ([]byte, error)
	// Dir is where candidates and tools are put (/run/needle/bisect).
	Dir     string
	Modules Swapper
	// Holders lists what holds a disk; nil is disk.FindHolders on Root.
	Holders func(disk string) ([]disk.Holder, error)
	// Probe runs the probe; nil is toolrun.Exec with the manifest's
	// timeout. Hold is passed to it (PID 1's reaper).
	Probe  toolrun.Runner
	Hold   func() (release func())
	Settle time.Duration // bound on waiting for the devices (0: 30 s)
	Log    *slog.Logger

	m       *Manifest
	devices []string // the PCI devices the driver had bound at the start
	disks   int      // block devices under them at the start
}

// Open fetches and checks the manifest and the tools it lists, and records
// what the driver drives now (the state each candidate must bring back).
func (b *Box) Open(ctx context.Context) (*Manifest, error) {
	data, err := b.read(ctx, ManifestFile)
	if err != nil {
		return nil, err
	}
	m, err := ParseManifest(b.where(ManifestFile), data)
	if err != nil {
		return nil, err
	}
	b.m = m
	if err := os.MkdirAll(filepath.Join(b.Dir, "bin"), 0o755); err != nil {
		return nil, err
	}
	for _, t := range m.Tools {
		if _, err := b.fetch(ctx, t, filepath.Join(b.Dir, "bin", path.Base(t.Path)), 0o755); err != nil {
			return nil, err
		}
	}
	b.devices = b.bound()
	b.disks = len(b.disksOf(b.devices))
	return m, nil
}

// Test runs one candidate: fetch, unload the driver, load the candidate,
// settle, probe.
func (b *Box) Test(ctx context.Context, c Candidate) (Result, error) {
	var r Result
	if c.Module == nil {
		return r, fmt.Errorf("%w: not built (%s)", ErrUntestable, c.Skip)
	}
	t := time.Now()
	ko, err := b.fetch(ctx, *c.Module, filepath.Join(b.Dir, fmt.Sprintf("%04d-%s", c.Index, path.Base(c.Module.Path))), 0o644)
	r.Fetch = time.Since(t)
	if err != nil {
		return r, err
	}
	t = time.Now()
	if err := b.Unload(); err != nil {
		return r, err
	}
	r.Unload = time.Since(t)
	t = time.Now()
	if _, err := b.Modules.LoadFile(ctx, b.m.Module, ko, ""); err != nil {
		r.Load = time.Since(t)
		return r, fmt.Errorf("%w: %v", ErrUntestable, err)
	}
	r.Load = time.Since(t)
	t = time.Now()
	b.settle(ctx)
	r.Settle = time.Since(t)
	t = time.Now()
	r.Good, r.How, err = b.probe(ctx)
	r.Probe = time.Since(t)
	return r, err
}

// Unload removes the driver after checking that nothing holds the disks
// behind it: swapping a driver under a mounted filesystem, an md array or
// a device-mapper map would pull the disk out from under them.
func (b *Box) Unload() error {
	holders := b.Holders
	if holders == nil {
		holders = func(d string) ([]disk.Holder, error) { return disk.FindHolders(b.Root, d) }
	}
	for _, d := range b.disksOf(b.bound()) {
		hs, err := holders(d)
		if err != nil {
			return fmt.Errorf("unload %s: %w", b.m.Module, err)
		}
		if len(hs) > 0 {
			var what []string
			for _, h := range hs {
				what = append(what, h.String())
			}
			return fmt.Errorf("unload %s: its disk /dev/%s is in use (%s); bisect swaps the driver under it: release it first (umount, swapoff, mdadm --stop)",
				b.m.Module, d, strings.Join(what, "; "))
		}
	}
	if err := b.Modules.Unload(b.m.Module); err != nil {
		users := b.moduleUsers()
		if len(users) > 0 {
			return fmt.Errorf("%w (used by %s)", err, strings.Join(users, ", "))
		}
		return fmt.Errorf("%w (something holds it open: a tool with its device node, a mounted disk)", err)
	}
	return nil
}

// Stock loads the stock driver again once the bisection is over (load is
// modprobe of the image's own module).
func (b *Box) Stock(ctx context.Context, load func(ctx context.Context, module string) error) error {
	if err := b.Unload(); err != nil {
		return err
	}
	if err := load(ctx, b.m.Module); err != nil {
		return fmt.Errorf("reloading the stock %s: %w", b.m.Module, err)
	}
	b.settle(ctx)
	return nil
}

// where names a file of the set for messages and fetching.
func (b *Box) where(rel string) string {
	if isURL(b.Source) {
		return strings.TrimSuffix(b.Source, "/") + "/" + rel
	}
	return filepath.Join(b.Source, filepath.FromSlash(rel))
}

func isURL(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }

func (b *Box) read(ctx context.Context, rel string) ([]byte, error) {
	if isURL(b.Source) {
		return b.Get(ctx, b.where(rel))
	}
	return os.ReadFile(b.where(rel))
}

// fetch gets f, checks its digest and writes it to dst.
func (b *Box) fetch(ctx context.Context, f File, dst string, mode os.FileMode) (string, error) {
	data, err := b.read(ctx, f.Path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != f.SHA256 {
		return "", fmt.Errorf("%s: sha256 %s, the manifest says %s", b.where(f.Path), got, f.SHA256)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		return "", err
	}
	return dst, nil
}

var pciAddrRe = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// bound lists the PCI devices the driver is bound to now.
func (b *Box) bound() []string {
	ents, _ := os.ReadDir(filepath.Join(b.Root.Sys, "bus/pci/drivers", b.m.Module))
	var out []string
	for _, e := range ents {
		if pciAddrRe.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

// disksOf lists the whole disks below the given PCI devices.
func (b *Box) disksOf(devs []string) []string {
	ents, _ := os.ReadDir(filepath.Join(b.Root.Sys, "class/block"))
	var out []string
	for _, e := range ents {
		link := filepath.Join(b.Root.Sys, "class/block", e.Name())
		if _, err := os.Stat(filepath.Join(link, "partition")); err == nil {
			continue
		}
		target, err := os.Readlink(link)
		if err != nil {
			continue
		}
		for _, d := range devs {
			if strings.Contains(target, "/"+d+"/") {
				out = append(out, e.Name())
				break
			}
		}
	}
	return out
}

// moduleUsers are the modules that use the driver (sysfs holders/).
func (b *Box) moduleUsers() []string {
	ents, _ := os.ReadDir(filepath.Join(b.Root.Sys, "module", b.m.Module, "holders"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	if rc, err := os.ReadFile(filepath.Join(b.Root.Sys, "module", b.m.Module, "refcnt")); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(rc))); n > len(out) {
			out = append(out, fmt.Sprintf("%d open references", n-len(out)))
		}
	}
	return out
}

// settle waits, bounded, until the driver is bound to every device it had
// at the start and as many disks as then are back (a broken candidate may
// bring fewer: the probe judges it, settle only waits).
func (b *Box) settle(ctx context.Context) {
	bound := b.Settle
	if bound <= 0 {
		bound = 30 * time.Second
	}
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		have := b.bound()
		all := true
		for _, d := range b.devices {
			all = all && slices.Contains(have, d)
		}
		if all && len(b.disksOf(b.devices)) >= b.disks {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	if b.Log != nil {
		b.Log.Warn("bisect: devices not all back", "module", b.m.Module, "after", bound,
			"bound", b.bound(), "disks", len(b.disksOf(b.devices)), "want", b.disks)
	}
}

// probe runs the manifest's probe with the tools on PATH: exit 0 is good;
// an exit status, a signal or a timeout is bad and named.
func (b *Box) probe(ctx context.Context) (bool, string, error) {
	run := b.Probe
	if run == nil {
		timeout := time.Duration(b.m.ProbeTimeout) * time.Second
		if timeout <= 0 {
			timeout = 2 * time.Minute
		}
		env := append(os.Environ(), "PATH="+filepath.Join(b.Dir, "bin")+":"+os.Getenv("PATH"))
		run = toolrun.Exec{Timeout: timeout, Env: env, Hold: b.Hold, Log: b.Log}
	}
	_, err := run.Run(ctx, "/bin/sh", "-c", b.m.Probe)
	if err == nil {
		return true, "exit status 0", nil
	}
	var te *toolrun.Error
	if !errors.As(err, &te) || (te.ExitCode < 0 && te.Signal == "" && !te.TimedOut) {
		return false, "", fmt.Errorf("probe %q did not run: %w", b.m.Probe, err)
	}
	switch {
	case te.TimedOut:
		return false, fmt.Sprintf("timed out after %s", te.Timeout), nil
	case te.Signal != "":
		return false, fmt.Sprintf("killed by signal %d (%s)", te.SignalNo, te.Signal), nil
	case te.ExitCode > 128 && te.ExitCode <= 128+64:
		// sh -c reports a child's death by signal N as 128+N.
		n := te.ExitCode - 128
		return false, fmt.Sprintf("killed by signal %d (%s)", n, syscall.Signal(n)), nil
	}
	return false, fmt.Sprintf("exit status %d", te.ExitCode), nil
}
