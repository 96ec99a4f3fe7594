// Package inventory takes a hardware inventory (PCI, DMI, disks, NICs,
// memory, CPUs) from a sysfs and procfs root given as a parameter, so it runs
// on captured trees in tests and on any Linux host.
package inventory

// Inventory is what needle knows about the machine before it touches it. Its
// JSON form is kept for the report and is the input of `needle plan check
// --inventory` and `needle build --hardware`.
type Inventory struct {
	Kernel string      `json:"kernel,omitempty"` // uname release, e.g. 6.1.0-56-amd64
	DMI    DMI         `json:"dmi"`
	PCI    []PCIDevice `json:"pci"`
	Disks  []Disk      `json:"disks"`
	NICs   []NIC       `json:"nics"`
	Memory Memory      `json:"memory"`
	CPUs   CPUs        `json:"cpus"`
}

// DMI holds the SMBIOS strings the kernel exposes in /sys/class/dmi/id.
type DMI struct {
	SysVendor     string `json:"sys_vendor,omitempty"`
	ProductName   string `json:"product_name,omitempty"`
	ProductSerial string `json:"product_serial,omitempty"`
	ProductUUID   string `json:"product_uuid,omitempty"`
	BoardVendor   string `json:"board_vendor,omitempty"`
	BoardName     string `json:"board_name,omitempty"`
	BIOSVendor    string `json:"bios_vendor,omitempty"`
	BIOSVersion   string `json:"bios_version,omitempty"`
	BIOSDate      string `json:"bios_date,omitempty"`
}

// PCIDevice is one function on the PCI bus.
type PCIDevice struct {
	Addr      string `json:"addr"` // 0000:00:04.0
	Vendor    uint16 `json:"vendor"`
	Device    uint16 `json:"device"`
	SubVendor uint16 `json:"subvendor"`
	SubDevice uint16 `json:"subdevice"`
	Class     uint32 `json:"class"` // 24-bit class code, e.g. 0x010400
	Driver    string `json:"driver,omitempty"`
	Modalias  string `json:"modalias,omitempty"`
	Name      string `json:"name,omitempty"`       // from pci.ids when the image carries it
	ClassName string `json:"class_name,omitempty"` // from pci.ids, e.g. "RAID bus controller"
}

// Disk is a whole block device (not a partition).
type Disk struct {
	Name               string      `json:"name"` // sda, vda, nvme0n1, md127
	Path               string      `json:"path"` // /dev/sda
	Size               uint64      `json:"size"` // bytes
	LogicalSectorSize  uint32      `json:"logical_sector_size"`
	PhysicalSectorSize uint32      `json:"physical_sector_size"`
	Model              string      `json:"model,omitempty"`
	Vendor             string      `json:"vendor,omitempty"`
	Serial             string      `json:"serial,omitempty"`
	WWN                string      `json:"wwn,omitempty"`
	WWID               string      `json:"wwid,omitempty"` // the kernel's wwid attribute: naa.…, eui.…, t10.…, nvme.…
	Rotational         bool        `json:"rotational"`
	Removable          bool        `json:"removable"`
	ReadOnly           bool        `json:"read_only"`
	Transport          string      `json:"transport,omitempty"` // sata, sas, nvme, virtio, usb, scsi, md
	BusPath            string      `json:"bus_path,omitempty"`  // as /dev/disk/by-path names it: pci-0000:00:05.0-scsi-0:2:0:0
	HCTL               string      `json:"hctl,omitempty"`      // SCSI host:channel:target:lun
	PCIAddr            string      `json:"pci_addr,omitempty"`  // the PCI function the disk hangs off
	ByID               []string    `json:"by_id,omitempty"`     // names as /dev/disk/by-id would give them
	Partitions         []Partition `json:"partitions,omitempty"`
	Holders            []string    `json:"holders,omitempty"` // md127, dm-0 …
}

// Partition is a partition of a Disk as the kernel sees it.
type Partition struct {
	Name    string   `json:"name"` // sda1
	Number  int      `json:"number"`
	Start   uint64   `json:"start"` // bytes
	Size    uint64   `json:"size"`  // bytes
	Holders []string `json:"holders,omitempty"`
}

// NIC is a network interface backed by a device (not lo, not virtual).
type NIC struct {
	Name    string `json:"name"`
	MAC     string `json:"mac"`
	Driver  string `json:"driver,omitempty"`
	PCIAddr string `json:"pci_addr,omitempty"`
	Carrier bool   `json:"carrier"`
	SpeedMb int    `json:"speed_mbps,omitempty"` // -1/0 when unknown
	MTU     int    `json:"mtu,omitempty"`
}

// Memory is the machine's RAM as /proc/meminfo reports it.
type Memory struct {
	TotalBytes uint64 `json:"total_bytes"`
}

// CPUs is what /proc/cpuinfo says about the processors.
type CPUs struct {
	Count int    `json:"count"`
	Model string `json:"model,omitempty"`
}
