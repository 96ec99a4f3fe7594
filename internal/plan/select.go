package plan

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/inventory"
)

// Options are the facts about the running image that validation needs
// beyond the inventory.
type Options struct {
	// BootDevices are the kernel names of the disks (or partitions) holding
	// the boot medium: the USB stick or disk needle booted from. They are
	// never selected unless a selector names them by serial, wwn or by_id.
	BootDevices []string
	// Tools are the RAID vendor tools present in the image.
	Tools []string
	// SkipToolCheck leaves out the check that the plan's RAID tools are in
	// Tools, for `needle plan check` on a host that does not know which
	// image will run the plan. The init never sets it.
	SkipToolCheck bool
	// ToolFor names the tool the hwdb gives a controller, for raid entries
	// that do not name one. Nil when no hwdb is at hand.
	ToolFor func(pci inventory.PCIDevice) string
	// ImageHosts, when not empty, are the only hosts the plan's URLs may
	// name (hosts.go): the image's /etc/needle/image-hosts.
	ImageHosts []string
}

// State says whether a plan disk is resolved yet.
type State string

const (
	// Resolved: the disk exists now and is the one the plan will erase.
	Resolved State = "resolved"
	// AfterRAID: the disk is a hardware RAID volume the raid stage creates;
	// it is selected by name once that stage has run.
	AfterRAID State = "resolved after raid"
	// AfterMD: the disk is an md array needle creates.
	AfterMD State = "resolved after md"
)

// Selection is what validation decided for one plan disk.
type Selection struct {
	ID     string // the plan's disk id
	State  State
	Disk   *inventory.Disk // the chosen disk when State is Resolved
	Volume string          // the raid volume or md array when not
	Layout []Extent        // where the partitions land, when Resolved
}

// Validated is a plan checked against one machine's inventory. Nothing
// destructive may run without one.
type Validated struct {
	Plan        *Plan
	Disks       []Selection
	Untouched   []inventory.Disk // disks no selector picked
	ToolsNeeded []string
}

// Validate checks a parsed plan against an inventory: which disk each
// selector picks (exactly one, or an error listing every candidate and why
// it was or was not taken), that no disk is picked twice, that the layout
// fits the chosen disk, and that the RAID tools the plan needs are in the
// image. It touches nothing.
func Validate(p *Plan, inv *inventory.Inventory, opt Options) (*Validated, error) {
	l := &errorList{File: p.File}
	v := &Validated{Plan: p}
	boot := bootDisks(inv, opt.BootDevices)
	taken := map[string]string{} // disk name → plan disk id
	for i := range p.Disks {
		d := &p.Disks[i]
		sel := Selection{ID: d.ID}
		switch {
		case d.Select.RAIDVolume != "":
			sel.State, sel.Volume = AfterRAID, d.Select.RAIDVolume
		case d.Select.MD != "":
			sel.State, sel.Volume = AfterMD, d.Select.MD
		default:
			chosen, err := pick(d, inv.Disks, boot)
			if err != nil {
				l.Add(d.Select.Pos.Line, "disk %q: %v", d.ID, err)
				v.Disks = append(v.Disks, sel)
				continue
			}
			sel.State, sel.Disk = Resolved, chosen
			if other, dup := taken[chosen.Name]; dup {
				l.Add(d.Select.Pos.Line, "disk %q: selects %s, which disk %q already selected; make the hints disjoint", d.ID, devPath(chosen), other)
			}
			taken[chosen.Name] = d.ID
			// MBR entries hold 32-bit sector numbers: 2 TiB at 512-byte
			// sectors.
			sector := uint64(chosen.LogicalSectorSize)
			if sector == 0 {
				sector = 512
			}
			if limit := sector << 32; d.Table == "mbr" && chosen.Size > limit {
				l.Add(d.Pos.Of("table"), "disk %q: %s is %s; mbr addresses only %s, use gpt", d.ID, devPath(chosen), HumanBytes(chosen.Size), HumanBytes(limit))
			}
			if len(d.Partitions) > 0 {
				ext, err := d.Layout(chosen.Size, int(sector))
				if err != nil {
					l.Add(d.Pos.Of("partitions"), "disk %q on %s: %v", d.ID, devPath(chosen), err)
				}
				sel.Layout = ext
			}
		}
		v.Disks = append(v.Disks, sel)
	}
	for _, d := range inv.Disks {
		if _, ok := taken[d.Name]; !ok {
			v.Untouched = append(v.Untouched, d)
		}
	}
	v.ToolsNeeded = toolsNeeded(p, inv, opt, l)
	if len(opt.ImageHosts) > 0 {
		checkHosts(p, opt.ImageHosts, l)
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	return v, nil
}

// bootDisks maps the boot medium's device names (disks or their partitions)
// to disk names.
func bootDisks(inv *inventory.Inventory, devs []string) map[string]bool {
	out := map[string]bool{}
	for _, dev := range devs {
		dev = strings.TrimPrefix(dev, "/dev/")
		for _, d := range inv.Disks {
			if d.Name == dev {
				out[d.Name] = true
			}
			for _, pt := range d.Partitions {
				if pt.Name == dev {
					out[d.Name] = true
				}
			}
		}
	}
	return out
}

// normWWN strips the prefixes sysfs and udev put on a WWN ("naa.", "0x")
// so a plan may copy it from either.
func normWWN(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"naa.", "eui.", "0x"} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}

