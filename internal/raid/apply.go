package raid

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/shell"
	"github.com/needle-boot/needle/internal/toolrun"
)

// FindController picks the controller a plan's raid entry names: by PCI
// address (as the tool reports it) or by the tool's own index.
func FindController(st *Result, c plan.Controller) (Controller, error) {
	var have []string
	for _, ctl := range st.Controllers {
		have = append(have, fmt.Sprintf("%d at %s", ctl.Index, orUnknown(ctl.PCIAddress)))
		switch {
		case c.PCI != "" && strings.EqualFold(ctl.PCIAddress, c.PCI):
			return ctl, nil
		case c.PCI == "" && c.Index != nil && ctl.Index == *c.Index:
			return ctl, nil
		}
	}
	want := c.PCI
	if c.PCI == "" && c.Index != nil {
		want = fmt.Sprintf("index %d", *c.Index)
	}
	if len(have) == 0 {
		have = []string{"none"}
	}
	return Controller{}, fmt.Errorf("%s sees no controller %s (it sees: %s)", st.Tool, want, strings.Join(have, ", "))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown PCI address"
	}
	return s
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// DryRun reads the state and prints the exact command lines to Out
	// instead of running them.
	DryRun bool
	// Out receives the dry run's command lines and the actions; nil
	// discards.
	Out io.Writer
	Log *slog.Logger
	// Diagnose, when set, turns a failure into a diagnosed one (see
	// Diagnoser); pci is the controller's address when known.
	Diagnose func(err error, pci string) error
}

// Applied is the outcome of Apply.
type Applied struct {
	Controller Controller
	Actions    []Action
	// Before and After are the states read before and after (After is
	// nil for a dry run).
	Before, After *Result
	// Volumes are the plan's volumes as read back, by plan name.
	Volumes map[string]Volume
}

