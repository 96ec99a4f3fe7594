package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/install"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/modules"
)

// runHwdb is `needle hwdb check [DIR…]` and `needle hwdb match --sysfs DIR`.
func runHwdb(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: needle hwdb check [--no-builtin] [--kernel-dir DIR] [DIR…] | needle hwdb match [--sysfs DIR] [--kernel KVER] [--kernel-dir DIR] [--hwdb-extra DIR]… | needle hwdb overlays --kernel KVER [--hwdb-extra DIR]… [--no-builtin]")
		return fmt.Errorf("hwdb: missing subcommand (check, match or overlays)")
	}
	switch args[0] {
	case "check":
		return runHwdbCheck(ctx, args[1:], stdout, stderr)
	case "match":
		return runHwdbMatch(ctx, args[1:], stdout, stderr)
	case "overlays":
		return runHwdbOverlays(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("hwdb: unknown subcommand %q (check, match or overlays)", args[0])
}

// runHwdbOverlays prints, one per line, `MODULE RULE FILE:LINE` for every
// rule (built-in plus --hwdb-extra) that applies to the kernel and names
// an overlay: what build.sh must build for that kernel. Nothing else goes
// to stdout.
func runHwdbOverlays(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("hwdb overlays", stderr)
	kernel := fl.String("kernel", "", "kernel release the image carries (required)")
	noBuiltin := fl.Bool("no-builtin", false, "only the --hwdb-extra rules, without the built-in ones")
	var extra []string
	fl.Func("hwdb-extra", "extra rule `DIR` (repeatable)", func(s string) error { extra = append(extra, s); return nil })
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *kernel == "" || fl.NArg() != 0 {
		return fmt.Errorf("hwdb overlays: want --kernel KVER and no arguments")
	}
	needs, err := overlayNeeds(*kernel, !*noBuiltin, extra)
	if err != nil {
		return fmt.Errorf("hwdb overlays: %w", err)
	}
	for _, n := range needs {
		fmt.Fprintf(stdout, "%s %s %s\n", n.Module, n.Rule, n.Pos)
	}
	return nil
}

// overlayNeeds loads the rules as the image will at boot (the built-in
// ones unless builtin is false, then each extra directory) and lists the
// overlays they name for kernel, sorted by module, rule and position so
// the output does not depend on file order. A missing extra directory is
// an error, not an empty rule set. `needle hwdb overlays` prints it and
// `needle build` checks the image against it (checkOverlays).
func overlayNeeds(kernel string, builtin bool, extra []string) ([]hwdb.OverlayNeed, error) {
	var sets []fs.FS
	if builtin {
		sets = append(sets, hwdb.Builtin())
	}
	for _, d := range extra {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--hwdb-extra %s: not a directory", d)
		}
		sets = append(sets, hwdb.Dir(d))
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("--no-builtin needs at least one --hwdb-extra DIR")
	}
	db, err := hwdb.Load(sets[0], sets[1:]...)
	if err != nil {
		return nil, err
	}
	needs, err := db.Overlays(kernel)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(needs, func(a, b hwdb.OverlayNeed) int {
		return cmp.Or(cmp.Compare(a.Module, b.Module), cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Pos, b.Pos))
	})
	return needs, nil
}