func glob(pattern, s string) bool {
	ok, _ := path.Match(pattern, strings.TrimSpace(s))
	return ok
}

// mismatch returns why disk d fails selector s, or "" when it matches.
// Removable disks and the boot medium are refused unless the selector names
// the disk explicitly (serial, wwn, by_id; removable: true for removables),
// so a loose hint such as a size range never lands on the stick the machine
// booted from (README.md, "The install, stage by stage").
func mismatch(s *Selector, d *inventory.Disk, boot bool) string {
	// is says what the disk has, or that it has none of it.
	is := func(what, have string) string {
		if strings.TrimSpace(have) == "" {
			return "has no " + what
		}
		return fmt.Sprintf("%s %q", what, strings.TrimSpace(have))
	}
	switch {
	case s.Serial != "" && strings.TrimSpace(d.Serial) != s.Serial:
		return fmt.Sprintf("%s, not %q", is("serial", d.Serial), s.Serial)
	case s.WWN != "" && normWWN(d.WWN) != normWWN(s.WWN) && normWWN(d.WWID) != normWWN(s.WWN):
		return fmt.Sprintf("%s, not %q", is("wwn", d.WWN), s.WWN)
	case s.Model != "" && !glob(s.Model, d.Model):
		return fmt.Sprintf("%s, not matching %q", is("model", d.Model), s.Model)
	case s.Vendor != "" && !glob(s.Vendor, d.Vendor):
		return fmt.Sprintf("%s, not matching %q", is("vendor", d.Vendor), s.Vendor)
	case s.Size != nil && s.Size.MinBytes > 0 && d.Size < s.Size.MinBytes:
		return fmt.Sprintf("size %s is below min %s", HumanBytes(d.Size), s.Size.Min)
	case s.Size != nil && s.Size.MaxBytes > 0 && d.Size > s.Size.MaxBytes:
		return fmt.Sprintf("size %s is above max %s", HumanBytes(d.Size), s.Size.Max)
	case s.Rotational != nil && d.Rotational != *s.Rotational:
		return fmt.Sprintf("rotational is %t", d.Rotational)
	case s.Removable != nil && d.Removable != *s.Removable:
		return fmt.Sprintf("removable is %t", d.Removable)
	case s.BusPath != "" && !glob(s.BusPath, d.BusPath):
		return fmt.Sprintf("%s, not matching %q", is("bus path", d.BusPath), s.BusPath)
	case s.HCTL != "" && d.HCTL != s.HCTL:
		return fmt.Sprintf("%s, not %q", is("hctl", d.HCTL), s.HCTL)
	case s.ByID != "" && !contains(d.ByID, s.ByID):
		return fmt.Sprintf("no by-id name %q", s.ByID)
	case s.Name != "" && d.Name != s.Name:
		return fmt.Sprintf("name is not %s", s.Name)
	}
	explicit := s.Serial != "" || s.WWN != "" || s.ByID != ""
	switch {
	case d.ReadOnly:
		return "read-only"
	case d.Size == 0:
		return "no medium (size 0)"
	case d.Transport == "md" || strings.HasPrefix(d.Name, "md") || strings.HasPrefix(d.Name, "dm-"):
		return "an existing md/dm device (select its member disks, or md: for an array the plan creates)"
	case boot && !explicit:
		return "holds the boot medium (name it by serial, wwn or by_id to use it)"
	case d.Removable && !explicit && (s.Removable == nil || !*s.Removable):
		return "removable (say removable: true, or name it by serial, wwn or by_id)"
	}
	return ""
}

