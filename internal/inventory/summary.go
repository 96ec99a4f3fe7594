package inventory

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Summary is a few lines for the init's console: the machine, then one line
// per disk and NIC, so an operator watching the boot sees what needle found.
func Summary(inv *Inventory) string {
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %s\n", machine(inv.DMI))
	fmt.Fprintf(&b, "cpu: %d x %s, memory %s, kernel %s\n", inv.CPUs.Count, orDash(inv.CPUs.Model), HumanBytes(inv.Memory.TotalBytes), orDash(inv.Kernel))
	drivers := 0
	for _, d := range inv.PCI {
		if d.Driver != "" {
			drivers++
		}
	}
	fmt.Fprintf(&b, "pci: %d functions, %d with a driver\n", len(inv.PCI), drivers)
	for _, d := range inv.Disks {
		fmt.Fprintf(&b, "disk %s: %s %s %s", d.Name, HumanBytes(d.Size), orDash(d.Transport), orDash(strings.TrimSpace(d.Vendor+" "+d.Model)))
		if d.Serial != "" {
			fmt.Fprintf(&b, " serial %s", d.Serial)
		}
		if d.BusPath != "" {
			fmt.Fprintf(&b, " at %s", d.BusPath)
		}
		if d.Removable {
			b.WriteString(" (removable)")
		}
		b.WriteString("\n")
	}
	for _, n := range inv.NICs {
		fmt.Fprintf(&b, "nic %s: %s %s %s\n", n.Name, n.MAC, orDash(n.Driver), link(n))
	}
	if len(inv.Disks) == 0 {
		b.WriteString("disk: none found\n")
	}
	if len(inv.NICs) == 0 {
		b.WriteString("nic: none found\n")
	}
	return b.String()
}

// WriteTable prints the inventory for people: DMI, disks, NICs, PCI.
func WriteTable(w io.Writer, inv *Inventory) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }
	d := inv.DMI
	p("MACHINE\t%s\n", machine(d))
	p("BOARD\t%s\n", orDash(strings.TrimSpace(d.BoardVendor+" "+d.BoardName)))
	p("BIOS\t%s\n", orDash(strings.TrimSpace(d.BIOSVendor+" "+d.BIOSVersion+" "+d.BIOSDate)))
	p("UUID\t%s\n", orDash(d.ProductUUID))
	p("KERNEL\t%s\n", orDash(inv.Kernel))
	p("CPU\t%d x %s\n", inv.CPUs.Count, orDash(inv.CPUs.Model))
	p("MEMORY\t%s\n", HumanBytes(inv.Memory.TotalBytes))
	p("\nDISK\tSIZE\tTRAN\tMODEL\tSERIAL\tWWN\tSECTOR\tROT\tRM\tBUS PATH\tPARTITIONS\n")
	for _, k := range inv.Disks {
		var parts []string
		for _, pt := range k.Partitions {
			parts = append(parts, pt.Name)
		}
		p("%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", k.Name, HumanBytes(k.Size), orDash(k.Transport),
			orDash(strings.TrimSpace(k.Vendor+" "+k.Model)), orDash(k.Serial), orDash(k.WWN),
			k.LogicalSectorSize, k.PhysicalSectorSize, yesNo(k.Rotational), yesNo(k.Removable),
			orDash(k.BusPath), orDash(strings.Join(parts, ",")))
	}
	p("\nNIC\tMAC\tDRIVER\tPCI\tLINK\tMTU\n")
	for _, n := range inv.NICs {
		p("%s\t%s\t%s\t%s\t%s\t%d\n", n.Name, n.MAC, orDash(n.Driver), orDash(n.PCIAddr), link(n), n.MTU)
	}
	p("\nPCI\tID\tSUBSYS\tCLASS\tDRIVER\tNAME\n")
	for _, c := range inv.PCI {
		p("%s\t%04x:%04x\t%04x:%04x\t%06x\t%s\t%s\n", c.Addr, c.Vendor, c.Device, c.SubVendor, c.SubDevice, c.Class,
			orDash(c.Driver), orDash(strings.TrimSpace(c.Name+classSuffix(c))))
	}
	return tw.Flush()
}

func classSuffix(c PCIDevice) string {
	if c.ClassName == "" {
		return ""
	}
	return " [" + c.ClassName + "]"
}

func machine(d DMI) string {
	s := strings.TrimSpace(d.SysVendor + " " + d.ProductName)
	if s == "" {
		s = "unknown (no DMI)"
	}
	if d.ProductSerial != "" {
		s += ", serial " + d.ProductSerial
	}
	if d.BIOSVersion != "" {
		s += ", bios " + d.BIOSVersion
	}
	return s
}

func link(n NIC) string {
	if !n.Carrier {
		return "down"
	}
	if n.SpeedMb > 0 {
		return fmt.Sprintf("up %dMb/s", n.SpeedMb)
	}
	return "up"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// HumanBytes prints a size in binary units with one decimal: 10.0 GiB.
func HumanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
