package install

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid"
	"github.com/needle-boot/needle/modules"
)

// fakeSysModules writes /sys/module/NAME/{version,srcversion} as the
// running kernel shows them; an empty version leaves the file out (most
// in-tree modules have none).
func fakeSysModules(t *testing.T, mods map[string][2]string) string {
	t.Helper()
	sys := t.TempDir()
	for name, vs := range mods {
		dir := filepath.Join(sys, "module", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if vs[0] != "" {
			os.WriteFile(filepath.Join(dir, "version"), []byte(vs[0]+"\n"), 0o444)
		}
		os.WriteFile(filepath.Join(dir, "srcversion"), []byte(vs[1]+"\n"), 0o444)
	}
	return sys
}

func TestBuildReceipt(t *testing.T) {
	sys := fakeSysModules(t, map[string][2]string{
		"virtio_blk":     {"", "8E1F4C0B5D2A"},
		"crc32c_generic": {"", "11AA22BB33CC"},
		"megaraid_sas":   {"07.719.03.00-rc1-needle1", "ABCDEF0123"},
	})
	tool := filepath.Join(t.TempDir(), "storcli")
	if err := os.WriteFile(tool, []byte("FAKE storcli: bytes to hash, never run"), 0o755); err != nil {
		t.Fatal(err)
	}
	toolSum := digest([]byte("FAKE storcli: bytes to hash, never run"))
	manifestJSON := []byte(`{"needle":"v1"}` + "\n")
	planYAML := []byte("version: 1\nname: web-01\n")
	const rule, ruleName = "/etc/needle/hwdb.d/x.yaml:11", "qemu-c5220-megasas-gen2-overlay-proof"
	vda := &inventory.Disk{Name: "vda", Model: "", Serial: "needle-root", Size: 4 << 30}
	sda := &inventory.Disk{Name: "sda", Model: "MR9260-8i", Serial: "00a1b2c3", WWN: "0x600605b0000000001", Size: 100 << 30}
	rootImage := plan.Disk{ID: "os", Partitions: []plan.Partition{
		{Name: "esp"},
		{Name: "root", Image: &plan.Image{URL: "http://10.0.2.2/root.img.zst", SHA256: "AB12CD"}},
	}}
	wholeImage := plan.Disk{ID: "os", Image: &plan.Image{URL: "http://10.0.2.2/disk.img.xz", SHA512: "EF34"}}

	for _, tc := range []struct {
		name string
		in   receiptInputs
		want Receipt
	}{
		{
			name: "stock drivers, unsigned plan, partition image",
			in: receiptInputs{
				kernel: "6.1.0-57-amd64", manifest: manifestJSON, planURL: "http://10.0.2.2/plan.yaml", planBytes: planYAML,
				coldplug: []modules.Result{
					{Device: "devices/pci0000:00/0000:00:04.0/virtio1", Module: "virtio_blk", Alias: "virtio:d00000002v*", Outcome: "loaded"},
					{Device: "devices/pci0000:00/0000:00:01.0", Outcome: "no module"},
				},
				loaded:  map[string]bool{"virtio_blk": true, "crc32c_generic": true},
				sysRoot: sys,
				disks:   []plan.Selection{{ID: "os", Disk: vda}}, planDisks: []plan.Disk{rootImage},
			},
			want: Receipt{
				Format: 1, Kernel: "6.1.0-57-amd64", Manifest: digest(manifestJSON),
				Plan: ReceiptPlan{URL: "http://10.0.2.2/plan.yaml", Digest: digest(planYAML), Signer: "unsigned"},
				HWDB: []ReceiptRule{},
				Modules: []ReceiptModule{
					{Module: "crc32c_generic", Srcversion: "11AA22BB33CC", Outcome: "loaded"},
					{Module: "virtio_blk", Srcversion: "8E1F4C0B5D2A", Devices: []string{"virtio1"}, Outcome: "loaded"},
				},
				Tools:  []ReceiptTool{},
				Disks:  []ReceiptDisk{{ID: "os", Name: "vda", Serial: "needle-root", Size: 4 << 30}},
				Images: []ReceiptImage{{Target: "os/root", URL: "http://10.0.2.2/root.img.zst", Algorithm: "sha256", Digest: "sha256:ab12cd"}},
			},
		},
		{
			name: "overlay and RAID tool by hwdb rule, signed plan, whole-disk image, no manifest",
			in: receiptInputs{
				kernel: "6.1.0-57-amd64", manifestErr: errors.New("/etc/needle/manifest.json: not in this image"),
				planURL: "/etc/needle/plan.yaml", planBytes: planYAML, signer: "ed25519:KEY (key 2 of /etc/needle/plan-keys.pub)",
				coldplug: []modules.Result{
					{Device: "devices/pci0000:00/0000:00:03.0", Rule: rule, Module: "megaraid_sas", Overlay: true, Outcome: "loaded"},
					{Device: "devices/pci0000:00/0000:00:05.0", Rule: "hwdb/rules/x.yaml:3", Outcome: "no module (rule)"},
				},
				loaded:    map[string]bool{"megaraid_sas": true},
				sysRoot:   sys,
				ruleNames: map[string]string{rule: ruleName},
				raid: []raidRun{{tool: "storcli", binary: tool, rule: rule, applied: &raid.Applied{
					Controller: raid.Controller{PCIAddress: "0000:00:03.0", Model: "MegaRAID SAS 9260-8i", Firmware: "12.15.0-0239"},
					Before:     &raid.Result{Tool: "storcli", ToolVersion: "007.2707.0000.0000"},
				}}},
				disks: []plan.Selection{{ID: "os", Disk: sda}}, planDisks: []plan.Disk{wholeImage},
			},
			want: Receipt{
				Format: 1, Kernel: "6.1.0-57-amd64", Manifest: "missing", ManifestError: "/etc/needle/manifest.json: not in this image",
				Plan: ReceiptPlan{URL: "/etc/needle/plan.yaml", Digest: digest(planYAML), Signer: "ed25519:KEY (key 2 of /etc/needle/plan-keys.pub)"},
				HWDB: []ReceiptRule{
					{Device: "0000:00:03.0", Rule: rule, RuleName: ruleName, Module: "megaraid_sas", Overlay: true, Outcome: "loaded"},
					{Device: "0000:00:03.0", Rule: rule, RuleName: ruleName, RAIDTool: "storcli"},
					{Device: "0000:00:05.0", Rule: "hwdb/rules/x.yaml:3", Outcome: "no module (rule)"},
				},
				Modules: []ReceiptModule{{Module: "megaraid_sas", Version: "07.719.03.00-rc1-needle1", Srcversion: "ABCDEF0123",
					Overlay: true, Rule: rule, Devices: []string{"0000:00:03.0"}, Outcome: "loaded"}},
				Tools: []ReceiptTool{{Controller: "0000:00:03.0", Tool: "storcli", ToolVersion: "007.2707.0000.0000", Binary: tool,
					SHA256: toolSum, Rule: rule, Model: "MegaRAID SAS 9260-8i", Firmware: "12.15.0-0239"}},
				Disks:  []ReceiptDisk{{ID: "os", Name: "sda", Model: "MR9260-8i", Serial: "00a1b2c3", WWN: "0x600605b0000000001", Size: 100 << 30}},
				Images: []ReceiptImage{{Target: "os", URL: "http://10.0.2.2/disk.img.xz", Algorithm: "sha512", Digest: "sha512:ef34"}},
			},
		},
		{
			name: "a module that failed on one device and loaded on another; /proc/modules unreadable; a tool not found",
			in: receiptInputs{
				kernel: "6.1.0-57-amd64", manifest: manifestJSON, planBytes: planYAML,
				coldplug: []modules.Result{
					{Device: "devices/pci0000:00/0000:00:06.0", Module: "e1000", Outcome: "failed", Error: "e1000: Unknown symbol"},
					{Device: "devices/pci0000:00/0000:00:02.0", Module: "e1000", Outcome: "loaded"},
					{Device: "devices/pci0000:00/0000:00:07.0", Module: "ahci", Outcome: "failed", Error: "ahci: Invalid module format"},
				},
				sysRoot: sys,
				raid: []raidRun{{tool: "sas2ircu", applied: &raid.Applied{Controller: raid.Controller{PCIAddress: "0000:00:08.0"},
					Before: &raid.Result{Tool: "sas2ircu", ToolVersion: "16.00.00.00"}, After: &raid.Result{Tool: "sas2ircu", ToolVersion: "20.00.00.00"}}}},
				disks: []plan.Selection{{ID: "data", Volume: "data"}},
			},
			want: Receipt{
				Format: 1, Kernel: "6.1.0-57-amd64", Manifest: digest(manifestJSON),
				Plan: ReceiptPlan{Digest: digest(planYAML), Signer: "unsigned"},
				HWDB: []ReceiptRule{},
				Modules: []ReceiptModule{
					{Module: "ahci", Devices: []string{"0000:00:07.0"}, Outcome: "failed", Error: "ahci: Invalid module format"},
					{Module: "e1000", Devices: []string{"0000:00:02.0", "0000:00:06.0"}, Outcome: "loaded"},
				},
				Tools:  []ReceiptTool{{Controller: "0000:00:08.0", Tool: "sas2ircu", ToolVersion: "20.00.00.00"}},
				Disks:  []ReceiptDisk{},
				Images: []ReceiptImage{},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := buildReceipt(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("buildReceipt (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReceiptJSON pins the field names a reader of receipt.json relies on.
func TestReceiptJSON(t *testing.T) {
	r := Receipt{Plan: ReceiptPlan{}, HWDB: []ReceiptRule{{}}, Modules: []ReceiptModule{{}}, Tools: []ReceiptTool{{}},
		Disks: []ReceiptDisk{{}}, Images: []ReceiptImage{{}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatal(err)
	}
	keys := func(raw json.RawMessage) []string {
		var m map[string]any
		if strings.HasPrefix(string(raw), "[") {
			var l []map[string]any
			json.Unmarshal(raw, &l)
			m = l[0]
		} else {
			json.Unmarshal(raw, &m)
		}
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	for _, tc := range []struct {
		field string
		want  []string
	}{
		{"", []string{"disks", "format", "hwdb", "images", "kernel", "manifest", "modules", "plan", "raid_tools"}},
		{"plan", []string{"digest", "signer", "url"}},
		{"hwdb", []string{"device", "rule"}},
		{"modules", []string{"module", "outcome", "overlay"}},
		{"raid_tools", []string{"controller", "tool"}},
		{"disks", []string{"id", "name", "size"}},
		{"images", []string{"algorithm", "digest", "target", "url"}},
	} {
		got := keys(b)
		if tc.field != "" {
			got = keys(top[tc.field])
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("receipt JSON %q keys (-want +got):\n%s", tc.field, diff)
		}
	}
}

func TestPlanSigner(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	got := planSigner("/etc/needle/plan-keys.pub", 1, key)
	want := "ed25519:O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik= (key 2 of /etc/needle/plan-keys.pub)"
	if got != want {
		t.Errorf("planSigner = %q, want %q", got, want)
	}
}

// TestRaidRuns: the tool the receipt names for a raid entry is the plan's,
// else the one the hwdb names for the controller, with the rule.
func TestRaidRuns(t *testing.T) {
	db, err := hwdb.Load(hwdb.Builtin(), hwdb.Dir("../../qemu-test/testdata/hwdb"))
	if err != nil {
		t.Fatal(err)
	}
	ctrl := inventory.PCIDevice{Addr: "0000:00:03.0", Vendor: 0x1000, Device: 0x0079, SubVendor: 0x1000, SubDevice: 0x9261, Class: 0x010400}
	a1, a2 := &raid.Applied{}, &raid.Applied{}
	m := &Machine{KernelRelease: "6.1.0-57-amd64"}
	got := m.raidRuns(installed{
		mods: &Modules{HWDB: db},
		inv: &inventory.Inventory{PCI: []inventory.PCIDevice{ctrl},
			DMI: inventory.DMI{SysVendor: "Dell Inc.", ProductName: "PowerEdge C5220"}},
		plan: &Planned{Plan: &plan.Plan{RAID: []plan.RAID{
			{Controller: plan.Controller{PCI: "0000:00:03.0"}},
			{Controller: plan.Controller{PCI: "0000:00:09.0", Tool: "perccli"}},
		}}},
		vols: &Volumes{Applied: []*raid.Applied{a1, a2}},
	})
	want := []raidRun{
		{tool: "storcli", rule: "../../qemu-test/testdata/hwdb/qemu-overlay-proof.yaml:11", applied: a1},
		{tool: "perccli", applied: a2},
	}
	for i := range got {
		got[i].binary = "" // whatever this host's PATH holds
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(raidRun{}), cmp.Comparer(func(a, b *raid.Applied) bool { return a == b })); diff != "" {
		t.Errorf("raidRuns (-want +got):\n%s", diff)
	}
}