// Apply makes the controller of one plan raid entry carry its volumes: read
// the state, compute the actions (Plan), run them (deletes first), read the
// state back and Verify it. Nothing is changed when Plan refuses.
func Apply(ctx context.Context, d Driver, entry plan.RAID, opt ApplyOptions) (*Applied, error) {
	out := opt.Out
	if out == nil {
		out = io.Discard
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	diag := func(err error, pci string) error {
		if opt.Diagnose != nil {
			return opt.Diagnose(err, pci)
		}
		return err
	}
	pci := entry.Controller.PCI
	before, err := d.State(ctx)
	if err != nil {
		return nil, diag(fmt.Errorf("raid: read state: %w", err), pci)
	}
	ctl, err := FindController(before, entry.Controller)
	if err != nil {
		return nil, fmt.Errorf("raid: %w", err)
	}
	if pci == "" {
		pci = ctl.PCIAddress
	}
	res := &Applied{Controller: ctl, Before: before}
	res.Actions, err = Plan(before, entry.Volumes, ctl.Index)
	if err != nil {
		return res, fmt.Errorf("raid: controller %d (%s): %w", ctl.Index, orUnknown(ctl.PCIAddress), err)
	}
	for _, a := range res.Actions {
		log.Info("raid action", "action", a.String())
		var args []string
		switch a.Kind {
		case Create:
			args, err = d.CreateArgs(a.Controller, a.Spec)
		case Delete:
			args, err = d.DeleteArgs(a.Controller, a.VolumeID)
		}
		if err != nil {
			return res, fmt.Errorf("raid: %s: %w", a, err)
		}
		if opt.DryRun {
			if a.Kind == Keep {
				fmt.Fprintf(out, "# %s\n", a)
			} else {
				fmt.Fprintf(out, "%s\n", shell.Join(append([]string{d.Binary()}, args...)))
			}
		}
	}
	if opt.DryRun {
		return res, nil
	}
	for _, a := range res.Actions {
		switch a.Kind {
		case Delete:
			err = d.Delete(ctx, a.Controller, a.VolumeID)
		case Create:
			err = d.Create(ctx, a.Controller, a.Spec)
		default:
			continue
		}
		if err != nil {
			return res, diag(fmt.Errorf("raid: %s: %w", a, err), pci)
		}
		fmt.Fprintf(out, "done: %s\n", a)
	}
	after, err := d.State(ctx)
	if err != nil {
		return res, diag(fmt.Errorf("raid: read back after apply: %w", err), pci)
	}
	res.After = after
	want := entry.Volumes
	if !VolumeNames(d.Tool()) {
		want = withActionMembers(want, res.Actions, before)
	}
	if err := Verify(after, want, ctl.Index); err != nil {
		return res, fmt.Errorf("raid: verify after apply: %w", err)
	}
	res.Volumes = map[string]Volume{}
	var vols []Volume
	for _, v := range after.Volumes {
		if v.Controller == ctl.Index {
			vols = append(vols, v)
		}
	}
	want, _ = resolveMembers(after.Disks, ctl.Index, want)
	used := map[string]bool{}
	for _, w := range want {
		if v := counterpart(vols, w, VolumeNames(d.Tool()), used); v != nil {
			used[v.ID] = true
			res.Volumes[w.Name] = *v
		}
	}
	return res, nil
}

// withActionMembers gives each wanted volume the members apply created it
// on or found it with, so a tool that stores no names finds exactly that
// volume when it reads the state back.
func withActionMembers(want []plan.Volume, acts []Action, before *Result) []plan.Volume {
	out := slices.Clone(want)
	for i, w := range out {
		for _, a := range acts {
			if a.Volume != w.Name {
				continue
			}
			switch a.Kind {
			case Create:
				out[i].Members, out[i].Count = a.Spec.Members, 0
			case Keep:
				for _, v := range before.Volumes {
					if v.Controller == a.Controller && v.ID == a.VolumeID && v.Members != nil {
						out[i].Members, out[i].Count = v.Members, 0
					}
				}
			}
		}
	}
	return out
}

// ErrNoTool: a plan's raid entry names no tool and the hwdb names none for
// its controller.
var ErrNoTool = errors.New("no tool named and no hwdb rule names one")

// PlanOptions tune ApplyPlan.
type PlanOptions struct {
	ApplyOptions
	// Binary is the program run for every tool; empty means each tool's
	// own name, found in PATH (NewDriver).
	Binary string
	// Crashed, when set, receives the diagnosis of a tool that crashed or
	// hung, before ApplyPlan returns the error carrying it.
	Crashed func(*CrashError)
	// Done, when set, is called after each raid entry applied.
	Done func(*Applied)
}

// ApplyPlan applies every raid entry of a plan in order, each through the
// driver of its tool: the entry's own, else toolFor(pci) (the hwdb's
// choice for the controller at that PCI address). It stops at the first
// entry that fails and returns what was applied until then.
func ApplyPlan(ctx context.Context, entries []plan.RAID, toolFor func(pci string) string, r toolrun.Runner, opt PlanOptions) ([]*Applied, error) {
	var done []*Applied
	for _, entry := range entries {
		tool := entry.Controller.Tool
		if tool == "" && toolFor != nil && entry.Controller.PCI != "" {
			tool = toolFor(entry.Controller.PCI)
		}
		if tool == "" {
			return done, fmt.Errorf("raid controller %s: %w", entry.Controller.PCI, ErrNoTool)
		}
		d, err := NewDriver(tool, opt.Binary, r)
		if err != nil {
			return done, err
		}
		res, err := Apply(ctx, d, entry, opt.ApplyOptions)
		if err != nil {
			var ce *CrashError
			if opt.Crashed != nil && errors.As(err, &ce) {
				opt.Crashed(ce)
			}
			return done, err
		}
		if opt.Done != nil {
			opt.Done(res)
		}
		done = append(done, res)
	}
	return done, nil
}