// runHwdbCheck validates rule files: the built-in ones, plus each DIR as it
// would be loaded next to them at boot (needle.hwdb=, --hwdb-extra), so
// conflicts with the built-in rules show up too.
func runHwdbCheck(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("hwdb check", stderr)
	noBuiltin := fl.Bool("no-builtin", false, "check the directories alone, without the built-in rules")
	var recipeDirs []string
	fl.Func("recipes", "overlay recipe `DIR` (repeatable; default modules/overlays when it exists): a rule naming an overlay no recipe there makes is flagged", func(s string) error {
		recipeDirs = append(recipeDirs, s)
		return nil
	})
	kernelDir := fl.String("kernel-dir", "", "kernel tree (`DIR` holding lib/modules/KVER, or lib/modules/KVER itself): report which PCI ids its RAID/HBA drivers claim without an hwdb decision, and fail if any")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if len(recipeDirs) == 0 {
		if fi, err := os.Stat("modules/overlays"); err == nil && fi.IsDir() {
			recipeDirs = []string{"modules/overlays"}
		}
	}
	var sets []fs.FS
	if !*noBuiltin {
		sets = append(sets, hwdb.Builtin())
	}
	for _, d := range fl.Args() {
		if err := ruleDir(d); err != nil {
			return fmt.Errorf("hwdb check: %w", err)
		}
		sets = append(sets, hwdb.Dir(d))
	}
	if len(sets) == 0 {
		return fmt.Errorf("hwdb check: --no-builtin needs at least one DIR")
	}
	db, err := hwdb.Load(sets[0], sets[1:]...)
	if err != nil {
		return fmt.Errorf("hwdb check: %w", err)
	}
	files := map[string]bool{}
	for _, r := range db.Rules() {
		files[r.File] = true
	}
	if len(recipeDirs) > 0 {
		made, err := recipeModules(recipeDirs)
		if err != nil {
			return fmt.Errorf("hwdb check: %w", err)
		}
		for _, r := range db.Rules() {
			if d := r.Decision(); d.Overlay && !made[modules.Normalize(d.Module)] {
				fmt.Fprintf(stdout, "warning: rule %s (%s) names overlay %s, and no recipe in %s makes it: an image for a kernel in its range cannot be built\n",
					r.Name, r.Pos(), d.Module, strings.Join(recipeDirs, ", "))
			}
		}
	}
	fmt.Fprintf(stdout, "ok: %d rules in %d files, no conflicts\n", len(db.Rules()), len(files))
	if *kernelDir == "" {
		return nil
	}
	uncovered, total, err := reportCoverage(stdout, db, *kernelDir)
	if err != nil {
		return fmt.Errorf("hwdb check: --kernel-dir %s: %w", *kernelDir, err)
	}
	if uncovered > 0 {
		return fmt.Errorf("hwdb check: %d of the %d PCI ids the RAID/HBA drivers of %s claim have no hwdb decision (a raid_tool, or raid_tool: none)", uncovered, total, *kernelDir)
	}
	return nil
}

// modulesDir resolves a kernel directory: a lib/modules/KVER directory
// itself (it holds modules.alias or kernel/), or a tree holding exactly one
// lib/modules/KVER (as build.sh unpacks the kernel under .cache/kernel).
func modulesDir(dir string) (root, kver string, err error) {
	for _, marker := range []string{modules.AliasFile, "kernel"} {
		if _, err := os.Stat(filepath.Join(dir, marker)); err == nil {
			abs, err := filepath.Abs(dir)
			if err != nil {
				return "", "", err
			}
			return abs, filepath.Base(abs), nil
		}
	}
	found, _ := filepath.Glob(filepath.Join(dir, "lib", "modules", "*"))
	if len(found) != 1 {
		return "", "", fmt.Errorf("want lib/modules/KVER/ or a tree with exactly one lib/modules/KVER, found %d", len(found))
	}
	return found[0], filepath.Base(found[0]), nil
}

// reportCoverage prints, per RAID/HBA driver of the kernel in dir, "hwdb
// decisions / PCI ids claimed" and every uncovered claim; it returns the
// uncovered and total id counts.
func reportCoverage(w io.Writer, db *hwdb.DB, dir string) (uncovered, total int, err error) {
	root, kver, err := modulesDir(dir)
	if err != nil {
		return 0, 0, err
	}
	entries, from, err := modules.AliasesOf(root, hwdb.RAIDDrivers())
	if err != nil {
		return 0, 0, err
	}
	var claims []hwdb.Claim
	for _, e := range entries {
		c, ok, err := hwdb.ParseClaim(e.Module.Name, e.Pattern)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: module %s: %w", from, e.Module.Name, err)
		}
		if ok {
			claims = append(claims, c)
		}
	}
	cov, err := db.Coverage(claims, kver)
	if err != nil {
		return 0, 0, err
	}
	fmt.Fprintf(w, "\ncoverage of kernel %s (aliases from %s): hwdb decisions / PCI ids claimed\n", kver, from)
	covered := 0
	for _, d := range cov {
		fmt.Fprintf(w, "  %-14s %3d/%d\n", d.Module, d.Covered(), len(d.IDs))
		covered += d.Covered()
		total += len(d.IDs)
		for _, id := range d.IDs {
			for _, c := range id.Claims {
				if c.Decision == nil {
					fmt.Fprintf(w, "    uncovered: %s sub %s (alias %s): %s\n", c.Claim.ID(), c.Claim.Sub(), c.Claim.Pattern, c.Why)
				}
			}
		}
	}
	fmt.Fprintf(w, "  %-14s %3d/%d\n", "total", covered, total)
	return total - covered, total, nil
}

