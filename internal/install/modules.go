package install

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/modules"
)

// LoadHWDB loads the built-in rules plus the image's extra rules
// (configDir/hwdb.d, from needle build --hwdb-extra or the USB stick) and
// any more (needle.hwdb=). The boot and the shell's commands (`needle
// modules coldplug`, `needle raid show`) load the rules through it, so
// both decide alike.
func LoadHWDB(configDir string, more ...fs.FS) (*hwdb.DB, error) {
	var extra []fs.FS
	if dir := filepath.Join(configDir, "hwdb.d"); isDir(dir) {
		extra = append(extra, hwdb.Dir(dir))
	}
	return hwdb.Load(hwdb.Builtin(), append(extra, more...)...)
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// moduleIndex reads the image's module index on first use; coldplug, md
// and the files stage's filesystem modules share it.
func (m *Machine) moduleIndex() (*modules.Index, error) {
	if m.modIndex == nil {
		ix, err := modules.Load(filepath.Join(m.ModulesRoot, m.KernelRelease))
		if err != nil {
			return nil, fmt.Errorf("module index: %w (the image was built without modules for kernel %s?)", err, m.KernelRelease)
		}
		m.modIndex = ix
	}
	return m.modIndex, nil
}

// coldplug loads the driver of every device present, as the hwdb decides
// or else the kernel's own module aliases; it repeats until no new device
// appears. A module that fails is reported and the others go on.
func (m *Machine) coldplug(ctx context.Context, inv *inventory.Inventory, mods *Modules) error {
	dir := filepath.Join(m.ModulesRoot, m.KernelRelease)
	ix, err := m.moduleIndex()
	if err != nil {
		return err
	}
	// The kernel asks userspace for modules it needs itself (crypto
	// algorithms, fs-*): busybox's modprobe reads the image's modules.dep.
	_ = os.WriteFile(filepath.Join(m.Root.Proc, "sys/kernel/modprobe"), []byte("/bin/modprobe\n"), 0o644)

	log := m.Report.Slog("modules", m.Config.Debug)
	loader := modules.NewLoader(ix, m.Root.Proc, "/lib/firmware", log)
	decide := NewDecider(mods.HWDB, inv.DMI, m.KernelRelease, OverlayFiles(dir))
	cp := &modules.Coldplug{Index: ix, SysfsRoot: m.Root.Sys, Loader: decide.Loader(loader), Decider: decide, Log: log}
	rep, err := cp.Run(ctx)
	mods.Coldplug, mods.cp, mods.closeLoader = rep, cp, loader.Close
	if err != nil {
		return err
	}
	loaded := 0
	for _, r := range rep.Results {
		if r.Outcome == string(modules.Loaded) {
			loaded++
		}
	}
	msg := fmt.Sprintf("%d devices decided in %d rounds, %d modules loaded", len(rep.Results), rep.Rounds, loaded)
	if f := rep.Failed(); len(f) > 0 {
		var names []string
		for _, r := range f {
			names = append(names, r.Module)
		}
		msg += fmt.Sprintf(", %d failed: %s", len(f), strings.Join(names, ", "))
	}
	m.Report.Infof("modules", "%s", msg)
	return nil
}

// rescan runs coldplug for devices that appeared since the last run.
func (r *Modules) rescan(ctx context.Context) error {
	if r.cp == nil {
		return nil
	}
	rep, err := r.cp.Run(ctx)
	r.Coldplug.Results = append(r.Coldplug.Results, rep.Results...)
	return err
}

// Decider is the modules stage's decision for a device: the hwdb rule that
// decides it, else nothing (the kernel's aliases then pick the module). An
// overlay is chosen only where the image carries it. The boot and `needle
// modules coldplug` both use it.
type Decider struct {
	db       *hwdb.DB
	dmi      inventory.DMI
	kernel   string
	overlays map[string]string // module → updates/FILE the image carries
	chosen   map[string]bool   // overlays a rule chose, for the loader
}

// NewDecider decides with db for a machine with dmi running kernel;
// overlays are the files under lib/modules/KVER/updates/ (OverlayFiles).
func NewDecider(db *hwdb.DB, dmi inventory.DMI, kernel string, overlays map[string]string) *Decider {
	return &Decider{db: db, dmi: dmi, kernel: kernel, overlays: overlays, chosen: map[string]bool{}}
}

// Decide implements modules.Decider.
func (d *Decider) Decide(dv modules.Device) (modules.Decision, bool, error) {
	id, ok := dv.PCI()
	if !ok {
		return modules.Decision{}, false, nil
	}
	dev := inventory.PCIDevice{Addr: path.Base(dv.Path), Vendor: id.Vendor, Device: id.Device,
		SubVendor: id.SubVendor, SubDevice: id.SubDevice, Class: id.Class, Modalias: dv.Modalias}
	dec, ok := d.db.Decide(dev, d.dmi, d.kernel)
	if !ok || (dec.Module == "" && len(dec.Blacklist) == 0) {
		return modules.Decision{}, false, nil // a rule that only names a RAID tool
	}
	if dec.Overlay {
		if _, have := d.overlays[modules.Normalize(dec.Module)]; !have {
			return modules.Decision{}, false, fmt.Errorf("rule %s wants overlay %s, which this image does not carry (build it with modules/build.sh)", dec.Rule, dec.Module)
		}
		d.chosen[modules.Normalize(dec.Module)] = true
	}
	return modules.Decision{Module: dec.Module, Params: dec.Params, Blacklist: dec.Blacklist, Rule: dec.Rule, Overlay: dec.Overlay}, true, nil
}

// OverlayFiles maps module names to the overlay files the image carries in
// dir/updates/ (dir is lib/modules/KVER).
func OverlayFiles(dir string) map[string]string {
	out := map[string]string{}
	kos, _ := filepath.Glob(filepath.Join(dir, "updates", "*.ko"))
	for _, ko := range kos {
		out[modules.Normalize(strings.TrimSuffix(filepath.Base(ko), ".ko"))] = "updates/" + filepath.Base(ko)
	}
	return out
}

// overlayLoader loads the overlay build of a module instead of the stock
// one when the hwdb chose the overlay for a device of this box; every other
// load goes to the stock module that modules.dep names.
// Loader wraps l so that a module a rule chose as an overlay is loaded
// from its file under updates/, every other from the stock tree.
func (d *Decider) Loader(l modules.ModuleLoader) modules.ModuleLoader {
	return &overlayLoader{ModuleLoader: l, files: d.overlays, chosen: d.chosen}
}

type overlayLoader struct {
	modules.ModuleLoader
	files  map[string]string
	chosen map[string]bool
}

func (o *overlayLoader) Load(ctx context.Context, mod *modules.Module, params string) (modules.Outcome, error) {
	if o.chosen[mod.Name] {
		c := *mod
		c.Path, c.Compression = o.files[mod.Name], modules.None
		mod = &c
	}
	return o.ModuleLoader.Load(ctx, mod, params)
}

// settle waits for the devices the drivers bring up to appear (SCSI scans
// behind a controller run asynchronously; usb-storage waits a second
// before it scans a stick), runs coldplug again for any new device that
// carries a modalias (the stick's disk needs sd_mod), then takes the
// inventory again so the plan sees the disks and NICs.
func (m *Machine) settle(ctx context.Context, mods *Modules) (*inventory.Inventory, error) {
	count := func() int {
		n := 0
		for _, d := range []string{"class/block", "class/net", "bus/scsi/devices", "bus/usb/devices"} {
			ents, _ := os.ReadDir(filepath.Join(m.Root.Sys, d))
			n += len(ents)
		}
		return n
	}
	const quiet, bound = 2500 * time.Millisecond, 30 * time.Second
	last, since := count(), time.Now()
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		n := count()
		if n != last {
			last, since = n, time.Now()
			if err := mods.rescan(ctx); err != nil {
				return nil, err
			}
			continue
		}
		if time.Since(since) >= quiet {
			break
		}
	}
	inv, err := inventory.Read(m.Root)
	if err != nil {
		return nil, err
	}
	m.printInventory("modules", inv)
	return inv, m.keepInventory(inv)
}
