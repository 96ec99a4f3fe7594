package inventory

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var (
	pciAddrRe = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)
	hctlRe    = regexp.MustCompile(`^[0-9]+:[0-9]+:[0-9]+:[0-9]+$`)
	ataPortRe = regexp.MustCompile(`^ata[0-9]+$`)
	// usbIfaceRe is a USB interface: bus-port[.port…]:config.interface.
	usbIfaceRe = regexp.MustCompile(`^[0-9]+-[0-9.]+:[0-9]+\.[0-9]+$`)
	hostRe     = regexp.MustCompile(`^host([0-9]+)$`)
	nvmeCtrlRe = regexp.MustCompile(`^nvme[0-9]+$`)
)

// disks lists whole block devices. /sys/class/block is the modern view
// (CONFIG_SYSFS_DEPRECATED off); /sys/block the old one, still present.
// Virtual devices (loop, zram, ram, dm) are skipped except md arrays, which
// are install targets in their own right ("the RAID volume named os").
func (r *reader) disks() []Disk {
	dir := "class/block"
	ents, err := r.list(dir)
	if err != nil {
		dir = "block"
		if ents, err = r.list(dir); err != nil {
			return nil
		}
	}
	var out []Disk
	for _, e := range ents {
		name := e.Name()
		base := dir + "/" + name
		if r.exists(base + "/partition") {
			continue
		}
		real, ok := r.resolve(base)
		if !ok {
			continue
		}
		if strings.HasPrefix(real, "devices/virtual/") && !strings.HasPrefix(name, "md") &&
			!strings.HasPrefix(real, "devices/virtual/nvme-subsystem/") {
			continue
		}
		out = append(out, r.disk(name, base, real))
	}
	sort.Slice(out, func(i, j int) bool { return naturalLess(out[i].Name, out[j].Name) })
	return out
}

func (r *reader) disk(name, base, real string) Disk {
	d := Disk{
		Name:               name,
		Path:               "/dev/" + name,
		Size:               r.uint(base+"/size") * 512, // always 512-byte units: include/linux/blk_types.h SECTOR_SHIFT
		LogicalSectorSize:  uint32(r.uint(base + "/queue/logical_block_size")),
		PhysicalSectorSize: uint32(r.uint(base + "/queue/physical_block_size")),
		Rotational:         r.attr(base+"/queue/rotational") == "1",
		Removable:          r.attr(base+"/removable") == "1",
		ReadOnly:           r.attr(base+"/ro") == "1",
		HCTL:               lastMatch(real, hctlRe),
		PCIAddr:            lastPCIAddr(real),
	}
	d.Transport = transport(name, real, d.HCTL)
	if d.Transport == "scsi" || d.Transport == "sata" || d.Transport == "sas" || d.Transport == "usb" {
		// SCSI INQUIRY vendor/model; other buses name something else
		// "vendor" (virtio's is the PCI vendor id).
		d.Vendor = r.attr(base + "/device/vendor")
	}
	if d.Transport != "virtio" && d.Transport != "md" {
		d.Model = r.attr(base + "/device/model")
	}
	d.Serial = r.serial(base, real, d.Transport)
	d.WWID = r.attr(base + "/wwid") // NVMe namespaces
	if d.WWID == "" {
		d.WWID = r.attr(base + "/device/wwid") // SCSI, from VPD page 0x83
	}
	d.WWN = wwn(d.WWID)
	if d.Transport == "nvme" && d.PCIAddr == "" {
		// Native NVMe multipath puts the namespace under
		// /sys/devices/virtual/nvme-subsystem; its controllers are links
		// in the subsystem directory (drivers/nvme/host/multipath.c).
		if ctrl := r.nvmeController(base + "/device"); ctrl != "" {
			d.PCIAddr = lastPCIAddr(ctrl)
			real = ctrl + "/" + name
		}
	}
	d.BusPath = r.busPath(base, real, d.Transport, d.HCTL)
	d.ByID = byID(d)
	d.Partitions = r.partitions(base, name)
	d.Holders = r.names(base + "/holders")
	return d
}

func (r *reader) uint(rel string) uint64 {
	v, _ := strconv.ParseUint(r.attr(rel), 10, 64)
	return v
}

// names lists a directory of links (holders/, slaves/) as sorted names.
func (r *reader) names(rel string) []string {
	ents, err := r.list(rel)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Slice(out, func(i, j int) bool { return naturalLess(out[i], out[j]) })
	return out
}

