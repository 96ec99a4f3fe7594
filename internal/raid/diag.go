package raid

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/needle-boot/needle/internal/toolrun"
)

// OverlayHint is what the diagnosis of a crashed tool suggests.
const OverlayHint = "a patched driver via a hwdb overlay entry fixes such cases (see modules/README)"

// Diagnoser explains a vendor tool that died of a signal or ran out of
// time: such a tool is talking to the kernel driver through an ioctl, and
// the seed case (sas2ircu 0 display segfaulting on a stock mpt2sas) was a
// driver bug, so the diagnosis names the controller, the driver module
// that drives it with its version and srcversion, whether that module is
// an overlay, and the hwdb rule that chose it.
type Diagnoser struct {
	// Root holds the sysfs the modules' versions are read from.
	Root sysroot.Root
	// Inventory gives the PCI devices, the DMI strings and the kernel
	// release for the hwdb.
	Inventory *inventory.Inventory
	// DB is the hwdb that decided the modules; nil when none.
	DB *hwdb.DB
	// Overlays are the modules the modules stage loaded from an overlay
	// (lib/modules/KVER/updates/…), by module name, with where each came
	// from; nil when unknown.
	Overlays map[string]string
}

// CrashError is a tool crash or timeout with its diagnosis.
type CrashError struct {
	Err         error
	Tool        string
	Controllers []ControllerDiag
}

// ControllerDiag is what needle knows about one controller a crashed tool
// may have been talking to.
type ControllerDiag struct {
	PCIAddress string
	PCIID      string // vendor:device
	Subsystem  string // subvendor:subdevice
	Name       string // pci.ids name when known
	Module     string
	Version    string // /sys/module/NAME/version, "" when the module has none
	SrcVersion string // /sys/module/NAME/srcversion
	// Overlay says whether the module came from an overlay: "yes (WHERE)",
	// "no (stock)", or "unknown" with the reason.
	Overlay string
	// Rule, Note and Reference are the deciding hwdb rule's; Rule is
	// empty when the stock modalias match chose the module.
	Rule      string
	Decision  string
	Note      string
	Reference string
}

