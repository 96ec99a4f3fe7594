package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid"
)

// toolsInImage lists the RAID vendor tools the image carries (on PATH).
func toolsInImage() []string {
	var have []string
	for _, t := range plan.Tools() {
		if _, err := exec.LookPath(t); err == nil {
			have = append(have, t)
		}
	}
	return have
}

// toolFor names the tool the hwdb gives a controller.
func (m *Machine) toolFor(dev inventory.PCIDevice) string {
	if m.HWDB == nil {
		return ""
	}
	d, ok := m.HWDB.Decide(dev, m.Inventory.DMI, m.KernelRelease)
	if !ok {
		return ""
	}
	return d.RAIDTool
}

// overlaysLoaded maps the modules coldplug loaded from an overlay to where
// they came from, for the crash diagnosis.
func (m *Machine) overlaysLoaded() map[string]string {
	out := map[string]string{}
	for _, r := range m.Coldplug.Results {
		if r.Overlay && r.Err == nil {
			out[r.Module] = "lib/modules/" + m.KernelRelease + "/updates/" + r.Module + ".ko, by hwdb rule " + r.Rule
		}
	}
	return out
}

// applyRAID makes every controller of the plan carry its volumes, changing
// only what differs (and deleting only where the plan says recreate), then
// resolves the plan disks chosen by RAID volume to the block devices the
// volumes became.
func (m *Machine) applyRAID(ctx context.Context) error {
	if len(m.Plan.RAID) == 0 {
		if len(m.Plan.MD) == 0 {
			m.Report.Infof("raid", "the plan asks for no RAID")
		}
		return nil
	}
	log := m.Report.Slog("raid", m.Config.Debug)
	if err := raid.EnsureNodes("/dev", m.Root.Proc, func(p string, mode, major, minor uint32) error {
		return unix.Mknod(p, mode, int(unix.Mkdev(major, minor)))
	}); err != nil {
		m.Report.Warnf("raid", "device nodes: %v", err)
	}
	runner := raid.ExecRunner{Log: log, Hold: m.Hold}
	diag := raid.Diagnoser{SysRoot: m.Root.Sys, Inventory: m.Inventory, DB: m.HWDB, Overlays: m.overlaysLoaded()}
	type want struct {
		ctrl string
		vol  raid.Volume
	}
	var vols = map[string]want{}
	for _, entry := range m.Plan.RAID {
		tool := entry.Controller.Tool
		if tool == "" {
			for _, dev := range m.Inventory.PCI {
				if dev.Addr == entry.Controller.PCI {
					tool = m.toolFor(dev)
				}
			}
		}
		if tool == "" {
			return fmt.Errorf("%s: raid controller %s: no tool named and no hwdb rule names one", m.Plan.File, entry.Controller.PCI)
		}
		d, err := raid.NewDriver(tool, "", runner)
		if err != nil {
			return err
		}
		var out bytes.Buffer
		res, err := raid.Apply(ctx, d, entry, raid.ApplyOptions{Out: &out, Log: log, Diagnose: diag.Diagnose})
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			if l != "" {
				m.Report.Infof("raid", "%s", l)
			}
		}
		if err != nil {
			var ce *raid.CrashError
			if errors.As(err, &ce) {
				for _, l := range strings.Split(strings.TrimRight(ce.Report(), "\n"), "\n") {
					m.Report.Warnf("raid", "%s", l)
				}
			}
			return err
		}
		for name, v := range res.Volumes {
			vols[name] = want{ctrl: res.Controller.PCIAddress, vol: v}
		}
	}
	// The volumes' block devices appear once the controller reports them
	// to the kernel: wait for each, bounded.
	deadline := time.Now().Add(60 * time.Second)
	for {
		inv, err := inventory.Read(m.Root)
		if err != nil {
			return err
		}
		var missing []error
		found := map[string]inventory.Disk{}
		for name, w := range vols {
			d, err := raid.VolumeDisk(inv, w.ctrl, w.vol)
			if err != nil {
				missing = append(missing, fmt.Errorf("volume %q: %w", name, err))
				continue
			}
			found[name] = d
		}
		if len(missing) == 0 {
			m.Inventory = inv
			for name, d := range found {
				m.Report.Infof("raid", "volume %s is /dev/%s (%s)", name, d.Name, plan.HumanBytes(d.Size))
				if err := m.Validated.Resolve(name, d, m.BootDevices); err != nil {
					return err
				}
			}
			return m.keepInventory()
		}
		if time.Now().After(deadline) {
			return errors.Join(missing...)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
