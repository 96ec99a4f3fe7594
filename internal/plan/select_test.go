package plan

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/inventory"
)

func loadInventory(t testing.TB, file string) *inventory.Inventory {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var inv inventory.Inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return &inv
}

// qemuPlan wraps disk entries in a minimal plan.
func qemuPlan(disks string) string {
	return "version: 1\nname: t\ndisks:\n" + disks + "boot: {reboot: {}}\n"
}

// TestValidate runs plans against the QEMU inventory (two virtio disks of 8
// and 16 GiB and a 1 GiB USB stick) and compares the dry-run report or the
// error with testdata/validate/NAME.golden.
func TestValidate(t *testing.T) {
	inv := loadInventory(t, "testdata/qemu-inventory.json")
	qemu, err := os.ReadFile("testdata/qemu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		plan    string
		opt     Options
		inv     func(*inventory.Inventory) // edits a copy of the inventory
		wantErr bool
	}{
		{name: "qemu-plan", plan: string(qemu)},
		{name: "size-matches-two", wantErr: true, plan: qemuPlan(`
  - id: target
    select: {size: {min: 4GiB}}
    wipe: true
`)},
		{name: "prefer-largest", plan: qemuPlan(`
  - id: target
    select: {size: {min: 4GiB}, prefer: largest}
    wipe: true
    partitions:
      - {name: esp, type: esp, size: 512MiB, filesystem: {format: vfat}}
      - {name: root, size: 50%, filesystem: {format: ext4}}
      - {name: data, size: rest, filesystem: {format: ext4}}
`)},
		{name: "prefer-tie", wantErr: true, plan: qemuPlan(`
  - id: target
    select: {size: {min: 4GiB}, prefer: largest}
    wipe: true
`), inv: func(inv *inventory.Inventory) { inv.Disks[0].Size = inv.Disks[1].Size }},
		{name: "mbr-on-3TiB", wantErr: true, plan: qemuPlan(`
  - id: target
    select: {serial: needle-root}
    wipe: true
    table: mbr
    partitions: [{name: root, size: rest, filesystem: {format: ext4}}]
`), inv: func(inv *inventory.Inventory) { inv.Disks[1].Size = 3 << 40 }},
		{name: "stick-is-boot-medium", wantErr: true, plan: qemuPlan(`
  - id: target
    select: {removable: true}
    wipe: true
`), opt: Options{BootDevices: []string{"sda1"}}},
		{name: "no-match", wantErr: true, plan: qemuPlan(`
  - id: target
    select: {serial: needle-missing}
    wipe: true
`)},
		{name: "stick-by-model-refused", wantErr: true, plan: qemuPlan(`
  - id: target
    select: {model: "QEMU*"}
    wipe: true
`)},
		{name: "stick-by-removable", plan: qemuPlan(`
  - id: target
    select: {model: "QEMU*", removable: true}
    wipe: true
`)},
		{name: "boot-medium-refused", wantErr: true, plan: qemuPlan(`
  - id: target
    select: {size: {min: 12GiB}}
    wipe: true
`), opt: Options{BootDevices: []string{"/dev/vdb"}}},
		{name: "boot-medium-by-serial", plan: qemuPlan(`
  - id: target
    select: {serial: needle-root}
    wipe: true
`), opt: Options{BootDevices: []string{"vdb2"}}},
		{name: "same-disk-twice", wantErr: true, plan: qemuPlan(`
  - id: one
    select: {serial: needle-small}
    wipe: true
  - id: two
    select: {by_id: /dev/disk/by-id/virtio-needle-small}
    wipe: true
`)},
		{name: "does-not-fit", wantErr: true, plan: qemuPlan(`
  - id: target
    select: {bus_path: "pci-0000:00:04.0"}
    wipe: true
    partitions:
      - {name: root, size: 8GiB, filesystem: {format: ext4}}
`)},
		{name: "raid-tool-missing", wantErr: true, plan: `version: 1
raid:
  - controller: {pci: "0000:00:04.0", tool: sas2ircu}
    volumes: [{name: os, level: raid1, count: 2}]
  - controller: {pci: "0000:00:09.0", tool: storcli}
    volumes: [{name: data, level: raid0, count: 1}]
  - controller: {index: 0, tool: storcli}
    volumes: [{name: more, level: raid0, count: 1}]
disks:
  - {id: os, select: {raid_volume: os}, wipe: true}
boot: {reboot: {}}
`, opt: Options{Tools: []string{"storcli64"}}},
		{name: "wipe-steps", plan: qemuPlan(`
  - id: target
    select: {serial: needle-root}
    wipe: {zeroout: true}
    image: {url: "http://10.0.2.2:8080/images/disk.img.zst", sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}
  - {id: scratch, select: {serial: needle-small}, wipe: {discard: true}}
`)},
		{name: "wipe-steps-md", plan: `version: 1
md:
  - {name: data, level: raid1, devices: [small, big]}
disks:
  - {id: small, select: {serial: needle-small}, wipe: true}
  - {id: big, select: {serial: needle-root}, wipe: true}
  - id: data
    select: {md: data}
    wipe: {discard: true, zeroout: true}
    partitions: [{name: srv, size: rest, filesystem: {format: ext4}}]
boot: {reboot: {}}
`},
		{name: "raid-after", plan: `version: 1
raid:
  - controller: {pci: "0000:00:04.0"}
    volumes: [{name: os, level: raid1, members: ["252:0", "252:1"], size: 100GiB}]
md:
  - {name: data, level: raid1, devices: [small, big]}
disks:
  - id: os
    select: {raid_volume: os}
    wipe: true
    partitions:
      - {name: esp, type: esp, size: 512MiB, filesystem: {format: vfat}}
      - {name: root, size: rest, filesystem: {format: ext4}}
  - {id: small, select: {serial: needle-small}, wipe: true}
  - {id: big, select: {serial: needle-root}, wipe: true}
  - id: data
    select: {md: data}
    wipe: true
    partitions: [{name: srv, size: rest, filesystem: {format: ext4}}]
boot: {kexec: {root: root}}
`, opt: Options{Tools: []string{"sas2ircu"}, ToolFor: func(d inventory.PCIDevice) string {
			if d.Vendor == 0x1af4 {
				return "sas2ircu" // a stand-in hwdb answer for the test
			}
			return ""
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.name+".yaml", []byte(tt.plan))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			in := inv
			if tt.inv != nil {
				cp := *inv
				cp.Disks = append([]inventory.Disk(nil), inv.Disks...)
				tt.inv(&cp)
				in = &cp
			}
			v, err := Validate(p, in, tt.opt)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Validate succeeded, want an error")
				}
				var es Errors
				if !errors.As(err, &es) {
					t.Fatalf("Validate error is %T, want Errors", err)
				}
				golden(t, "validate/"+tt.name+".golden", err.Error()+"\n")
				return
			}
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			var b strings.Builder
			if err := v.WriteReport(&b); err != nil {
				t.Fatal(err)
			}
			golden(t, "validate/"+tt.name+".golden", b.String())
		})
	}
}