func (c ControllerDiag) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "controller %s [%s subsystem %s", orUnknown(c.PCIAddress), orDash(c.PCIID), orDash(c.Subsystem))
	if c.Name != "" {
		fmt.Fprintf(&b, ", %s", c.Name)
	}
	b.WriteString("]")
	if c.Module == "" {
		b.WriteString(", no kernel driver bound")
	} else {
		fmt.Fprintf(&b, ", driver module %s version %s srcversion %s, overlay: %s", c.Module, orDash(c.Version), orDash(c.SrcVersion), c.Overlay)
	}
	if c.Rule != "" {
		fmt.Fprintf(&b, ", chosen by hwdb rule %s (%s)", c.Rule, c.Decision)
		if c.Note != "" {
			fmt.Fprintf(&b, ", note: %s", c.Note)
		}
		if c.Reference != "" {
			fmt.Fprintf(&b, ", reference: %s", c.Reference)
		}
	} else {
		b.WriteString(", chosen by the stock modalias match (no hwdb rule)")
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (e *CrashError) Error() string {
	var parts []string
	for _, c := range e.Controllers {
		parts = append(parts, c.String())
	}
	if len(parts) == 0 {
		parts = []string{"no controller for it in the inventory"}
	}
	return fmt.Sprintf("%v; %s; %s", e.Err, strings.Join(parts, "; "), OverlayHint)
}

func (e *CrashError) Unwrap() error { return e.Err }

// Report is the diagnosis as lines for the console.
func (e *CrashError) Report() string {
	var b strings.Builder
	what := "crashed"
	var re *toolrun.Error
	if errors.As(e.Err, &re) && re.TimedOut {
		what = "timed out"
	}
	fmt.Fprintf(&b, "%s %s: %v\n", e.Tool, what, e.Err)
	for _, c := range e.Controllers {
		fmt.Fprintf(&b, "  controller  %s  %s subsystem %s  %s\n", orUnknown(c.PCIAddress), orDash(c.PCIID), orDash(c.Subsystem), c.Name)
		fmt.Fprintf(&b, "  driver      %s  version %s  srcversion %s\n", orDash(c.Module), orDash(c.Version), orDash(c.SrcVersion))
		fmt.Fprintf(&b, "  overlay     %s\n", c.Overlay)
		if c.Rule != "" {
			fmt.Fprintf(&b, "  hwdb rule   %s: %s\n", c.Rule, c.Decision)
			if c.Note != "" {
				fmt.Fprintf(&b, "  note        %s\n", c.Note)
			}
		} else {
			b.WriteString("  hwdb rule   none (stock modalias match)\n")
		}
	}
	fmt.Fprintf(&b, "  hint        %s\n", OverlayHint)
	return b.String()
}

// Diagnose returns err unchanged unless a tool in its chain crashed (died
// of a signal) or timed out; then it returns a *CrashError naming the
// controller at pci (or, when pci is empty and the tool did not say, every
// controller the hwdb gives this tool), its driver and the hwdb rule.
func (g Diagnoser) Diagnose(err error, pci string) error {
	var re *toolrun.Error
	if !errors.As(err, &re) || !re.Crashed() {
		return err
	}
	var ce *ControllerError
	if errors.As(err, &ce) && ce.PCIAddress != "" {
		pci = ce.PCIAddress
	}
	tool := filepath.Base(re.Argv[0])
	if ce != nil {
		tool = ce.Tool
	}
	out := &CrashError{Err: err, Tool: tool}
	inv := g.Inventory
	if inv == nil {
		inv = &inventory.Inventory{}
	}
	for _, dev := range inv.PCI {
		switch {
		case pci != "" && strings.EqualFold(dev.Addr, pci):
		case pci == "" && g.toolFor(dev) == toolFamily(tool):
		default:
			continue
		}
		out.Controllers = append(out.Controllers, g.controller(dev))
	}
	if len(out.Controllers) == 0 && pci != "" {
		out.Controllers = append(out.Controllers, g.controller(inventory.PCIDevice{Addr: pci}))
	}
	return out
}

func (g Diagnoser) toolFor(dev inventory.PCIDevice) string {
	if g.Inventory == nil {
		return ""
	}
	return toolFamily(HWDBTool(g.DB, g.Inventory.DMI, g.Inventory.Kernel)(dev))
}

// HWDBTool is the RAID tool the hwdb names for a controller on a machine
// with these DMI strings and kernel ("" without a db or a rule): what
// plan.Options.ToolFor takes, and with ToolAt what ApplyPlan takes.
func HWDBTool(db *hwdb.DB, dmi inventory.DMI, kernel string) func(inventory.PCIDevice) string {
	return func(dev inventory.PCIDevice) string {
		if db == nil {
			return ""
		}
		d, ok := db.Decide(dev, dmi, kernel)
		if !ok {
			return ""
		}
		return d.RAIDTool
	}
}

// ToolAt turns a per-controller tool lookup into ApplyPlan's lookup by PCI
// address over the machine's devices.
func ToolAt(devs []inventory.PCIDevice, toolFor func(inventory.PCIDevice) string) func(pci string) string {
	return func(pci string) string {
		for _, dev := range devs {
			if dev.Addr == pci {
				return toolFor(dev)
			}
		}
		return ""
	}
}

// toolFamily maps aliases to one name (perccli → storcli).
func toolFamily(t string) string {
	for _, f := range families() {
		for _, n := range f.names {
			if n == t {
				return f.names[0]
			}
		}
	}
	return t
}

func (g Diagnoser) controller(dev inventory.PCIDevice) ControllerDiag {
	c := ControllerDiag{PCIAddress: dev.Addr, Name: dev.Name}
	if dev.Vendor != 0 || dev.Device != 0 {
		c.PCIID = fmt.Sprintf("%04x:%04x", dev.Vendor, dev.Device)
		c.Subsystem = fmt.Sprintf("%04x:%04x", dev.SubVendor, dev.SubDevice)
	}
	c.Module = ModuleOf(g.Root.Sys, dev.Addr, dev.Driver)
	if c.Module != "" {
		c.Version, c.SrcVersion = ModuleVersion(g.Root.Sys, c.Module)
		switch where, ok := g.Overlays[c.Module]; {
		case ok:
			c.Overlay = "yes (" + where + ")"
		case g.Overlays != nil:
			c.Overlay = "no (stock module)"
		default:
			c.Overlay = "unknown (the modules stage did not say which overlays it loaded)"
		}
	}
	if g.DB != nil && g.Inventory != nil {
		if d, ok := g.DB.Decide(dev, g.Inventory.DMI, g.Inventory.Kernel); ok {
			c.Rule, c.Decision, c.Note, c.Reference = d.Rule, d.String(), d.Note, d.Reference
			if d.Overlay && c.Module == d.Module && g.Overlays != nil && !strings.HasPrefix(c.Overlay, "yes") {
				c.Overlay += "; the hwdb rule asked for an overlay, which is not what is loaded"
			}
		}
	}
	return c
}

// ModuleOf names the kernel module behind the driver bound to a PCI
// device: the driver's "module" link in sysfs
// (/sys/bus/pci/devices/ADDR/driver/module → …/module/mpt3sas), else the
// driver name itself (module names use '_' where drivers may use '-').
func ModuleOf(sysRoot, addr, driver string) string {
	if addr != "" {
		if l, err := os.Readlink(filepath.Join(sysRoot, "bus/pci/devices", addr, "driver/module")); err == nil {
			return filepath.Base(l)
		}
		if l, err := os.Readlink(filepath.Join(sysRoot, "bus/pci/devices", addr, "driver")); err == nil && driver == "" {
			driver = filepath.Base(l)
		}
	}
	return strings.ReplaceAll(driver, "-", "_")
}

// ModuleVersion reads /sys/module/NAME/version (MODULE_VERSION, absent for
// modules without one) and srcversion (the checksum of the module's
// source files, set for every out-of-tree or versioned module).
func ModuleVersion(sysRoot, module string) (version, srcversion string) {
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(sysRoot, "module", module, f))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	return read("version"), read("srcversion")
}
