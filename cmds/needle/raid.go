package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/install"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid"
	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/needle-boot/needle/internal/toolrun"
)

const raidUsage = `usage:
  needle raid parse --tool TOOL [--cmd CMD] FILE    print the model of a captured tool output
  needle raid show [--tool TOOL] [--json]           read the live controllers through their tool
  needle raid apply --plan PLAN [--dry-run]         make the controllers carry the plan's volumes
`

// runRaid dispatches "needle raid parse|show|apply".
func runRaid(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, raidUsage)
		return fmt.Errorf("raid: want the subcommand parse, show or apply")
	}
	switch args[0] {
	case "parse":
		return runRaidParse(args[1:], stdout, stderr)
	case "show":
		return runRaidShow(ctx, args[1:], stdout, stderr)
	case "apply":
		return runRaidApply(ctx, args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, raidUsage)
	return fmt.Errorf("raid: unknown subcommand %q (parse, show, apply)", args[0])
}

// runRaidParse implements "needle raid parse --tool TOOL [--cmd CMD] FILE":
// it prints the controller model read from a captured vendor-tool output,
// so an operator can check a new firmware's output before trusting needle
// with it. "-" reads standard input.
func runRaidParse(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("raid parse", stderr)
	tool := fs.String("tool", "", "tool that printed the output: "+strings.Join(raid.Tools(), ", "))
	cmd := fs.String("cmd", "", "command that printed it (default: detect from the output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tool == "" || fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("raid parse: want --tool TOOL and exactly one FILE")
	}
	if !slices.Contains(raid.Tools(), *tool) {
		return fmt.Errorf("raid parse: unknown tool %q (known: %s)", *tool, strings.Join(raid.Tools(), ", "))
	}
	name := fs.Arg(0)
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("raid parse: %w", err)
	}
	r, err := raid.Parse(*tool, *cmd, data)
	if err != nil {
		return fmt.Errorf("raid parse %s: %w", name, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// raidEnv is what show and apply share: the machine's inventory and hwdb,
// the runner, and the device nodes the tools need.
type raidEnv struct {
	sysfs, proc, dev string
	configDir        string
	timeout          time.Duration
	mknod            bool
	binary           string
	log              *slog.Logger
	inv              *inventory.Inventory
	db               *hwdb.DB
}

func (e *raidEnv) flags(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
	BoolVar(*bool, string, bool, string)
}) {
	fs.StringVar(&e.sysfs, "sysfs", "/sys", "sysfs root (inventory, driver modules)")
	fs.StringVar(&e.proc, "proc", "/proc", "procfs root")
	fs.StringVar(&e.dev, "dev", "/dev", "device root for --mknod")
	fs.StringVar(&e.configDir, "config-dir", "/etc/needle", "the image's config directory: its hwdb.d/ rules are loaded with the built-in ones, as at boot")
	fs.DurationVar(&e.timeout, "timeout", toolrun.DefaultTimeout, "limit for each tool call")
	fs.BoolVar(&e.mknod, "mknod", false, "create the device nodes the tools open (/dev/mpt2ctl, /dev/megaraid_sas_ioctl_node, …) whose driver is loaded")
	fs.StringVar(&e.binary, "binary", "", "program to run for the tool (default: the tool's name in PATH); with it, apply counts the plan's tools as present")
}

func (e *raidEnv) load(stderr io.Writer) error {
	e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	inv, err := inventory.Read(inventory.Root{Sys: e.sysfs, Proc: e.proc})
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	e.inv = inv
	if e.db, err = install.LoadHWDB(e.configDir); err != nil {
		return fmt.Errorf("hwdb: %w", err)
	}
	if e.mknod {
		err := raid.EnsureNodes(e.dev, e.proc, func(path string, mode, major, minor uint32) error {
			return unix.Mknod(path, mode, int(unix.Mkdev(major, minor)))
		})
		if err != nil {
			return fmt.Errorf("device nodes: %w", err)
		}
	}
	return nil
}

func (e *raidEnv) runner() toolrun.Runner {
	return toolrun.Exec{Timeout: e.timeout, Log: e.log}
}

func (e *raidEnv) driver(tool string) (raid.Driver, error) {
	return raid.NewDriver(tool, e.binary, e.runner())
}

// toolFor is the tool the hwdb names for a controller.
func (e *raidEnv) toolFor(dev inventory.PCIDevice) string {
	return raid.HWDBTool(e.db, e.inv.DMI, e.inv.Kernel)(dev)
}

func (e *raidEnv) diagnoser() raid.Diagnoser {
	return raid.Diagnoser{Root: sysroot.Root{Sys: e.sysfs}, Inventory: e.inv, DB: e.db}
}

// runRaidShow implements "needle raid show [--tool TOOL]": without --tool
// it runs every tool the hwdb names for this machine's controllers.
func runRaidShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("raid show", stderr)
	var env raidEnv
	env.flags(fs)
	tool := fs.String("tool", "", "tool to run (default: the ones the hwdb names for the controllers present)")
	asJSON := fs.Bool("json", false, "print the model as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("raid show: unexpected argument %q", fs.Arg(0))
	}
	if err := env.load(stderr); err != nil {
		return fmt.Errorf("raid show: %w", err)
	}
	tools := []string{*tool}
	if *tool == "" {
		tools = nil
		for _, dev := range env.inv.PCI {
			if t := env.toolFor(dev); t != "" && !slices.Contains(tools, t) {
				tools = append(tools, t)
			}
		}
		if len(tools) == 0 {
			return fmt.Errorf("raid show: no hwdb rule names a RAID tool for this machine's controllers; give --tool")
		}
	}
	var results []*raid.Result
	var errs []error
	for _, t := range tools {
		d, err := env.driver(t)
		if err != nil {
			return fmt.Errorf("raid show: %w", err)
		}
		st, err := d.State(ctx)
		if err != nil {
			err = env.diagnoser().Diagnose(err, "")
			var ce *raid.CrashError
			if errors.As(err, &ce) {
				fmt.Fprint(stderr, ce.Report())
			}
			errs = append(errs, fmt.Errorf("raid show: %s: %w", t, err))
			continue
		}
		results = append(results, st)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			writeState(stdout, r)
		}
	}
	return errors.Join(errs...)
}

