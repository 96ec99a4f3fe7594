package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/install"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/modules"
	"golang.org/x/sys/unix"
)

const modulesUsage = `usage: needle modules COMMAND [flags] ARGS

Inspect and use a kernel's module index (built from the .ko files, or read
from modules.dep & co. when they exist).

  deps NAME|ALIAS...          the load list, as modprobe would load it
  alias MODALIAS...           the modules whose aliases match
  depmod KVER OUTDIR          build the index from the .ko files and write
                              modules.dep/.alias/.softdep/.builtin to OUTDIR
  select [CLASS...]           the image's module selection and its size
                              (classes: storage network md filesystem usb-storage)
  coldplug                    load the drivers of every device (or --dry-run)
  load NAME [PARAM=V...]      load a module with its dependencies

common flags (before ARGS):
  --kernel-dir DIR            root holding lib/modules/KVER (default /)
  --kver KVER                 kernel release (default: the running kernel)
  --scan                      parse the .ko files even if modules.dep exists
`

// runModules is "needle modules".
func runModules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, modulesUsage)
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlags("modules "+sub, stderr)
	fs.Usage = func() { fmt.Fprint(stderr, modulesUsage) }
	kdir := fs.String("kernel-dir", "/", "root holding lib/modules/KVER")
	kver := fs.String("kver", "", "kernel release (default: uname -r)")
	scan := fs.Bool("scan", false, "parse the .ko files even if modules.dep exists")
	sysfs := fs.String("sysfs", "/sys", "sysfs root (coldplug)")
	configDir := fs.String("config-dir", "/etc/needle", "coldplug: the image's config directory, whose hwdb.d/ rules are loaded with the built-in ones, as at boot")
	var hwdbExtra []string
	fs.Func("hwdb-extra", "coldplug: more rule `DIR`s (repeatable), as needle.hwdb= adds them", func(v string) error { hwdbExtra = append(hwdbExtra, v); return nil })
	dryRun := fs.Bool("dry-run", false, "coldplug: decide and print, load nothing")
	blacklist := fs.String("blacklist", "", "comma separated modules not to load by alias")
	if err := fs.Parse(args); err != nil {
		return err
	}
	args = fs.Args()
	pol := modules.Policy{Options: map[string]string{}}
	if *blacklist != "" {
		pol.Blacklist = strings.Split(*blacklist, ",")
	}
	if sub == "depmod" {
		if len(args) != 2 {
			return fmt.Errorf("modules depmod: want KVER OUTDIR, got %q", args)
		}
		return modulesDepmod(*kdir, args[0], args[1], stdout)
	}
	if *kver == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return fmt.Errorf("uname: %w", err)
		}
		*kver = unix.ByteSliceToString(u.Release[:])
	}
	root := filepath.Join(*kdir, "lib", "modules", *kver)
	ix, err := openIndex(root, *scan)
	if err != nil {
		return err
	}
	switch sub {
	case "deps":
		if len(args) == 0 {
			return errors.New("modules deps: want NAME or ALIAS")
		}
		tw := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		for _, want := range args {
			plan, err := ix.Resolve(want, pol)
			if err != nil {
				return err
			}
			for _, b := range plan.Blacklisted {
				fmt.Fprintf(tw, "%s\tblacklisted\t\n", b)
			}
			for _, s := range plan.Steps {
				path := s.Module.Path
				if s.Module.Builtin {
					path = "(builtin)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Module.Name, path, s.Why)
			}
		}
		return tw.Flush()
	case "alias":
		if len(args) == 0 {
			return errors.New("modules alias: want MODALIAS")
		}
		for _, a := range args {
			mods, pats := ix.Aliases().MatchPatterns(a)
			if len(mods) == 0 {
				fmt.Fprintf(stdout, "%s: no module\n", a)
			}
			for i, m := range mods {
				kind := ""
				if m.Builtin {
					kind = " (builtin)"
				}
				fmt.Fprintf(stdout, "%s: %s%s via %s\n", a, m.Name, kind, pats[i])
			}
		}
		return nil
	case "select":
		var classes []modules.Class
		for _, a := range args {
			classes = append(classes, modules.Class(a))
		}
		sel, err := modules.Select(ix, classes...)
		if err != nil {
			return err
		}
		for _, m := range sel.Modules {
			fmt.Fprintf(stdout, "%s\t%d\n", m.Path, m.Size)
		}
		keys := make([]string, 0, len(sel.ByClass))
		for c := range sel.ByClass {
			keys = append(keys, string(c))
		}
		sort.Strings(keys)
		for _, c := range keys {
			fmt.Fprintf(stderr, "class %s: %d modules\n", c, sel.ByClass[modules.Class(c)])
		}
		fmt.Fprintf(stderr, "%d modules with dependencies, %.1f MiB (whole tree %.1f MiB)\n", len(sel.Modules), float64(sel.Size)/(1<<20), float64(modules.TotalSize(ix.Modules))/(1<<20))
		return nil
	case "coldplug":
		log := slog.New(slog.NewTextHandler(stderr, nil))
		var loader modules.ModuleLoader
		if *dryRun {
			loader = &dryLoader{out: stdout, seen: map[string]bool{}}
		} else {
			l := modules.NewLoader(ix, "/proc", "/lib/firmware", log)
			defer l.Close()
			loader = l
		}
		// The boot's decision: the same rules, the same decider.
		var more []iofs.FS
		for _, d := range hwdbExtra {
			more = append(more, hwdb.Dir(d))
		}
		db, err := install.LoadHWDB(*configDir, more...)
		if err != nil {
			return fmt.Errorf("coldplug: %w", err)
		}
		rt := resolveRoot(*sysfs, "")
		dec := install.NewDecider(db, inventory.ReadDMI(rt), *kver, install.OverlayFiles(root))
		cp := &modules.Coldplug{Index: ix, SysfsRoot: rt.Sys, Loader: dec.Loader(loader), Decider: dec, Policy: pol, Log: log}
		rep, err := cp.Run(ctx)
		if err != nil {
			return err
		}
		if f := rep.Failed(); len(f) > 0 {
			return fmt.Errorf("coldplug: %d module(s) failed, first: %w", len(f), f[0].Err)
		}
		return nil
	case "load":
		if len(args) == 0 {
			return errors.New("modules load: want NAME [PARAM=V...]")
		}
		pol.Options[modules.Normalize(args[0])] = strings.Join(args[1:], " ")
		plan, err := ix.Resolve(args[0], pol)
		if err != nil {
			return err
		}
		l := modules.NewLoader(ix, "/proc", "/lib/firmware", slog.New(slog.NewTextHandler(stderr, nil)))
		defer l.Close()
		outs, err := l.LoadPlan(ctx, plan)
		for i, o := range outs {
			fmt.Fprintf(stdout, "%s: %s\n", plan.Steps[i].Module.Name, o)
		}
		return err
	}
	fs.Usage()
	return fmt.Errorf("modules: unknown command %q", sub)
}

