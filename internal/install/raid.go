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
	return raid.HWDBTool(m.HWDB, m.Inventory.DMI, m.KernelRelease)(dev)
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
	runner := toolrun.Exec{Log: log, Hold: m.Hold}
	diag := raid.Diagnoser{SysRoot: m.Root.Sys, Inventory: m.Inventory, DB: m.HWDB, Overlays: m.overlaysLoaded()}
	applied, err := raid.ApplyPlan(ctx, m.Plan.RAID, raid.ToolAt(m.Inventory.PCI, m.toolFor), runner, raid.PlanOptions{
		ApplyOptions: raid.ApplyOptions{Out: &reportLines{m: m}, Log: log, Diagnose: diag.Diagnose},
		Crashed: func(ce *raid.CrashError) {
			for _, l := range strings.Split(strings.TrimRight(ce.Report(), "\n"), "\n") {
				m.Report.Warnf("raid", "%s", l)
			}
		},
	})
	if errors.Is(err, raid.ErrNoTool) {
		return fmt.Errorf("%s: %w", m.Plan.File, err)
	}
	if err != nil {
		return err
	}
	m.raidApplied = applied
	type want struct {
		ctrl string
		vol  raid.Volume
	}
	var vols = map[string]want{}
	for _, res := range applied {
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