// TestValidateChoice asserts the chosen disks directly, independent of the
// report's wording.
func TestValidateChoice(t *testing.T) {
	inv := loadInventory(t, "testdata/qemu-inventory.json")
	data, err := os.ReadFile("testdata/qemu.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("qemu.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Validate(p, inv, Options{BootDevices: []string{"sda"}})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		ID, Disk string
		State    State
		Layout   []Extent
	}
	var got []row
	for _, s := range v.Disks {
		got = append(got, row{s.ID, s.Disk.Name, s.State, s.Layout})
	}
	want := []row{{"target", "vdb", Resolved, []Extent{
		{Name: "esp", Start: MiB, Size: 256 * MiB},
		{Name: "root", Start: 257 * MiB, Size: 16*1024*MiB - 258*MiB},
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("selection (-want +got):\n%s", diff)
	}
	var untouched []string
	for _, d := range v.Untouched {
		untouched = append(untouched, d.Name)
	}
	if diff := cmp.Diff([]string{"vda", "sda"}, untouched); diff != "" {
		t.Errorf("untouched (-want +got):\n%s", diff)
	}
}

// TestResolveAfterRAID: a raid_volume disk is settled once the volume
// exists, with the same fit, double-use and boot-medium rules.
func TestResolveAfterRAID(t *testing.T) {
	inv := loadInventory(t, "testdata/qemu-inventory.json")
	p, err := Parse("r.yaml", []byte(`version: 1
raid:
  - controller: {index: 0, tool: storcli}
    volumes: [{name: os, level: raid1, count: 2}]
disks:
  - id: os
    select: {raid_volume: os}
    wipe: true
    partitions: [{name: root, size: 10GiB, filesystem: {format: ext4}}]
  - {id: other, select: {serial: needle-small}, wipe: true}
boot: {reboot: {}}
`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Validate(p, inv, Options{Tools: []string{"storcli"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Disks[0].State != AfterRAID {
		t.Fatalf("state = %q, want %q", v.Disks[0].State, AfterRAID)
	}
	vol := inventory.Disk{Name: "sdc", Path: "/dev/sdc", Size: 100 << 30, Model: "MR9261-8i"}
	errs := []struct {
		name string
		do   func() error
		want string
	}{
		{"unknown volume", func() error { return v.Resolve("data", vol, nil) }, `r.yaml: no plan disk waits for volume "data"`},
		{"taken", func() error { return v.Resolve("os", inv.Disks[0], nil) },
			`r.yaml: disk "os": volume "os" came up as /dev/vda, which disk "other" already selected`},
	}
	for _, tt := range errs {
		if err := tt.do(); err == nil || err.Error() != tt.want {
			t.Errorf("%s: Resolve = %v, want %q", tt.name, err, tt.want)
		}
	}
	small := vol
	small.Size = 4 << 30
	if err := v.Resolve("os", small, nil); err == nil || !strings.Contains(err.Error(), "partitions need 10240 MiB") {
		t.Errorf("Resolve onto a 4 GiB volume = %v, want a fit error", err)
	}
	if err := v.Resolve("os", vol, []string{"sdc"}); err == nil || !strings.Contains(err.Error(), "holds the boot medium") {
		t.Errorf("Resolve onto the boot medium = %v, want a refusal", err)
	}
	if err := v.Resolve("os", vol, nil); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if v.Disks[0].State != Resolved || v.Disks[0].Disk.Name != "sdc" || v.Disks[0].Layout[0].Size != 10<<30 {
		t.Errorf("after Resolve: %+v", v.Disks[0])
	}
}

// TestPlainHBARefused: a raid entry for a controller the hwdb calls a plain
// HBA (raid_tool: none) is refused at validation, before anything runs.
func TestPlainHBARefused(t *testing.T) {
	p, err := Parse("hba.yaml", []byte("version: 1\nraid:\n  - controller: {pci: \"0000:00:04.0\"}\n    volumes: [{name: os, level: raid1, count: 2}]\ndisks:\n  - {id: os, select: {raid_volume: os}, wipe: true}\nboot: {reboot: {}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Validate(p, loadInventory(t, "testdata/qemu-inventory.json"), Options{Tools: []string{"storcli"}, ToolFor: func(inventory.PCIDevice) string { return "none" }})
	if err == nil || !strings.Contains(err.Error(), "controller 0000:00:04.0 is a plain HBA") {
		t.Errorf("Validate = %v, want the plain-HBA refusal", err)
	}
}