// openIndex reads the text index where it exists, else scans the .ko files.
func openIndex(root string, scan bool) (*modules.Index, error) {
	if !scan {
		if _, err := os.Stat(filepath.Join(root, modules.DepFile)); err == nil {
			return modules.Load(root)
		}
	}
	return modules.Build(root, modules.BuildOptions{})
}

// modulesDepmod builds the index of DIR/lib/modules/KVER and writes the
// text files into outDir.
func modulesDepmod(kdir, kver, outDir string, stdout io.Writer) error {
	root := filepath.Join(kdir, "lib", "modules", kver)
	start := time.Now()
	ix, err := modules.Build(root, modules.BuildOptions{})
	if err != nil {
		return err
	}
	built := time.Since(start)
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	if err := ix.WriteFiles(outDir); err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%d modules, %d builtins, %d aliases from %s in %v; wrote %s\n",
		len(ix.Modules), len(ix.Builtin), ix.Aliases().Len(), root, built.Round(time.Millisecond), outDir)
	return err
}

// dryLoader prints what coldplug would load, once per module.
type dryLoader struct {
	out  io.Writer
	seen map[string]bool
}

func (d *dryLoader) Load(_ context.Context, m *modules.Module, params string) (modules.Outcome, error) {
	if m.Builtin {
		return modules.Builtin, nil
	}
	if d.seen[m.Name] {
		return modules.AlreadyLoaded, nil
	}
	d.seen[m.Name] = true
	fmt.Fprintf(d.out, "would load %s %s\n", m.Path, params)
	return "would load", nil
}
