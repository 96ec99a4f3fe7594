package hwdb

import (
	"fmt"
	"slices"
	"strings"

	"github.com/needle-boot/needle/internal/inventory"
)

// Decision is what the hwdb says about one PCI device.
type Decision struct {
	// Module is the kernel module to load for the device; with Overlay it
	// names a patched module built under modules/ (installed under
	// lib/modules/KVER/updates/), not the stock one. Empty: the stock
	// modalias match picks the module, the rest of the decision still holds.
	Module    string
	Overlay   bool
	Params    string   // module parameters, "name=value name=value"
	Blacklist []string // modules not to load for this device
	RAIDTool  string   // sas2ircu, sas3ircu, storcli, perccli, arcconf, tw_cli, ssacli
	// NoRAIDTool is the rule's explicit "raid_tool: none": the card has no
	// vendor tool needle runs (a plain HBA, or a board whose tool is long
	// gone; the note says which). RAIDTool stays empty, so a plan for it
	// must name a tool itself or use md.
	NoRAIDTool bool
	Rule       string // file:line of the deciding rule
	Note       string
	Reference  string // commit, bug, datasheet
}

func (d Decision) String() string {
	var b strings.Builder
	switch {
	case d.Overlay:
		fmt.Fprintf(&b, "overlay %s", d.Module)
	case d.Module != "":
		fmt.Fprintf(&b, "module %s", d.Module)
	default:
		b.WriteString("stock modalias match")
	}
	if d.Params != "" {
		fmt.Fprintf(&b, " params %q", d.Params)
	}
	if len(d.Blacklist) > 0 {
		fmt.Fprintf(&b, " blacklist %s", strings.Join(d.Blacklist, ","))
	}
	if d.RAIDTool != "" {
		fmt.Fprintf(&b, " raid_tool %s", d.RAIDTool)
	}
	if d.NoRAIDTool {
		b.WriteString(" raid_tool none")
	}
	return b.String()
}

// same reports whether two decisions agree on everything but where they
// come from.
func (d Decision) same(o Decision) bool {
	return d.Module == o.Module && d.Overlay == o.Overlay && d.Params == o.Params &&
		slices.Equal(d.Blacklist, o.Blacklist) && d.RAIDTool == o.RAIDTool && d.NoRAIDTool == o.NoRAIDTool &&
		d.Note == o.Note && d.Reference == o.Reference
}

// HasToolDecision reports whether the decision settles the RAID tool:
// a tool, or the explicit "raid_tool: none".
func (d Decision) HasToolDecision() bool { return d.RAIDTool != "" || d.NoRAIDTool }

// NoTool is the raid_tool value of the explicit "no vendor tool" decision.
const NoTool = "none"

// RAIDTools are the vendor tools a rule may name. storcli2 drives the
// SAS40xx (mpi3mr) generation, which storcli does not; perccli2 is Dell's
// build of it for PERC 12. A rule may also say
// raid_tool: none (NoTool), with a note saying why.
func RAIDTools() []string {
	return []string{"sas2ircu", "sas3ircu", "storcli", "storcli2", "perccli", "perccli2", "arcconf", "tw_cli", "ssacli"}
}

// Rule is one entry of a rule file.
type Rule struct {
	Name string
	File string
	Line int

	vendor, device, subvendor, subdevice idMatch
	class                                classMatch
	dmi                                  []dmiMatch
	kernel                               kernelRange

	decision Decision
}

// Pos is file:line, how decisions and errors name the rule.
func (r *Rule) Pos() string { return fmt.Sprintf("%s:%d", r.File, r.Line) }

// Decision is what the rule decides, with Rule set to its position.
func (r *Rule) Decision() Decision {
	d := r.decision
	d.Blacklist = slices.Clone(d.Blacklist)
	d.Rule = r.Pos()
	return d
}

// Specificity orders rules that match the same device; the greater wins,
// compared field by field in this order:
//
//  1. DMI: a rule for a machine beats a rule for a device anywhere. Each
//     DMI field counts 2 for a literal name, 1 for a glob.
//  2. PCI: vendor, device, subvendor, subdevice count 2 each when given as
//     ids or ranges (0 for "*" or absent); class counts 2 for a full code,
//     1 for a masked one ("0x0104xx").
//  3. Kernel: one per bound (min, max).
//
// Two rules with equal specificity that can match the same device and
// decide differently are a conflict, rejected when the rules load.
type Specificity struct{ DMI, PCI, Kernel int }

