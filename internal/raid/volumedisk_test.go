package raid

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid/fake"
)

// qemuInventory is the inventory captured in QEMU with a megasas-gen2 at
// 0000:00:03.0 and two 64 MiB disks at 0:2:0:0 and 0:2:1:0
// (internal/inventory/testdata/qemu-c5220-megasas-gen2).
func qemuInventory(t *testing.T) *inventory.Inventory {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "inventory", "testdata", "qemu-c5220-megasas-gen2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var inv inventory.Inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		t.Fatal(err)
	}
	return &inv
}

func TestVolumeDisk(t *testing.T) {
	q := qemuInventory(t)
	mpt := &inventory.Inventory{
		PCI: []inventory.PCIDevice{{Addr: "0000:03:00.0", Driver: "mpt3sas"}},
		Disks: []inventory.Disk{
			{Name: "sda", Size: 100 << 30, HCTL: "2:0:0:0", PCIAddr: "0000:03:00.0", Model: "ST1000"},
			{Name: "sdb", Size: 100 << 30, HCTL: "2:1:0:0", PCIAddr: "0000:03:00.0", Vendor: "LSI", Model: "Logical Volume"},
			{Name: "sdc", Size: 200 << 30, HCTL: "2:1:1:0", PCIAddr: "0000:03:00.0", Vendor: "LSI", Model: "Logical Volume"},
			{Name: "sdd", Size: 100 << 30, HCTL: "3:0:0:0", PCIAddr: "0000:04:00.0", Model: "os"},
		},
	}
	named := &inventory.Inventory{Disks: []inventory.Disk{
		{Name: "sda", Size: 100 << 30, PCIAddr: "0000:05:00.0", Model: "data"},
		{Name: "sdb", Size: 100 << 30, PCIAddr: "0000:05:00.0", Model: "os"},
	}}
	tests := []struct {
		name   string
		inv    *inventory.Inventory
		pci    string
		vol    Volume
		want   string
		errHas string
	}{
		{"megaraid VD 0 by target", q, "0000:00:03.0", Volume{ID: "0", Name: "os", SizeBytes: 64 << 20}, "sda", ""},
		{"megaraid VD 1 by target", q, "0000:00:03.0", Volume{ID: "1", Name: "os", SizeBytes: 64 << 20}, "sdb", ""},
		{"equal sizes, id not a target", q, "0000:00:03.0", Volume{ID: "79", Name: "os", SizeBytes: 64 << 20}, "", "2 disks behind controller 0000:00:03.0 have its size, cannot tell which: sda (67108864 bytes, QEMU QEMU HARDDISK, hctl 0:2:0:0), sdb"},
		{"size mismatch", q, "0000:00:03.0", Volume{ID: "0", Name: "os", SizeBytes: 1 << 30}, "", "no disk behind controller 0000:00:03.0 has its size"},
		{"wrong controller", q, "0000:00:09.0", Volume{ID: "0", Name: "os", SizeBytes: 64 << 20}, "", "no block device behind controller 0000:00:09.0"},
		{"size picks one", mpt, "0000:03:00.0", Volume{ID: "80", Name: "big", SizeBytes: 200<<30 - 5<<20}, "sdc", ""},
		{"mpt IR volume on the RAID channel", mpt, "0000:03:00.0", Volume{ID: "79", Name: "os", SizeBytes: 100 << 30}, "sdb", ""},
		{"model is the volume name", named, "0000:05:00.0", Volume{ID: "1", Name: "os", SizeBytes: 100 << 30}, "sdb", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := VolumeDisk(tt.inv, tt.pci, tt.vol)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Errorf("VolumeDisk = %s, %v; want an error with %q", d.Name, err, tt.errHas)
				}
				return
			}
			if err != nil || d.Name != tt.want {
				t.Errorf("VolumeDisk = %q, %v; want %q", d.Name, err, tt.want)
			}
		})
	}
}

// TestSeedScenario is the QEMU seed scenario's RAID step without QEMU: the
// FAKE sas2ircu, seeded to pose as a SAS2008 at the megasas-gen2's address
// 0000:00:03.0 with two disks whose RAID1 is exactly 64 MiB, creates the
// volume "os"; VolumeDisk finds it in the inventory captured in that VM;
// and the plan's raid_volume "os" disk resolves to it.
func TestSeedScenario(t *testing.T) {
	seed := fake.DefaultState()
	seed.Bus, seed.PCIDevice, seed.NextVolumeID = 0, 3, 0
	for i := range seed.Disks {
		// The fake keeps 563 MiB of metadata per member: 627 MiB disks
		// give a 64 MiB RAID1, the size of the VM's disks.
		seed.Disks[i].Sectors = (64 + 563) << 11
	}
	js, err := json.Marshal(seed)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := fakeDriver(t, "sas2ircu", 30*time.Second, fake.SeedEnv+"="+string(js))
	p, err := plan.Parse("seed.yaml", []byte(`version: 1
raid:
  - controller: {pci: "0000:00:03.0", tool: sas2ircu}
    volumes:
      - {name: os, level: raid1, members: ["1:0", "1:1"]}
disks:
  - id: system
    select: {raid_volume: os}
    wipe: true
    partitions:
      - {name: root, type: linux, size: rest, filesystem: {format: ext4}}
boot: {reboot: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	inv := qemuInventory(t)
	v, err := plan.Validate(p, inv, plan.Options{Tools: []string{"sas2ircu"}})
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	res, err := Apply(context.Background(), d, p.RAID[0], ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	vol := res.Volumes["os"]
	if vol.SizeBytes != 64<<20 || res.Controller.PCIAddress != "0000:00:03.0" {
		t.Fatalf("volume %+v on controller %+v, want 64 MiB at 0000:00:03.0", vol, res.Controller)
	}
	disk, err := VolumeDisk(inv, res.Controller.PCIAddress, vol)
	if err != nil {
		t.Fatalf("VolumeDisk: %v", err)
	}
	if disk.Name != "sda" {
		t.Errorf("volume os is %s, want sda (VD 0 at 0:2:0:0)", disk.Name)
	}
	if err := v.Resolve("os", disk, nil); err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if s := v.Disks[0]; s.State != plan.Resolved || s.Disk.Name != "sda" {
		t.Errorf("plan disk after resolve: %+v", s)
	}
}
