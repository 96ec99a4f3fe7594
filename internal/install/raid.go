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
	"github.com/needle-boot/needle/internal/toolrun"
)

// ToolsInImage lists the RAID vendor tools the image carries (on PATH).
func ToolsInImage() []string {
	var have []string
	for _, t := range plan.Tools() {
		if _, err := exec.LookPath(t); err == nil {
			have = append(have, t)
		}
	}
	return have
}

// toolFor names the tool the hwdb gives a controller of this machine.
func (m *Machine) toolFor(inv *inventory.Inventory, mods *Modules) func(inventory.PCIDevice) string {
	return raid.HWDBTool(mods.HWDB, inv.DMI, m.KernelRelease)
}

// overlaysLoaded maps the modules coldplug loaded from an overlay to where
// they came from, for the crash diagnosis.
func (m *Machine) overlaysLoaded(mods *Modules) map[string]string {
	out := map[string]string{}
	for _, r := range mods.Coldplug.Results {
		if r.Overlay && r.Err == nil {
			out[r.Module] = "lib/modules/" + m.KernelRelease + "/updates/" + r.Module + ".ko, by hwdb rule " + r.Rule
		}
	}
	return out
}

// applyRAID makes every controller of the plan carry its volumes, changing
// only what differs (and deleting only where the plan says recreate), then
// resolves the plan disks chosen by RAID volume to the block devices the
// volumes became. It returns the inventory that shows them.
func (m *Machine) applyRAID(ctx context.Context, pl *Planned, inv *inventory.Inventory, mods *Modules, vols *Volumes) (*inventory.Inventory, error) {
	p := pl.Plan
	if len(p.RAID) == 0 {
		if len(p.MD) == 0 {
			m.Report.Infof("raid", "the plan asks for no RAID")
		}
		return inv, nil
	}
	log := m.Report.Slog("raid", m.Config.Debug)
	if err := raid.EnsureNodes("/dev", m.Root.Proc, func(p string, mode, major, minor uint32) error {
		return unix.Mknod(p, mode, int(unix.Mkdev(major, minor)))
	}); err != nil {
		m.Report.Warnf("raid", "device nodes: %v", err)
	}
	runner := toolrun.Exec{Log: log, Hold: m.Hold}
	diag := raid.Diagnoser{Root: m.Root, Inventory: inv, DB: mods.HWDB, Overlays: m.overlaysLoaded(mods)}
	applied, err := raid.ApplyPlan(ctx, p.RAID, raid.ToolAt(inv.PCI, m.toolFor(inv, mods)), runner, raid.PlanOptions{
		ApplyOptions: raid.ApplyOptions{Out: &reportLines{m: m}, Log: log, Diagnose: diag.Diagnose},
		Crashed: func(ce *raid.CrashError) {
			for _, l := range strings.Split(strings.TrimRight(ce.Report(), "\n"), "\n") {
				m.Report.Warnf("raid", "%s", l)
			}
		},
	})
	if errors.Is(err, raid.ErrNoTool) {
		return nil, fmt.Errorf("%s: %w", p.File, err)
	}
	if err != nil {
		return nil, err
	}
	vols.Applied = applied
	type want struct {
		ctrl string
		vol  raid.Volume
	}
	byName := map[string]want{}
	for _, res := range applied {
		for name, v := range res.Volumes {
			byName[name] = want{ctrl: res.Controller.PCIAddress, vol: v}
		}
	}
	// The volumes' block devices appear once the controller reports them
	// to the kernel: wait for each, bounded.
	deadline := time.Now().Add(60 * time.Second)
	for {
		inv, err = inventory.Read(m.Root)
		if err != nil {
			return nil, err
		}
		var missing []error
		found := map[string]inventory.Disk{}
		for name, w := range byName {
			d, err := raid.VolumeDisk(inv, w.ctrl, w.vol)
			if err != nil {
				missing = append(missing, fmt.Errorf("volume %q: %w", name, err))
				continue
			}
			found[name] = d
		}
		if len(missing) == 0 {
			for name, d := range found {
				m.Report.Infof("raid", "volume %s is /dev/%s (%s)", name, d.Name, plan.HumanBytes(d.Size))
				if err := pl.Validated.Resolve(name, d, mods.BootDevices()); err != nil {
					return nil, err
				}
			}
			return inv, m.keepInventory(inv)
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(missing...)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// reportLines logs each line written to it as a raid event: the actions
// an apply prints as it runs them.
type reportLines struct {
	m   *Machine
	buf []byte
}

func (w *reportLines) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		if l := string(w.buf[:i]); l != "" {
			w.m.Report.Infof("raid", "%s", l)
		}
		w.buf = w.buf[i+1:]
	}
}