// partitions are the subdirectories of a disk carrying a "partition" file
// (block/partitions/core.c: add_partition); start and size are in 512-byte
// sectors whatever the logical block size.
func (r *reader) partitions(base, disk string) []Partition {
	ents, err := r.list(base)
	if err != nil {
		return nil
	}
	var out []Partition
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), disk) {
			continue
		}
		p := base + "/" + e.Name()
		num, err := strconv.Atoi(r.attr(p + "/partition"))
		if err != nil {
			continue
		}
		out = append(out, Partition{
			Name:    e.Name(),
			Number:  num,
			Start:   r.uint(p+"/start") * 512,
			Size:    r.uint(p+"/size") * 512,
			Holders: r.names(p + "/holders"),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out
}

// serial finds the disk's serial number where its bus puts it: virtio-blk's
// own "serial" (drivers/block/virtio_blk.c, VIRTIO_BLK_ID_BYTES), NVMe and
// some SCSI drivers' device/serial, else the SCSI unit serial number VPD
// page 0x80 (libata synthesises it from IDENTIFY), else the USB device's
// iSerial.
func (r *reader) serial(base, real, tr string) string {
	if s := r.attr(base + "/serial"); s != "" {
		return s
	}
	if s := r.attr(base + "/device/serial"); s != "" {
		return s
	}
	if b, ok := r.raw(base + "/device/vpd_pg80"); ok {
		if s := parseVPD80(b); s != "" {
			return s
		}
	}
	if tr == "usb" {
		if dev := usbDevice(real); dev != "" {
			return r.attr(dev + "/serial")
		}
	}
	return ""
}

// parseVPD80 decodes the Unit Serial Number VPD page (SPC-4 7.8.18): byte 1
// is the page code 0x80, bytes 2-3 the length, then ASCII.
func parseVPD80(b []byte) string {
	if len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(b[2])<<8 | int(b[3])
	if 4+n > len(b) {
		n = len(b) - 4
	}
	return strings.TrimSpace(strings.Trim(string(b[4:4+n]), "\x00"))
}

// wwn turns a SCSI/NVMe wwid into the WWN form /dev/disk/by-id/wwn-* uses:
// NAA ids as 0x…, EUI-64 as eui.…; t10 vendor ids are not world-wide names.
func wwn(wwid string) string {
	switch {
	case strings.HasPrefix(wwid, "naa."):
		return "0x" + strings.ToLower(wwid[4:])
	case strings.HasPrefix(wwid, "eui."):
		return "eui." + strings.ToLower(wwid[4:])
	}
	return ""
}

// transport names the bus the disk hangs off, from its device path. The
// order matters: a USB stick and a SAS disk are both SCSI devices.
func transport(name, real, hctl string) string {
	comps := strings.Split(real, "/")
	has := func(pred func(string) bool) bool {
		for _, c := range comps {
			if pred(c) {
				return true
			}
		}
		return false
	}
	switch {
	case strings.HasPrefix(real, "devices/virtual/block/md") || strings.HasPrefix(name, "md"):
		return "md"
	case strings.HasPrefix(name, "nvme") || has(func(c string) bool { return c == "nvme" }):
		return "nvme"
	case has(func(c string) bool { return usbIfaceRe.MatchString(c) }):
		return "usb"
	case has(func(c string) bool { return strings.HasPrefix(c, "end_device-") }):
		return "sas"
	case has(ataPortRe.MatchString):
		return "sata"
	case strings.HasPrefix(name, "mmcblk"):
		return "mmc"
	case hctl != "":
		return "scsi"
	case has(func(c string) bool { return strings.HasPrefix(c, "virtio") }):
		return "virtio"
	}
	return ""
}

// lastPCIAddr is the PCI function closest to the device in its sysfs path
// (bridges come before it).
func lastPCIAddr(real string) string { return lastMatch(real, pciAddrRe) }

func lastMatch(real string, re *regexp.Regexp) string {
	comps := strings.Split(real, "/")
	for i := len(comps) - 1; i >= 0; i-- {
		if re.MatchString(comps[i]) {
			return comps[i]
		}
	}
	return ""
}

// upTo returns real cut after the last component matching pred, or "".
func upTo(real string, pred func(string) bool) string {
	comps := strings.Split(real, "/")
	for i := len(comps) - 1; i >= 0; i-- {
		if pred(comps[i]) {
			return strings.Join(comps[:i+1], "/")
		}
	}
	return ""
}

// usbDevice is the USB device (not the interface) a disk sits behind: the
// parent of the interface directory, which carries idVendor and serial.
func usbDevice(real string) string {
	iface := upTo(real, usbIfaceRe.MatchString)
	if iface == "" {
		return ""
	}
	return path.Dir(iface)
}

// nvmeController finds the first controller of an NVMe subsystem directory.
func (r *reader) nvmeController(subsys string) string {
	ents, err := r.list(subsys)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		if !nvmeCtrlRe.MatchString(e.Name()) {
			continue
		}
		if real, ok := r.resolve(subsys + "/" + e.Name()); ok && lastPCIAddr(real) != "" {
			return real
		}
	}
	return ""
}