// pick applies a selector to the inventory's disks.
func pick(d *Disk, disks []inventory.Disk, boot map[string]bool) (*inventory.Disk, error) {
	s := &d.Select
	var matches []*inventory.Disk
	why := make([]string, len(disks))
	for i := range disks {
		why[i] = mismatch(s, &disks[i], boot[disks[i].Name])
		if why[i] == "" {
			matches = append(matches, &disks[i])
		}
	}
	if len(matches) > 1 && s.Prefer != "" {
		sort.SliceStable(matches, func(i, j int) bool {
			if s.Prefer == "largest" {
				return matches[i].Size > matches[j].Size
			}
			return matches[i].Size < matches[j].Size
		})
		if matches[0].Size != matches[1].Size {
			matches = matches[:1]
		} else {
			var tied []*inventory.Disk
			for _, m := range matches {
				if m.Size == matches[0].Size {
					tied = append(tied, m)
				}
			}
			matches = tied
		}
	}
	if len(matches) == 1 {
		return matches[0], nil
	}
	var b strings.Builder
	if len(matches) == 0 {
		fmt.Fprintf(&b, "select matches no disk of %d:", len(disks))
		for i := range disks {
			fmt.Fprintf(&b, "\n\t%s: %s", describe(&disks[i]), why[i])
		}
		if len(disks) == 0 {
			b.WriteString(" the inventory lists no disks (are the storage drivers loaded?)")
		}
		return nil, fmt.Errorf("%s", b.String())
	}
	hint := "add a hint (serial, wwn, bus_path) or prefer: smallest|largest"
	if s.Prefer != "" {
		hint = fmt.Sprintf("prefer: %s ties on size; add a hint (serial, wwn, bus_path)", s.Prefer)
	}
	fmt.Fprintf(&b, "select matches %d disks; %s:", len(matches), hint)
	for _, m := range matches {
		fmt.Fprintf(&b, "\n\t%s: matches", describe(m))
	}
	for i := range disks {
		if why[i] != "" {
			fmt.Fprintf(&b, "\n\t%s: %s", describe(&disks[i]), why[i])
		}
	}
	return nil, fmt.Errorf("%s", b.String())
}

// describe names a disk the way an operator finds it in the rack.
func describe(d *inventory.Disk) string {
	p := devPath(d)
	parts := []string{HumanBytes(d.Size)}
	if v := strings.TrimSpace(d.Vendor); v != "" {
		parts = append(parts, fmt.Sprintf("vendor %q", v))
	}
	if m := strings.TrimSpace(d.Model); m != "" {
		parts = append(parts, fmt.Sprintf("model %q", m))
	}
	if d.Serial != "" {
		parts = append(parts, fmt.Sprintf("serial %q", d.Serial))
	}
	if d.BusPath != "" {
		parts = append(parts, d.BusPath)
	}
	if d.Removable {
		parts = append(parts, "removable")
	}
	return fmt.Sprintf("%s (%s)", p, strings.Join(parts, ", "))
}

// devPath is the disk's device node, derived from its name when the
// inventory left Path empty.
func devPath(d *inventory.Disk) string {
	if d.Path != "" {
		return d.Path
	}
	return "/dev/" + d.Name
}

