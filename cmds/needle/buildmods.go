package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/modules"
)

// moduleChoice is what `needle build` was asked about modules.
type moduleChoice struct {
	classes  string   // "all", "none" or a comma list of classes
	extra    []string // --module names or aliases
	overlay  string   // --overlay-dir: a directory holding updates/*.ko
	hardware []string // --hardware inventories that narrow the PCI drivers
}

// chooseModules indexes the kernel's modules, selects the image's set and
// adds the files: the module files, the kmod text indexes for exactly that
// set, and the overlays. It returns the firmware files each chosen module
// (stock or overlay) declares.
//
// Overlays go to lib/modules/KVER/updates/ but stay out of modules.dep and
// modules.alias: those describe the stock tree, so every box the hwdb does
// not single out (and busybox's modprobe, and the kernel's own module
// requests) gets the stock driver; the init loads an overlay from updates/
// only for a device whose hwdb rule says "overlay".
func chooseModules(spec *initramfs.Spec, c moduleChoice, report io.Writer) (firmware map[string][]string, err error) {
	ix, err := modules.Build(spec.ModulesDir, modules.BuildOptions{})
	if err != nil {
		return nil, err
	}
	firmware = map[string][]string{}
	var mods []*modules.Module
	switch c.classes {
	case "none":
	case "all", "":
		sel, err := modules.Select(ix)
		if err != nil {
			return nil, err
		}
		mods = sel.Modules
	default:
		var classes []modules.Class
		for _, n := range strings.Split(c.classes, ",") {
			classes = append(classes, modules.Class(strings.TrimSpace(n)))
		}
		sel, err := modules.Select(ix, classes...)
		if err != nil {
			return nil, err
		}
		mods = sel.Modules
	}
	full := modules.TotalSize(mods)
	if len(c.hardware) > 0 {
		if mods, err = narrow(ix, mods, c.hardware); err != nil {
			return nil, err
		}
	}
	if len(c.extra) > 0 {
		more, err := modules.Closure(ix, c.extra)
		if err != nil {
			return nil, fmt.Errorf("--module: %w", err)
		}
		mods = append(mods, more...)
	}
	// Overlays always come along, with the stock module's dependencies:
	// the hwdb decides at boot which box needs them.
	var overlays []string
	if c.overlay != "" {
		kos, err := filepath.Glob(filepath.Join(c.overlay, "updates", "*.ko"))
		if err != nil {
			return nil, err
		}
		if len(kos) == 0 {
			return nil, fmt.Errorf("--overlay-dir %s: no updates/*.ko", c.overlay)
		}
		for _, ko := range kos {
			name := modules.Normalize(strings.TrimSuffix(filepath.Base(ko), ".ko"))
			more, err := modules.Closure(ix, []string{name})
			if err != nil {
				return nil, fmt.Errorf("overlay %s: no stock module of that name to take dependencies from: %w", ko, err)
			}
			mods = append(mods, more...)
			overlays = append(overlays, name)
			img, err := modules.ReadImage(ko)
			if err == nil {
				var info modules.Info
				if info, err = modules.InfoOf(img); err == nil {
					firmware[name] = append(firmware[name], info.Firmware...)
				}
			}
			if err != nil {
				return nil, fmt.Errorf("overlay %s: %w", ko, err)
			}
			spec.Files = append(spec.Files, initramfs.File{Src: ko, Dest: path.Join("/lib/modules", spec.KernelRelease, "updates", filepath.Base(ko)), Mode: 0o644})
		}
	}
	mods = dedup(mods)
	sub, err := ix.Subset(mods)
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		spec.Modules = append(spec.Modules, m.Path)
		firmware[m.Name] = append(firmware[m.Name], m.Info.Firmware...)
	}
	base := path.Join("/lib/modules", spec.KernelRelease)
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"modules.dep", sub.WriteDep}, {"modules.alias", sub.WriteAlias},
		{"modules.softdep", sub.WriteSoftdep}, {"modules.builtin", sub.WriteBuiltin},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			return nil, err
		}
		spec.Files = append(spec.Files, initramfs.File{Dest: path.Join(base, f.name), Data: b.Bytes()})
	}
	size := modules.TotalSize(mods)
	fmt.Fprintf(report, "modules: %d files, %.1f MiB", len(mods), float64(size)/(1<<20))
	if len(c.hardware) > 0 {
		fmt.Fprintf(report, " (narrowed by %d inventories from %.1f MiB)", len(c.hardware), float64(full)/(1<<20))
	}
	if len(overlays) > 0 {
		fmt.Fprintf(report, "; overlays: %s", strings.Join(overlays, ", "))
	}
	fmt.Fprintln(report)
	return firmware, nil
}

// narrow keeps, of the PCI drivers, only those that match a PCI device of
// one of the inventories; modules that bind to no PCI device (virtio_blk,
// sd_mod, filesystems, md) stay, since an inventory cannot tell which of
// them the box needs.
func narrow(ix *modules.Index, mods []*modules.Module, files []string) ([]*modules.Module, error) {
	var aliases []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("--hardware: %w", err)
		}
		var inv inventory.Inventory
		if err := json.Unmarshal(b, &inv); err != nil {
			return nil, fmt.Errorf("--hardware %s: %w", f, err)
		}
		for _, d := range inv.PCI {
			if d.Modalias != "" {
				aliases = append(aliases, d.Modalias)
			}
		}
	}
	wanted := map[string]bool{}
	for _, a := range aliases {
		for _, m := range ix.Aliases().Match(a) {
			wanted[m.Name] = true
		}
	}
	var keepNames []string
	for _, m := range mods {
		pci := false
		for _, a := range m.Info.Alias {
			if strings.HasPrefix(a, "pci:") {
				pci = true
				break
			}
		}
		if !pci || wanted[m.Name] {
			keepNames = append(keepNames, m.Name)
		}
	}
	return modules.Closure(ix, keepNames)
}

func dedup(mods []*modules.Module) []*modules.Module {
	seen := map[string]bool{}
	var out []*modules.Module
	for _, m := range mods {
		if !seen[m.Name] {
			seen[m.Name] = true
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// checkOverlays refuses an image in which a rule that applies to its
// kernel (built-in or --hwdb-extra, as the image loads them at boot) names
// an overlay the image does not carry: at boot that box would silently get
// the stock driver the rule exists to avoid.
func checkOverlays(spec initramfs.Spec, hwdbExtra []string) error {
	needs, err := overlayNeeds(spec.KernelRelease, true, hwdbExtra)
	if err != nil {
		return fmt.Errorf("overlays: %w", err)
	}
	carried := map[string]bool{}
	dir := path.Join("/lib/modules", spec.KernelRelease, "updates") + "/"
	for _, f := range spec.Files {
		if rest, ok := strings.CutPrefix(f.Dest, dir); ok && strings.HasSuffix(rest, ".ko") {
			carried[modules.Normalize(strings.TrimSuffix(rest, ".ko"))] = true
		}
	}
	var errs []error
	for _, n := range needs {
		if !carried[modules.Normalize(n.Module)] {
			errs = append(errs, fmt.Errorf("rule %s (%s) applies to %s and names overlay %s, which this image does not carry (build it with modules/build.sh RECIPE --kver %s and pass --overlay-dir)",
				n.Rule, n.Pos, spec.KernelRelease, n.Module, spec.KernelRelease))
		}
	}
	return errors.Join(errs...)
}