// busPath names the disk by where it is plugged, as udev's path_id builtin
// does for /dev/disk/by-path (src/udev/udev-builtin-path_id.c): the nearest
// PCI function, then the transport's own address. It returns "" where
// path_id would give no name (md, virtual devices).
func (r *reader) busPath(base, real, tr, hctl string) string {
	pci := lastPCIAddr(real)
	if pci == "" {
		return ""
	}
	parts := []string{"pci-" + pci}
	switch tr {
	case "virtio":
		// path_id skips the virtio bus: pci-0000:00:02.0.
	case "nvme":
		nsid := r.attr(base + "/nsid")
		if nsid == "" {
			return strings.Join(parts, "-")
		}
		parts = append(parts, "nvme-"+nsid)
	case "usb":
		iface := lastMatch(real, usbIfaceRe)
		_, port, _ := strings.Cut(iface, "-")
		parts = append(parts, "usb-0:"+port)
		if s := r.scsiDefault(real, hctl); s != "" {
			parts = append(parts, s)
		}
	case "sas":
		if s := r.sasPath(real, hctl); s != "" {
			parts = append(parts, s)
		}
	case "sata":
		port := lastMatch(real, ataPortRe)
		if n := r.attr(upTo(real, ataPortRe.MatchString) + "/ata_port/" + port + "/port_no"); n != "" {
			parts = append(parts, "ata-"+n)
		}
	case "scsi":
		if s := r.scsiDefault(real, hctl); s != "" {
			parts = append(parts, s)
		}
	default:
		return ""
	}
	return strings.Join(parts, "-")
}

// scsiDefault is path_id's handle_scsi_default: scsi-H:C:T:L with the host
// number rebased to the lowest host number under the same parent, so the
// name does not depend on probe order across controllers.
func (r *reader) scsiDefault(real, hctl string) string {
	f := strings.Split(hctl, ":")
	if len(f) != 4 {
		return ""
	}
	host := upTo(real, hostRe.MatchString)
	if host == "" {
		return ""
	}
	h, _ := strconv.Atoi(f[0])
	ents, err := r.list(path.Dir(host))
	if err != nil {
		return ""
	}
	base := -1
	for _, e := range ents {
		m := hostRe.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if n, _ := strconv.Atoi(m[1]); base == -1 || n < base {
			base = n
		}
	}
	if base >= 0 {
		h -= base
	}
	return fmt.Sprintf("scsi-%d:%s:%s:%s", h, f[1], f[2], f[3])
}

// sasPath is path_id's handle_scsi_sas: sas-phyN-lun-L for a disk on an HBA
// phy, sas-expADDR-phyN-lun-L behind an expander, sas-ADDR-lun-L on a wide
// port. The attributes live in the sas_transport class directories
// (drivers/scsi/scsi_transport_sas.c).
func (r *reader) sasPath(real, hctl string) string {
	f := strings.Split(hctl, ":")
	if len(f) != 4 {
		return ""
	}
	lun := "lun-" + f[3]
	if n, err := strconv.ParseUint(f[3], 10, 64); err == nil && n >= 256 {
		lun = fmt.Sprintf("lun-0x%04x%04x00000000", n&0xffff, (n>>16)&0xffff)
	}
	end := upTo(real, func(c string) bool { return strings.HasPrefix(c, "end_device-") })
	port := path.Dir(end)
	if end == "" || !strings.HasPrefix(path.Base(port), "port-") {
		return ""
	}
	endName, portName := path.Base(end), path.Base(port)
	if r.attr(port+"/sas_port/"+portName+"/num_phys") != "1" {
		addr := r.attr(end + "/sas_device/" + endName + "/sas_address")
		if addr == "" {
			return ""
		}
		return "sas-" + addr + "-" + lun
	}
	phy := r.attr(end + "/sas_device/" + endName + "/phy_identifier")
	if phy == "" {
		return ""
	}
	parent := path.Dir(port)
	if pn := path.Base(parent); strings.HasPrefix(pn, "expander-") {
		addr := r.attr(parent + "/sas_device/" + pn + "/sas_address")
		return "sas-exp" + addr + "-phy" + phy + "-" + lun
	}
	return "sas-phy" + phy + "-" + lun
}

// byID gives the /dev/disk/by-id names that follow from sysfs alone (udev's
// 60-persistent-storage.rules). ATA and SCSI names need ata_id/scsi_id
// ioctls and are left out rather than guessed.
func byID(d Disk) []string {
	var out []string
	clean := func(s string) string {
		s = strings.Join(strings.Fields(s), "_")
		return strings.Map(func(r rune) rune {
			if r == '/' {
				return '_'
			}
			return r
		}, s)
	}
	switch d.Transport {
	case "virtio":
		if d.Serial != "" {
			out = append(out, "virtio-"+clean(d.Serial))
		}
	case "nvme":
		if d.Serial != "" && d.Model != "" {
			out = append(out, "nvme-"+clean(d.Model)+"_"+clean(d.Serial))
		}
		if strings.HasPrefix(d.WWN, "eui.") {
			out = append(out, "nvme-"+d.WWN)
		}
	}
	if strings.HasPrefix(d.WWN, "0x") {
		out = append(out, "wwn-"+d.WWN)
	}
	return out
}

// naturalLess orders digit runs by value: nvme2n1 < nvme10n1, sda2 < sda10.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, _ := strconv.ParseUint(da, 10, 64)
			nb, _ := strconv.ParseUint(db, 10, 64)
			if na != nb {
				return na < nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