func (s Specificity) cmp(o Specificity) int {
	if s.DMI != o.DMI {
		return sign(s.DMI - o.DMI)
	}
	if s.PCI != o.PCI {
		return sign(s.PCI - o.PCI)
	}
	return sign(s.Kernel - o.Kernel)
}

func (s Specificity) String() string {
	return fmt.Sprintf("dmi %d, pci %d, kernel %d", s.DMI, s.PCI, s.Kernel)
}

// Specificity of the rule (see the type).
func (r *Rule) Specificity() Specificity {
	s := Specificity{
		PCI:    r.vendor.weight() + r.device.weight() + r.subvendor.weight() + r.subdevice.weight() + r.class.weight(),
		Kernel: r.kernel.bounds(),
	}
	for _, m := range r.dmi {
		s.DMI += m.weight()
	}
	return s
}

// Match reports whether the rule applies to the device on this machine and
// kernel, and if not, the first reason why not.
func (r *Rule) Match(dev inventory.PCIDevice, dmi inventory.DMI, kernel string) (bool, string) {
	ids := []struct {
		name string
		m    idMatch
		v    uint16
	}{
		{"vendor", r.vendor, dev.Vendor},
		{"device", r.device, dev.Device},
		{"subvendor", r.subvendor, dev.SubVendor},
		{"subdevice", r.subdevice, dev.SubDevice},
	}
	for _, id := range ids {
		if !id.m.matches(id.v) {
			return false, fmt.Sprintf("%s 0x%04x is not %s", id.name, id.v, id.m)
		}
	}
	if !r.class.matches(dev.Class) {
		return false, fmt.Sprintf("class 0x%06x is not %s", dev.Class, r.class.src)
	}
	for _, m := range r.dmi {
		if v := dmiValue(dmi, m.field); !globMatch(m.glob, v) {
			return false, fmt.Sprintf("dmi %s %q does not match %q", m.field, v, m.glob)
		}
	}
	if r.kernel.bounds() > 0 {
		v, err := parseKver(kernel)
		if err != nil {
			return false, fmt.Sprintf("rule needs %s, kernel release unknown (%v)", r.kernel, err)
		}
		if !r.kernel.contains(v) {
			return false, fmt.Sprintf("kernel %s is outside %s", kernel, r.kernel)
		}
	}
	return true, "matches " + r.Describe()
}

// matches is Match without the reason, for Decide: kernel is parsed once
// per decision (nil when the release is unknown).
func (r *Rule) matches(dev inventory.PCIDevice, dmi inventory.DMI, kernel *kver) bool {
	if !r.vendor.matches(dev.Vendor) || !r.device.matches(dev.Device) ||
		!r.subvendor.matches(dev.SubVendor) || !r.subdevice.matches(dev.SubDevice) || !r.class.matches(dev.Class) {
		return false
	}
	for _, m := range r.dmi {
		if !globMatch(m.glob, dmiValue(dmi, m.field)) {
			return false
		}
	}
	if r.kernel.bounds() > 0 && (kernel == nil || !r.kernel.contains(*kernel)) {
		return false
	}
	return true
}

// Describe is the rule's match as one line: "1000:0072 sub 1028:* class
// 0x0107xx dmi product_name=\"PowerEdge C5220\" kernel < 4.4".
func (r *Rule) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pci %s:%s", r.vendor, r.device)
	if !r.subvendor.any || !r.subdevice.any {
		fmt.Fprintf(&b, " sub %s:%s", r.subvendor, r.subdevice)
	}
	if r.class.mask != 0 {
		fmt.Fprintf(&b, " class %s", r.class.src)
	}
	for _, m := range r.dmi {
		fmt.Fprintf(&b, " %s=%q", m.field, m.glob)
	}
	if r.kernel.bounds() > 0 {
		fmt.Fprintf(&b, " (%s)", r.kernel)
	}
	return b.String()
}

// overlaps reports whether some device on some machine and kernel could be
// matched by both rules.
func (r *Rule) overlaps(o *Rule) bool {
	if !r.vendor.overlaps(o.vendor) || !r.device.overlaps(o.device) ||
		!r.subvendor.overlaps(o.subvendor) || !r.subdevice.overlaps(o.subdevice) ||
		!r.class.overlaps(o.class) || !r.kernel.overlaps(o.kernel) {
		return false
	}
	for _, a := range r.dmi {
		for _, b := range o.dmi {
			if a.field == b.field && !globsOverlap(a.glob, b.glob) {
				return false
			}
		}
	}
	return true
}