// recipeModules reads the MODULE= line of every DIR/*/recipe (the shell
// files modules/build.sh sources), as build.sh matches rules to recipes.
func recipeModules(dirs []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, d := range dirs {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("--recipes %s: not a directory", d)
		}
		files, _ := filepath.Glob(filepath.Join(d, "*", "recipe"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "MODULE="); ok {
					out[modules.Normalize(strings.Trim(v, `"'`))] = true
				}
			}
		}
	}
	return out, nil
}

// runHwdbMatch explains, for each PCI device of a host or captured tree,
// which rule decides it and why the others do not.
func runHwdbMatch(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("hwdb match", stderr)
	sysfs := fl.String("sysfs", "", "sysfs root, or a directory written by `needle inventory --capture` (default /sys)")
	procfs := fl.String("procfs", "", "procfs root (default /proc, or DIR/proc of a capture)")
	kernel := fl.String("kernel", "", "kernel release to match (default: the tree's /proc/sys/kernel/osrelease)")
	kernelDir := fl.String("kernel-dir", "", "the image's modules: `DIR` holding lib/modules/KVER, or lib/modules/KVER itself (default /lib/modules/KVER, this image's): where the stock alias match and overlays are looked up")
	configDir := fl.String("config-dir", "/etc/needle", "the image's config directory: its hwdb.d/ rules join the built-in ones, as at boot")
	var extra []string
	fl.Func("hwdb-extra", "extra rule `DIR` (repeatable; the stick's or needle.hwdb='s rules)", func(s string) error { extra = append(extra, s); return nil })
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 0 {
		return fmt.Errorf("hwdb match: unexpected arguments %q", fl.Args())
	}
	var sets []fs.FS
	for _, d := range extra {
		if err := ruleDir(d); err != nil {
			return fmt.Errorf("hwdb match: --hwdb-extra %w", err)
		}
		sets = append(sets, hwdb.Dir(d))
	}
	db, err := install.LoadHWDB(*configDir, sets...)
	if err != nil {
		return fmt.Errorf("hwdb match: %w", err)
	}
	root := resolveRoot(*sysfs, *procfs)
	inv, err := inventory.Read(root)
	if err != nil {
		return fmt.Errorf("hwdb match: %w", err)
	}
	kver := *kernel
	if kver == "" {
		kver = inv.Kernel
	}
	ids, _ := loadPCIIDs("") // names are a courtesy; a bad pci.ids must not stop matching
	fmt.Fprintf(stdout, "machine: %s %s (board %s %s), kernel %s\n\n",
		orUnknown(inv.DMI.SysVendor), orUnknown(inv.DMI.ProductName), orUnknown(inv.DMI.BoardVendor), orUnknown(inv.DMI.BoardName), orUnknown(kver))
	img := openImageModules(*kernelDir, kver)
	fmt.Fprintf(stdout, "modules: %s\n\n", img.describe())
	for _, dev := range inv.PCI {
		fmt.Fprint(stdout, explainDevice(db, dev, inv.DMI, kver, ids.Name(dev), img))
	}
	return nil
}

// imageModules is what `hwdb match` knows of the image's modules: the
// lib/modules/KVER directory, its alias matcher (nil, with err, when it
// cannot be read), and where the aliases came from.
type imageModules struct {
	root    string
	aliases *modules.Matcher
	from    string
	err     error
}

// openImageModules reads the alias table of dir (see modulesDir), or of
// /lib/modules/KVER when dir is empty: the running image's.
func openImageModules(dir, kver string) imageModules {
	img := imageModules{root: filepath.Join("/lib/modules", kver)}
	if dir != "" {
		root, _, err := modulesDir(dir)
		if err != nil {
			return imageModules{root: dir, err: err}
		}
		img.root = root
	}
	img.aliases, img.from, img.err = modules.LoadAliases(img.root)
	return img
}

func (img imageModules) describe() string {
	if img.err != nil {
		return fmt.Sprintf("%s unreadable (%v): stock alias matches unknown", img.root, img.err)
	}
	return fmt.Sprintf("%s (aliases from %s)", img.root, img.from)
}

