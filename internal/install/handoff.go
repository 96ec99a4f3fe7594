package install

import (
	"bytes"
	"context"
	"strings"

	"github.com/needle-boot/needle/internal/handoff"
	"github.com/needle-boot/needle/internal/report"
)

// handoff boots the installed system: kexec into the kernel, initrd and
// command line found on its root (or given by the plan), or a plain reboot
// when the plan says so or kexec is refused and the plan's fallback is
// reboot. On success it does not return.
func (m *Machine) handoff(ctx context.Context, pl *Planned, disks *Disks) error {
	b := pl.Plan.Boot
	if b.Reboot != nil {
		m.Report.Infof("handoff", "the plan says reboot")
		m.After = "reboot"
		return nil
	}
	mt := m.mounter(disks)
	h := &handoff.Handoff{
		Boot:      b,
		Mount:     mt.mount,
		MountSpec: mt.mountSpec,
		Refs:      handoff.Refs(disks.Refs),
		MountRoot: mountRoot,
		TempDir:   m.RunDir,
		Sys:       handoff.SysLinux(m.Root.Proc),
		Log:       m.Report.Slog("handoff", m.Config.Debug),
		OnLoaded: func(a handoff.Action) {
			m.Report.Emit(report.Event{Stage: "handoff", Kind: report.Result, Message: "installed; kexec into " + a.Target.Kernel,
				Data: map[string]any{"ok": true}})
			m.Finish()
		},
	}
	a, err := h.Prepare(ctx)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	a.WriteTo(&buf)
	for _, l := range strings.Split(strings.TrimRight(buf.String(), "\n"), "\n") {
		m.Report.Infof("handoff", "%s", l)
	}
	return h.Run(ctx, a)
}