// writeState prints a state for people.
func writeState(w io.Writer, r *raid.Result) {
	fmt.Fprintf(w, "%s %s\n", r.Tool, r.ToolVersion)
	if len(r.Controllers) == 0 {
		fmt.Fprintf(w, "  no controller\n")
	}
	for _, c := range r.Controllers {
		fmt.Fprintf(w, "controller %d  %s  pci %s [%s %s]  firmware %s  mode %s\n", c.Index, c.Model, dash(c.PCIAddress), dash(c.PCIID), dash(c.PCISubsystem), dash(c.Firmware), dash(c.Mode))
		for _, v := range r.Volumes {
			if v.Controller == c.Index {
				fmt.Fprintf(w, "  volume %-4s %-15q %-7s %10s  %-10s members %s\n", v.ID, v.Name, v.Level, plan.HumanBytes(v.SizeBytes), v.State, strings.Join(v.Members, " "))
			}
		}
		for _, d := range r.Disks {
			if d.Controller == c.Index {
				fmt.Fprintf(w, "  disk   %-8s %10s  %-4s %-10s %s %s\n", d.Location, plan.HumanBytes(d.SizeBytes), dash(d.Media), d.State, d.Model, d.Serial)
			}
		}
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runRaidApply implements "needle raid apply --plan PLAN [--dry-run]": the
// plan is validated against this machine first (tools present, controllers
// present), then each raid entry is applied and verified, and each volume
// is matched to its block device.
func runRaidApply(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("raid apply", stderr)
	var env raidEnv
	env.flags(fs)
	planFile := fs.String("plan", "", "install plan (YAML)")
	dry := fs.Bool("dry-run", false, "print the commands that would run, change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *planFile == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("raid apply: want --plan PLAN and no other argument")
	}
	data, err := plan.ReadFile(ctx, *planFile)
	if err != nil {
		return fmt.Errorf("raid apply: %w", err)
	}
	p, err := plan.Parse(*planFile, data)
	if err != nil {
		return fmt.Errorf("raid apply: %w", err)
	}
	if len(p.RAID) == 0 {
		return fmt.Errorf("raid apply: %s has no raid section", *planFile)
	}
	if err := env.load(stderr); err != nil {
		return fmt.Errorf("raid apply: %w", err)
	}
	have := install.ToolsInImage()
	if env.binary != "" {
		have = plan.Tools()
	}
	if _, err := install.ValidatePlan(p, env.inv, install.Validation{DB: env.db, Kernel: env.inv.Kernel, Tools: have}); err != nil {
		return fmt.Errorf("raid apply: the plan does not fit this machine, nothing was touched: %w", err)
	}
	applied, err := raid.ApplyPlan(ctx, p.RAID, raid.ToolAt(env.inv.PCI, env.toolFor), env.runner(), raid.PlanOptions{
		ApplyOptions: raid.ApplyOptions{DryRun: *dry, Out: stdout, Log: env.log, Diagnose: env.diagnoser().Diagnose},
		Binary:       env.binary,
		Crashed:      func(ce *raid.CrashError) { fmt.Fprint(stderr, ce.Report()) },
		Done: func(res *raid.Applied) {
			if *dry {
				return
			}
			for _, a := range res.Actions {
				if a.Kind == raid.Keep {
					fmt.Fprintf(stdout, "%s\n", a)
				}
			}
		},
	})
	if err != nil {
		return fmt.Errorf("raid apply: %w", err)
	}
	if *dry {
		return nil
	}
	// The volumes' block devices: a fresh inventory sees the new disks.
	inv, err := inventory.Read(inventory.Root{Sys: env.sysfs, Proc: env.proc})
	if err != nil {
		return fmt.Errorf("raid apply: inventory after apply: %w", err)
	}
	var errs []error
	for _, res := range applied {
		for name, v := range res.Volumes {
			disk, err := raid.VolumeDisk(inv, res.Controller.PCIAddress, v)
			if err != nil {
				errs = append(errs, fmt.Errorf("raid apply: volume %q: %w", name, err))
				continue
			}
			fmt.Fprintf(stdout, "volume %s is /dev/%s\n", name, disk.Name)
		}
	}
	return errors.Join(errs...)
}
