package modules

import (
	"fmt"
	"slices"
	"strings"
)

// Closure returns the module files needed to load every name or alias in
// names: the modules found (by name, or every module an alias matches,
// ignoring blacklists: the image carries them, policy decides at boot), with
// their dependencies and their softdeps (pre and post, resolved the same
// way), in index order. Builtins are left out: there is nothing to copy.
func Closure(ix *Index, names []string) ([]*Module, error) {
	set := map[*Module]bool{}
	var add func(m *Module)
	add = func(m *Module) {
		if m.Builtin || set[m] {
			return
		}
		set[m] = true
		for _, d := range m.Deps {
			if dm, ok := ix.byName[d]; ok {
				add(dm)
			}
		}
		pre, post := m.Softdeps()
		for _, s := range append(pre, post...) {
			ms, _ := ix.Lookup(s)
			for _, sm := range ms {
				add(sm)
			}
		}
	}
	var missing []string
	for _, n := range names {
		ms, _ := ix.Lookup(n)
		if len(ms) == 0 {
			missing = append(missing, n)
		}
		for _, m := range ms {
			add(m)
		}
	}
	out := make([]*Module, 0, len(set))
	for m := range set {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Module) int { return a.order - b.order })
	if len(missing) > 0 {
		return out, fmt.Errorf("no module or alias for %s: %w", strings.Join(missing, ", "), ErrNotFound)
	}
	return out, nil
}

// Class is a family of modules the default image carries.
type Class string

// The classes of the default image: a fleet boots one image, so it carries
// every driver that can stand between needle and the install disk or the
// provisioning network.
const (
	Storage    Class = "storage"     // SCSI, ATA, NVMe, block, virtio-blk/scsi, RAID HBAs
	Network    Class = "network"     // Ethernet NICs, virtio-net, bonding, VLAN
	MD         Class = "md"          // md RAID and device-mapper
	Filesystem Class = "filesystem"  // the filesystems needle creates or reads
	USBStorage Class = "usb-storage" // USB host controllers and mass storage
)

// AllClasses are all classes, in report order.
func AllClasses() []Class { return []Class{Storage, Network, MD, Filesystem, USBStorage} }

// classRules map path prefixes under kernel/ to classes. A rule ending in
// ".ko" names one module file (without compression suffix).
var classRules = []struct {
	prefix string
	class  Class
}{
	{"kernel/drivers/scsi/", Storage},
	{"kernel/drivers/ata/", Storage},
	{"kernel/drivers/nvme/", Storage},
	{"kernel/drivers/block/", Storage},
	{"kernel/drivers/message/fusion/", Storage}, // mptsas, mptspi (QEMU's mptsas1068)
	{"kernel/drivers/virtio/", Storage},         // virtio_pci: the bus under virtio-blk/net
	{"kernel/drivers/md/", MD},
	{"kernel/drivers/net/ethernet/", Network},
	{"kernel/drivers/net/virtio_net.ko", Network},
	{"kernel/drivers/net/bonding/", Network},
	{"kernel/drivers/net/team/", Network},
	{"kernel/drivers/net/macvlan.ko", Network},
	{"kernel/drivers/net/mii.ko", Network},
	{"kernel/drivers/net/mdio", Network},
	{"kernel/drivers/net/phy/", Network},
	{"kernel/drivers/net/usb/", Network}, // USB NICs of field laptops and BMCs
	{"kernel/net/8021q/", Network},
	{"kernel/net/packet/", Network}, // AF_PACKET, for DHCP
	{"kernel/fs/ext4/", Filesystem},
	{"kernel/fs/fat/", Filesystem},
	{"kernel/fs/vfat/", Filesystem},
	{"kernel/fs/xfs/", Filesystem},
	{"kernel/fs/btrfs/", Filesystem},
	{"kernel/fs/isofs/", Filesystem},
	{"kernel/fs/squashfs/", Filesystem},
	{"kernel/fs/overlayfs/", Filesystem},
	{"kernel/fs/nls/nls_cp437.ko", Filesystem}, // vfat's default codepage
	{"kernel/fs/nls/nls_ascii.ko", Filesystem},
	{"kernel/fs/nls/nls_utf8.ko", Filesystem},
	{"kernel/fs/nls/nls_iso8859-1.ko", Filesystem},
	{"kernel/drivers/usb/storage/", USBStorage},
	{"kernel/drivers/usb/host/", USBStorage},
	{"kernel/drivers/usb/core/", USBStorage},
	{"kernel/drivers/usb/common/", USBStorage},
	{"kernel/drivers/hid/usbhid/", USBStorage}, // a keyboard for the field shell
	{"kernel/drivers/hid/hid.ko", USBStorage},
	{"kernel/drivers/hid/hid-generic.ko", USBStorage},
}

