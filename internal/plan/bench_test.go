package plan

import (
	"fmt"
	"testing"

	"github.com/needle-boot/needle/internal/inventory"
)

// benchPlan has 4 disks with 12 partitions in all, chosen by the kinds of
// hints real plans use (serial, wwn, model glob + size, bus path).
const benchPlan = `version: 1
name: bench
disks:
  - id: os
    select: {serial: BENCH-0001}
    wipe: true
    partitions:
      - {name: esp, type: esp, size: 512MiB, filesystem: {format: vfat, label: EFI}}
      - {name: boot, type: xbootldr, size: 1GiB, filesystem: {format: ext4, label: boot}}
      - name: root
        type: linux-root-x86-64
        size: 50GiB
        image: {url: "https://images.example.net/root.img.zst", sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08}
      - {name: swap, size: 8GiB, filesystem: {format: swap}}
      - {name: var, type: linux-var, size: rest, filesystem: {format: ext4, label: var}}
  - id: data1
    select: {wwn: "0x5000c500a0000002"}
    wipe: true
    partitions:
      - {name: d1a, type: raid, size: 50%}
      - {name: d1b, type: raid, size: rest}
  - id: data2
    select: {model: "ST4000NM*", size: {min: 3.5TB, max: 4.5TB}, bus_path: "pci-0000:00:1f.2-ata-4*"}
    wipe: true
    partitions:
      - {name: d2a, type: raid, size: 50%}
      - {name: d2b, type: raid, size: rest}
  - id: scratch
    select: {bus_path: "pci-0000:5e:00.0-nvme-1", rotational: false}
    wipe: true
    partitions:
      - {name: s1, size: 100GiB, filesystem: {format: ext4}}
      - {name: s2, size: 100GiB, filesystem: {format: ext4}}
      - {name: s3, size: rest, filesystem: {format: ext4}}
files:
  - {path: /etc/hostname, contents: {inline: "bench\n"}, filesystem: root}
boot:
  kexec: {root: root, cmdline: "root=PARTUUID=${partuuid:root} ro"}
`

// benchInventory has 6 disks: the 4 the plan picks, a USB stick and an
// unrelated SSD.
func benchInventory() *inventory.Inventory {
	mk := func(i int, size uint64, model, bus string, rot bool) inventory.Disk {
		return inventory.Disk{
			Name: fmt.Sprintf("sd%c", 'a'+i), Path: fmt.Sprintf("/dev/sd%c", 'a'+i), Size: size,
			Model: model, Serial: fmt.Sprintf("BENCH-%04d", i+1), WWN: fmt.Sprintf("0x5000c500a%07d", i+1),
			BusPath: bus, Rotational: rot, Transport: "sata",
		}
	}
	inv := &inventory.Inventory{Disks: []inventory.Disk{
		mk(0, 480e9, "MZ7LH480HAHQ", "pci-0000:00:1f.2-ata-1", false),
		mk(1, 4e12, "ST4000NM0035", "pci-0000:00:1f.2-ata-3", true),
		mk(2, 4e12, "ST4000NM0035", "pci-0000:00:1f.2-ata-4", true),
		mk(3, 1.92e12, "SAMSUNG MZQL21T9HCJR", "pci-0000:5e:00.0-nvme-1", false),
		mk(4, 240e9, "INTEL SSDSC2KB240G8", "pci-0000:00:1f.2-ata-5", false),
		mk(5, 32e9, "Flash Drive", "pci-0000:00:14.0-usb-0:3:1.0-scsi-0:0:0:0", false),
	}}
	inv.Disks[3].Name, inv.Disks[3].Path, inv.Disks[3].Transport = "nvme0n1", "/dev/nvme0n1", "nvme"
	inv.Disks[5].Removable, inv.Disks[5].Transport = true, "usb"
	return inv
}

// BenchmarkParseValidate is the plan stage's work without the fetch: parse,
// check and validate a 4-disk, 12-partition plan against 6 disks.
func BenchmarkParseValidate(b *testing.B) {
	inv := benchInventory()
	data := []byte(benchPlan)
	opt := Options{BootDevices: []string{"sdf"}}
	// Fail loudly rather than time an error path.
	p, err := Parse("bench.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	v, err := Validate(p, inv, opt)
	if err != nil {
		b.Fatal(err)
	}
	if len(v.Disks) != 4 || len(v.Untouched) != 2 {
		b.Fatalf("validated %d disks with %d untouched, want 4 and 2", len(v.Disks), len(v.Untouched))
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := Parse("bench.yaml", data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Validate(p, inv, opt); err != nil {
			b.Fatal(err)
		}
	}
}
