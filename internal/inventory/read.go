package inventory

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/needle-boot/needle/internal/sysroot"
)

// Root says where the kernel's pseudo filesystems are (sysroot.Root, the
// one type every reader of them takes). Tests and `needle inventory
// --sysfs DIR --procfs DIR` point it at a captured tree.
type Root = sysroot.Root

// Read takes the inventory from root. Attributes that are missing or
// unreadable are left empty (sysfs differs between kernels and drivers); a
// missing /sys/bus/pci is an error because then root is not a sysfs at all.
func Read(root Root) (*Inventory, error) {
	return newReader(root.WithDefaults(), nil).inventory()
}

// access is what the reader did with a path; Capture replays it.
type access int

const (
	accFile    access = iota // read a regular file
	accDir                   // listed a directory
	accLink                  // read a symlink
	accResolve               // resolved a path through its symlinks
)

// reader reads one sysfs/procfs root. Every path it touches goes through
// trace, so Capture can copy exactly what Read needs and no more.
type reader struct {
	root  Root
	trace func(fsName string, rel string, a access)
}

func newReader(root Root, trace func(string, string, access)) *reader {
	if trace == nil {
		trace = func(string, string, access) {}
	}
	return &reader{root: root, trace: trace}
}

// sys returns the host path of a path relative to the sysfs root.
func (r *reader) sys(rel string) string { return filepath.Join(r.root.Sys, filepath.FromSlash(rel)) }