// Classify returns the class of a module from its path, or "" if it
// belongs to none. Crypto and library modules are not classified: they come
// in as dependencies and softdeps of classified ones.
func Classify(m *Module) Class {
	p := m.Path
	if i := strings.LastIndex(p, ".ko"); i >= 0 {
		p = p[:i+3]
	}
	// Overlays under updates/ are classified like the module they replace
	// would be: by the rest of the path.
	if rest, ok := strings.CutPrefix(p, "updates/"); ok && !strings.HasPrefix(rest, "kernel/") {
		p = "kernel/" + rest
	}
	for _, r := range classRules {
		if strings.HasSuffix(r.prefix, ".ko") {
			if p == r.prefix {
				return r.class
			}
		} else if strings.HasPrefix(p, r.prefix) {
			return r.class
		}
	}
	return ""
}

// Selection is a set of module files chosen for an image.
type Selection struct {
	Modules []*Module
	// Size is the sum of the files' sizes in bytes.
	Size int64
	// ByClass counts the modules picked by each class before closure.
	ByClass map[Class]int
}

// Select picks every module of the given classes (all classes if none are
// given) plus the closure of their dependencies and softdeps (crypto,
// libraries), and every module under updates/ (needle's overlays).
func Select(ix *Index, classes ...Class) (Selection, error) {
	if len(classes) == 0 {
		classes = AllClasses()
	}
	sel := Selection{ByClass: map[Class]int{}}
	var names []string
	for _, m := range ix.Modules {
		c := Classify(m)
		if (c != "" && slices.Contains(classes, c)) || strings.HasPrefix(m.Path, "updates/") {
			sel.ByClass[c]++
			names = append(names, m.Name)
		}
	}
	mods, err := Closure(ix, names)
	if err != nil {
		return Selection{}, err
	}
	sel.Modules = mods
	sel.Size = TotalSize(mods)
	return sel, nil
}

// TotalSize sums the file sizes of modules.
func TotalSize(mods []*Module) int64 {
	var n int64
	for _, m := range mods {
		n += m.Size
	}
	return n
}

// Subset returns an index holding only the given modules (with the
// builtins unchanged), for writing the text indexes of an image that
// carries exactly those files. Dependencies of a kept module must be kept
// too, which Closure guarantees.
func (ix *Index) Subset(mods []*Module) (*Index, error) {
	keep := map[string]bool{}
	for _, m := range mods {
		keep[m.Name] = true
	}
	sub := &Index{Root: ix.Root, Builtin: ix.Builtin, builtin: ix.builtin}
	for _, m := range ix.Modules {
		if !keep[m.Name] {
			continue
		}
		for _, d := range m.Deps {
			if !keep[d] {
				return nil, fmt.Errorf("subset: %s needs %s, which is not in the subset", m.Name, d)
			}
		}
		c := *m
		c.order = len(sub.Modules)
		sub.Modules = append(sub.Modules, &c)
	}
	sub.finish()
	return sub, nil
}