// toolsNeeded resolves the tool each raid entry needs and checks the image
// has it.
func toolsNeeded(p *Plan, inv *inventory.Inventory, opt Options, l *errorList) []string {
	need := map[string]bool{}
	for _, r := range p.RAID {
		ct := r.Controller
		tool := ct.Tool
		if ct.PCI != "" {
			dev := findPCI(inv, ct.PCI)
			if dev == nil {
				l.Add(ct.Pos.Of("pci"), "controller %s: no such PCI device; storage controllers present: %s", ct.PCI, storageControllers(inv))
				continue
			}
			if tool == "" && opt.ToolFor != nil {
				tool = opt.ToolFor(*dev)
			}
		}
		if tool == "" && opt.SkipToolCheck {
			need["(hwdb decides for "+ct.PCI+")"] = true
			continue
		}
		if tool == "" {
			l.Add(ct.Pos.Line, "controller %s: no tool named in the plan and no hwdb rule names one; add tool:", ct.PCI)
			continue
		}
		if tool == hwdb.NoTool {
			l.Add(ct.Pos.Line, "controller %s is a plain HBA (the hwdb's decision: no vendor RAID tool drives it): it has no volumes to make; select its disks directly and drop this raid entry, or name a tool:", ct.PCI)
			continue
		}
		need[tool] = true
		if !opt.SkipToolCheck && !hasTool(opt.Tools, tool) {
			have := "none"
			if len(opt.Tools) > 0 {
				have = strings.Join(opt.Tools, ", ")
			}
			l.Add(ct.Pos.Line, "controller %s needs %s, which the image lacks (has: %s); add it with needle build --vendor-tool", ctrlName(ct), tool, have)
		}
	}
	var out []string
	for t := range need {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// hasTool accepts the 64-bit builds Broadcom and Dell ship (storcli64,
// perccli64) for the plain names.
func hasTool(tools []string, want string) bool {
	for _, t := range tools {
		if t == want || strings.TrimSuffix(t, "64") == want {
			return true
		}
	}
	return false
}

func ctrlName(ct Controller) string {
	if ct.PCI != "" {
		return ct.PCI
	}
	if ct.Index != nil {
		return fmt.Sprintf("%s #%d", ct.Tool, *ct.Index)
	}
	return "?"
}

func findPCI(inv *inventory.Inventory, addr string) *inventory.PCIDevice {
	for i := range inv.PCI {
		if inv.PCI[i].Addr == addr {
			return &inv.PCI[i]
		}
	}
	return nil
}

// storageControllers lists the PCI mass-storage functions (class 0x01), the
// candidates for a mistyped controller address.
func storageControllers(inv *inventory.Inventory) string {
	var out []string
	for _, d := range inv.PCI {
		if d.Class>>16 == 0x01 {
			out = append(out, fmt.Sprintf("%s [%04x:%04x] %s", d.Addr, d.Vendor, d.Device, d.Driver))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

// WriteReport prints the dry run: per plan disk, the disk chosen and what
// would be erased, then the disks left alone.
func (v *Validated) WriteReport(w io.Writer) error {
	var b strings.Builder
	name := v.Plan.Name
	if name == "" {
		name = "(unnamed)"
	}
	fmt.Fprintf(&b, "plan %s (%s): valid for this machine\n", name, v.Plan.File)
	if len(v.ToolsNeeded) > 0 {
		fmt.Fprintf(&b, "raid tools needed: %s\n", strings.Join(v.ToolsNeeded, ", "))
	}
	for i, s := range v.Disks {
		d := &v.Plan.Disks[i]
		fmt.Fprintf(&b, "disk %s: ", s.ID)
		switch s.State {
		case Resolved:
			fmt.Fprintf(&b, "%s\n", devPath(s.Disk))
			fmt.Fprintf(&b, "  would erase: %s\n", describe(s.Disk))
			for _, pt := range s.Disk.Partitions {
				fmt.Fprintf(&b, "    existing partition %s (%s)", pt.Name, HumanBytes(pt.Size))
				if len(pt.Holders) > 0 {
					fmt.Fprintf(&b, " held by %s", strings.Join(pt.Holders, ", "))
				}
				b.WriteByte('\n')
			}
			if len(s.Disk.Holders) > 0 {
				fmt.Fprintf(&b, "    held by %s (released before wiping)\n", strings.Join(s.Disk.Holders, ", "))
			}
			if md := mdOf(v.Plan, d.ID); md != "" {
				fmt.Fprintf(&b, "  whole disk becomes a member of md array %q\n", md)
			}
		case AfterRAID:
			fmt.Fprintf(&b, "%s: raid volume %q, erased once created\n", s.State, s.Volume)
		case AfterMD:
			fmt.Fprintf(&b, "%s: md array %q, erased once created\n", s.State, s.Volume)
		}
		if e := eraseSteps(d.Wipe); e != "" {
			fmt.Fprintf(&b, "  whole-disk erase: %s\n", e)
		}
		switch {
		case d.Image != nil:
			fmt.Fprintf(&b, "  whole-disk image %s\n", d.Image.URL)
		case d.Table != "":
			fmt.Fprintf(&b, "  new %s table:\n", d.Table)
			for j, pt := range d.Partitions {
				where := pt.SizeSpec.String()
				if j < len(s.Layout) {
					e := s.Layout[j]
					where = fmt.Sprintf("%s at %d MiB", HumanBytes(e.Size), e.Start/MiB)
				}
				what := pt.TypeSpec.Name
				switch {
				case pt.Image != nil:
					what += ", image " + pt.Image.URL
				case pt.Filesystem != nil:
					what += ", " + pt.Filesystem.Format
					if pt.Filesystem.Label != "" {
						what += fmt.Sprintf(" %q", pt.Filesystem.Label)
					}
				}
				if md := mdOf(v.Plan, pt.Name); md != "" {
					what += fmt.Sprintf(", member of md array %q", md)
				}
				fmt.Fprintf(&b, "    %d %-10s %s (%s)\n", j+1, pt.Name, where, what)
			}
		}
	}
	for _, d := range v.Untouched {
		fmt.Fprintf(&b, "untouched: %s\n", describe(&d))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Resolve settles a disk the plan selected by raid_volume or md, once the
// raid stage has created the volume and knows its block device. It applies
// the same rules as Validate: the device must not be a disk another plan
// disk already took, nor the boot medium (bootDevices as in Options), and
// the layout must fit it.
func (v *Validated) Resolve(volume string, d inventory.Disk, bootDevices []string) error {
	var sel *Selection
	var pd *Disk
	for i := range v.Disks {
		s := &v.Disks[i]
		if s.Volume == volume && (s.State == AfterRAID || s.State == AfterMD) {
			sel, pd = s, &v.Plan.Disks[i]
		}
	}
	if sel == nil {
		return fmt.Errorf("%s: no plan disk waits for volume %q", v.Plan.File, volume)
	}
	for _, s := range v.Disks {
		if s.State == Resolved && s.Disk.Name == d.Name {
			return fmt.Errorf("%s: disk %q: volume %q came up as %s, which disk %q already selected", v.Plan.File, sel.ID, volume, devPath(&d), s.ID)
		}
	}
	inv := &inventory.Inventory{Disks: []inventory.Disk{d}}
	if bootDisks(inv, bootDevices)[d.Name] {
		return fmt.Errorf("%s: disk %q: volume %q came up as %s, which holds the boot medium", v.Plan.File, sel.ID, volume, devPath(&d))
	}
	if len(pd.Partitions) > 0 {
		ext, err := pd.Layout(d.Size, int(d.LogicalSectorSize))
		if err != nil {
			return fmt.Errorf("%s: disk %q on %s (volume %q): %w", v.Plan.File, sel.ID, devPath(&d), volume, err)
		}
		sel.Layout = ext
	}
	sel.Disk, sel.State = &d, Resolved
	for i, u := range v.Untouched {
		if u.Name == d.Name {
			v.Untouched = append(v.Untouched[:i:i], v.Untouched[i+1:]...)
			break
		}
	}
	return nil
}

// eraseSteps describes the whole-disk erase steps of a wipe for the dry
// run, or returns "" for a plain wipe.
func eraseSteps(w Wipe) string {
	var parts []string
	if w.Discard {
		parts = append(parts, "discard (BLKDISCARD, advisory)")
	}
	if w.ZeroOut {
		parts = append(parts, "zero-out (BLKZEROOUT; zero blocks of images are then skipped)")
	}
	return strings.Join(parts, ", then ")
}

// mdOf names the md array a disk id or partition name is a member of.
func mdOf(p *Plan, ref string) string {
	for _, m := range p.MD {
		if contains(m.Devices, ref) {
			return m.Name
		}
	}
	return ""
}