// attr reads a sysfs attribute and trims the trailing newline and the
// padding some drivers add (SCSI INQUIRY strings are space padded). A
// missing or unreadable attribute reads as "".
func (r *reader) attr(rel string) string {
	b, ok := r.raw(rel)
	if !ok {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// raw reads a sysfs file as bytes.
func (r *reader) raw(rel string) ([]byte, bool) {
	r.trace("sys", rel, accFile)
	b, err := os.ReadFile(r.sys(rel))
	if err != nil {
		return nil, false
	}
	return b, true
}

// procFile reads a file under the procfs root.
func (r *reader) procFile(rel string) ([]byte, error) {
	r.trace("proc", rel, accFile)
	return os.ReadFile(filepath.Join(r.root.Proc, filepath.FromSlash(rel)))
}

// list returns the names in a sysfs directory, sorted; nil if it is absent.
func (r *reader) list(rel string) ([]fs.DirEntry, error) {
	r.trace("sys", rel, accDir)
	ents, err := os.ReadDir(r.sys(rel))
	if err != nil {
		return nil, err
	}
	return ents, nil
}

// linkBase is the last element of a symlink's target (the driver name of a
// driver link), or "".
func (r *reader) linkBase(rel string) string {
	r.trace("sys", rel, accLink)
	t, err := os.Readlink(r.sys(rel))
	if err != nil {
		return ""
	}
	return path.Base(filepath.ToSlash(t))
}

// resolve follows the symlinks in rel and returns the real path relative to
// the sysfs root, e.g. class/block/vda -> devices/pci0000:00/0000:00:02.0/
// virtio1/block/vda. The device topology the reader derives transports and
// bus paths from lives in that path.
func (r *reader) resolve(rel string) (string, bool) {
	r.trace("sys", rel, accResolve)
	real, err := filepath.EvalSymlinks(r.sys(rel))
	if err != nil {
		return "", false
	}
	root, err := filepath.EvalSymlinks(r.root.Sys)
	if err != nil {
		return "", false
	}
	out, err := filepath.Rel(root, real)
	if err != nil || out == ".." || strings.HasPrefix(out, "../") {
		return "", false
	}
	return filepath.ToSlash(out), true
}

func (r *reader) exists(rel string) bool {
	r.trace("sys", rel, accResolve)
	_, err := os.Stat(r.sys(rel))
	return err == nil
}

func (r *reader) inventory() (*Inventory, error) {
	inv := &Inventory{}
	var err error
	if inv.PCI, err = r.pciDevices(); err != nil {
		return nil, err
	}
	inv.DMI = r.dmi()
	inv.Disks = r.disks()
	inv.NICs = r.nics()
	if b, err := r.procFile("sys/kernel/osrelease"); err == nil {
		inv.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := r.procFile("meminfo"); err == nil {
		inv.Memory = parseMeminfo(b)
	}
	if b, err := r.procFile("cpuinfo"); err == nil {
		inv.CPUs = parseCPUInfo(b)
	}
	return inv, nil
}

// pciDevices lists /sys/bus/pci/devices. See
// Documentation/ABI/testing/sysfs-bus-pci for the attributes.
func (r *reader) pciDevices() ([]PCIDevice, error) {
	const dir = "bus/pci/devices"
	ents, err := r.list(dir)
	if err != nil {
		return nil, fmt.Errorf("read pci devices: %w", err)
	}
	var out []PCIDevice
	for _, e := range ents {
		base := dir + "/" + e.Name()
		d := PCIDevice{
			Addr:      e.Name(),
			Vendor:    uint16(r.hex(base+"/vendor", 16)),
			Device:    uint16(r.hex(base+"/device", 16)),
			SubVendor: uint16(r.hex(base+"/subsystem_vendor", 16)),
			SubDevice: uint16(r.hex(base+"/subsystem_device", 16)),
			Class:     uint32(r.hex(base+"/class", 24)),
			Driver:    r.linkBase(base + "/driver"),
			Modalias:  r.attr(base + "/modalias"),
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out, nil
}

// hex reads an attribute written as 0x%04x / 0x%06x; unreadable is 0.
func (r *reader) hex(rel string, bits int) uint64 {
	s := strings.TrimPrefix(r.attr(rel), "0x")
	v, err := strconv.ParseUint(s, 16, bits)
	if err != nil {
		return 0
	}
	return v
}

// ReadDMI reads only the DMI identity of root (what the hwdb matches on),
// for callers that need no full inventory.
func ReadDMI(root Root) DMI { return newReader(root, nil).dmi() }

// dmi reads /sys/class/dmi/id (drivers/firmware/dmi-id.c). Some attributes
// (product_serial, product_uuid) are root-only; they stay empty otherwise.
func (r *reader) dmi() DMI {
	a := func(name string) string { return r.attr("class/dmi/id/" + name) }
	return DMI{
		SysVendor:     a("sys_vendor"),
		ProductName:   a("product_name"),
		ProductSerial: a("product_serial"),
		ProductUUID:   a("product_uuid"),
		BoardVendor:   a("board_vendor"),
		BoardName:     a("board_name"),
		BIOSVendor:    a("bios_vendor"),
		BIOSVersion:   a("bios_version"),
		BIOSDate:      a("bios_date"),
	}
}

// nics lists /sys/class/net entries backed by a device: lo, bridges, bonds,
// tunnels and ifb have no "device" link.
func (r *reader) nics() []NIC {
	const dir = "class/net"
	ents, err := r.list(dir)
	if err != nil {
		return nil
	}
	var out []NIC
	for _, e := range ents {
		base := dir + "/" + e.Name()
		dev, ok := r.resolve(base + "/device")
		if !ok {
			continue
		}
		n := NIC{
			Name:    e.Name(),
			MAC:     r.attr(base + "/address"),
			Driver:  r.linkBase(base + "/device/driver"),
			PCIAddr: lastPCIAddr(dev),
			Carrier: r.attr(base+"/carrier") == "1", // EINVAL while down
		}
		n.SpeedMb, _ = strconv.Atoi(r.attr(base + "/speed"))
		n.MTU, _ = strconv.Atoi(r.attr(base + "/mtu"))
		out = append(out, n)
	}
	return out
}

// parseMeminfo reads MemTotal from /proc/meminfo (in kB, which the kernel
// means as KiB: fs/proc/meminfo.c shifts pages by PAGE_SHIFT-10).
func parseMeminfo(b []byte) Memory {
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != "MemTotal" {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			break
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		return Memory{TotalBytes: n}
	}
	return Memory{}
}

// parseCPUInfo counts the logical processors in /proc/cpuinfo and takes the
// first model name (x86 "model name", arm64 has none, some have "cpu model").
func parseCPUInfo(b []byte) CPUs {
	var c CPUs
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			c.Count++
		case "model name", "cpu model":
			if c.Model == "" {
				c.Model = v
			}
		}
	}
	return c
}

