package inventory

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// PCIIDs is the PCI ID database (https://pci-ids.ucw.cz, Debian's
// /usr/share/misc/pci.ids from the pci.ids package), which `needle build
// --pci-ids` puts into the image so the console names the hardware.
type PCIIDs struct {
	vendors map[uint16]*pciVendor
	classes map[uint8]*pciClass
}

type pciVendor struct {
	name    string
	devices map[uint16]*pciDev
}

type pciDev struct {
	name string
	subs map[uint32]string // subvendor<<16 | subdevice
}

type pciClass struct {
	name string
	subs map[uint8]string
}

// LoadPCIIDs parses pci.ids. Its grammar, from the file's own header:
//
//	vendor  vendor_name
//		device  device_name
//			subvendor subdevice  subsystem_name
//	C class  class_name
//		subclass  subclass_name
//			prog-if  prog-if_name
//
// Lines the grammar does not allow are errors naming the line.
func LoadPCIIDs(r io.Reader) (*PCIIDs, error) {
	ids := &PCIIDs{vendors: map[uint16]*pciVendor{}, classes: map[uint8]*pciClass{}}
	var (
		vendor *pciVendor
		dev    *pciDev
		class  *pciClass
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(what string) error {
			return fmt.Errorf("pci.ids line %d: %s: %q", n, what, line)
		}
		tabs := len(line) - len(strings.TrimLeft(line, "\t"))
		body := line[tabs:]
		switch {
		case tabs == 0 && strings.HasPrefix(body, "C "):
			id, name, ok := idName(body[2:], 8)
			if !ok {
				return nil, bad("malformed class")
			}
			class = &pciClass{name: name, subs: map[uint8]string{}}
			ids.classes[uint8(id)] = class
			vendor, dev = nil, nil
		case tabs == 0:
			id, name, ok := idName(body, 16)
			if !ok {
				return nil, bad("malformed vendor")
			}
			vendor = &pciVendor{name: name, devices: map[uint16]*pciDev{}}
			ids.vendors[uint16(id)] = vendor
			dev, class = nil, nil
		case tabs == 1 && vendor != nil:
			id, name, ok := idName(body, 16)
			if !ok {
				return nil, bad("malformed device")
			}
			dev = &pciDev{name: name}
			vendor.devices[uint16(id)] = dev
		case tabs == 1 && class != nil:
			id, name, ok := idName(body, 8)
			if !ok {
				return nil, bad("malformed subclass")
			}
			class.subs[uint8(id)] = name
		case tabs == 2 && dev != nil:
			sv, rest, ok := strings.Cut(body, " ")
			if !ok {
				return nil, bad("malformed subsystem")
			}
			v, err1 := strconv.ParseUint(sv, 16, 16)
			sd, name, ok := idName(rest, 16)
			if err1 != nil || len(sv) != 4 || !ok {
				return nil, bad("malformed subsystem")
			}
			if dev.subs == nil {
				dev.subs = map[uint32]string{}
			}
			dev.subs[uint32(v)<<16|uint32(sd)] = name
		case tabs == 2 && class != nil:
			// Programming interfaces: not needed for a name.
		default:
			return nil, bad("unexpected indentation")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read pci.ids: %w", err)
	}
	return ids, nil
}

// idName splits "1000  LSI Logic" into its hex id and name.
func idName(s string, bits int) (uint64, string, bool) {
	id, name, ok := strings.Cut(s, " ")
	if !ok || len(id) != bits/4 {
		return 0, "", false
	}
	v, err := strconv.ParseUint(id, 16, bits)
	name = strings.TrimSpace(name)
	if err != nil || name == "" {
		return 0, "", false
	}
	return v, name, true
}

// Name is "Vendor Device" for a device, with the subsystem's own name in
// brackets when pci.ids knows the board (a Dell PERC H200 is an LSI SAS2008
// with Dell's subsystem id), or "" when the vendor is unknown.
func (ids *PCIIDs) Name(d PCIDevice) string {
	if ids == nil {
		return ""
	}
	v, ok := ids.vendors[d.Vendor]
	if !ok {
		return ""
	}
	dev, ok := v.devices[d.Device]
	if !ok {
		return fmt.Sprintf("%s device %04x", v.name, d.Device)
	}
	name := v.name + " " + dev.name
	if sub, ok := dev.subs[uint32(d.SubVendor)<<16|uint32(d.SubDevice)]; ok && sub != dev.name {
		name += " (" + sub + ")"
	}
	return name
}

// ClassName names a 24-bit class code by its subclass, else its class.
func (ids *PCIIDs) ClassName(class uint32) string {
	if ids == nil {
		return ""
	}
	c, ok := ids.classes[uint8(class>>16)]
	if !ok {
		return ""
	}
	if s, ok := c.subs[uint8(class>>8)]; ok {
		return s
	}
	return c.name
}

// Label fills the PCI devices' names in inv.
func (ids *PCIIDs) Label(inv *Inventory) {
	for i := range inv.PCI {
		inv.PCI[i].Name = ids.Name(inv.PCI[i])
		inv.PCI[i].ClassName = ids.ClassName(inv.PCI[i].Class)
	}
}