// stockMatch names the modules the kernel's own alias match would load for
// the device (what modprobe of its modalias does without the hwdb).
func (img imageModules) stockMatch(dev inventory.PCIDevice) string {
	if img.err != nil {
		return "unknown (no alias table)"
	}
	alias := dev.Modalias
	if alias == "" {
		alias = fmt.Sprintf("pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", dev.Vendor, dev.Device, dev.SubVendor, dev.SubDevice, dev.Class>>16, dev.Class>>8&0xff, dev.Class&0xff)
	}
	var names []string
	for _, m := range img.aliases.Match(alias) {
		if !slices.Contains(names, m.Name) {
			names = append(names, m.Name)
		}
	}
	if len(names) == 0 {
		return "none (no module alias matches " + alias + ")"
	}
	return strings.Join(names, ", ")
}

// overlayState says whether the image carries a decision's overlay
// (lib/modules/KVER/updates/MODULE.ko, where needle build puts it and the
// init loads it from).
func (img imageModules) overlayState(module string) string {
	if _, err := os.Stat(img.root); err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	p := filepath.Join(img.root, "updates", modules.Normalize(module)+".ko")
	alt := filepath.Join(img.root, "updates", module+".ko")
	for _, f := range []string{p, alt} {
		if _, err := os.Stat(f); err == nil {
			return "carried by this image (" + f + ")"
		}
	}
	return "NOT carried by this image (no " + p + "): the stock module would load instead"
}

// toolLine is the RAID tool a decision names, for match's output.
func toolLine(dec *hwdb.Decision) string {
	switch {
	case dec == nil:
		return "none known (no rule decides this device)"
	case dec.RAIDTool != "":
		return dec.RAIDTool
	case dec.NoRAIDTool:
		return "none: no vendor tool (" + dec.Rule + " says so)"
	}
	return "none known (" + dec.Rule + " names no tool)"
}

// explainDevice is the text for one device: the verdict, then each rule
// considered with its specificity and reason.
func explainDevice(db *hwdb.DB, dev inventory.PCIDevice, dmi inventory.DMI, kver, name string, img imageModules) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %04x:%04x sub %04x:%04x class %06x", dev.Addr, dev.Vendor, dev.Device, dev.SubVendor, dev.SubDevice, dev.Class)
	if name != "" {
		fmt.Fprintf(&b, " %s", name)
	}
	if dev.Driver != "" {
		fmt.Fprintf(&b, " [bound: %s]", dev.Driver)
	}
	b.WriteString("\n")
	cands, dec := db.Explain(dev, dmi, kver)
	if dec == nil {
		fmt.Fprintf(&b, "  -> stock modalias match (%s)\n", noRuleWhy(cands))
	} else {
		fmt.Fprintf(&b, "  -> %s  by %s\n", dec, dec.Rule)
		if dec.Note != "" {
			fmt.Fprintf(&b, "     note: %s\n", dec.Note)
		}
		if dec.Reference != "" {
			fmt.Fprintf(&b, "     reference: %s\n", dec.Reference)
		}
	}
	fmt.Fprintf(&b, "     stock alias match: %s\n", img.stockMatch(dev))
	fmt.Fprintf(&b, "     raid tool: %s\n", toolLine(dec))
	if dec != nil && dec.Overlay {
		fmt.Fprintf(&b, "     overlay %s: %s\n", dec.Module, img.overlayState(dec.Module))
	}
	for _, c := range cands {
		mark := "  no "
		switch {
		case c.Decides:
			mark = "  WIN"
		case c.Matched:
			mark = "  yes"
		}
		fmt.Fprintf(&b, "  %s %s (%s): %s\n", mark, c.Rule.Pos(), c.Specificity, c.Reason)
	}
	b.WriteString("\n")
	return b.String()
}

func noRuleWhy(cands []hwdb.Candidate) string {
	if len(cands) == 0 {
		return "no rule for this vendor/class"
	}
	return fmt.Sprintf("%d rules considered, none matched", len(cands))
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}

// ruleDir checks that d is a readable directory holding rule files: a
// mistyped path must not check "ok" on no rules at all.
func ruleDir(d string) error {
	fi, err := os.Stat(d)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", d)
	}
	if m, _ := filepath.Glob(filepath.Join(d, "*.yaml")); len(m) == 0 {
		return fmt.Errorf("%s: no *.yaml rule files", d)
	}
	return nil
}
