package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid"
	"github.com/needle-boot/needle/modules"
)

func TestBuildReceipt(t *testing.T) {
	sys := t.TempDir()
	mod := filepath.Join(sys, "module", "megaraid_sas")
	os.MkdirAll(mod, 0o755)
	os.WriteFile(filepath.Join(mod, "version"), []byte("07.719.03.00-rc1-needle1\n"), 0o644)
	os.WriteFile(filepath.Join(mod, "srcversion"), []byte("ABCDEF0123\n"), 0o644)
	tool := filepath.Join(t.TempDir(), "sas2ircu")
	os.WriteFile(tool, []byte("FAKE tool bytes"), 0o755)

	disk := &inventory.Disk{Name: "sda", Model: "QEMU HARDDISK", Serial: "needle-root", WWN: "0x5000c500a1b2c3d4", Size: 4 << 30}
	p := &plan.Plan{Disks: []plan.Disk{{ID: "os", Partitions: []plan.Partition{
		{Name: "esp"},
		{Name: "root", Image: &plan.Image{URL: "http://10.0.2.2/root.img.zst", SHA256: "AB12"}},
	}}}}
	in := receiptInputs{
		manifest: []byte("{}\n"), kernel: "6.1.0-57-amd64",
		planURL: "http://10.0.2.2/plan.yaml", planBytes: []byte("version: 1\n"), signer: "",
		coldplug: modules.Report{Results: []modules.Result{
			{Device: "0000:00:03.0", Rule: "/etc/needle/hwdb.d/x.yaml:11", Module: "megaraid_sas", Overlay: true, Outcome: "loaded"},
			{Device: "0000:00:02.0", Outcome: "no module"},
		}},
		sysRoot:   sys,
		raid:      []*raid.Applied{{Controller: raid.Controller{PCIAddress: "0000:00:03.0", Model: "SAS2008", Firmware: "20.00.07.00"}, After: &raid.Result{Tool: "sas2ircu", ToolVersion: "20.00.00.00"}}},
		binaries:  map[string]string{"sas2ircu": tool},
		validated: &plan.Validated{Plan: p, Disks: []plan.Selection{{ID: "os", Disk: disk}}},
	}
	got := buildReceipt(in)
	want := Receipt{
		Manifest: digest([]byte("{}\n")),
		Kernel:   "6.1.0-57-amd64",
		Plan:     ReceiptPlan{URL: "http://10.0.2.2/plan.yaml", Digest: digest([]byte("version: 1\n")), Signer: "unsigned"},
		Modules:  []ReceiptModule{{Device: "0000:00:03.0", Rule: "/etc/needle/hwdb.d/x.yaml:11", Module: "megaraid_sas", Overlay: true, Outcome: "loaded", Version: "07.719.03.00-rc1-needle1", Srcversion: "ABCDEF0123"}},
		Tools:    []ReceiptTool{{Controller: "0000:00:03.0", Tool: "sas2ircu", ToolVersion: "20.00.00.00", Binary: tool, SHA256: digest([]byte("FAKE tool bytes")), Model: "SAS2008", Firmware: "20.00.07.00"}},
		Disks:    []ReceiptDisk{{ID: "os", Name: "sda", Model: "QEMU HARDDISK", Serial: "needle-root", WWN: "0x5000c500a1b2c3d4", Size: 4 << 30}},
		Images:   []ReceiptImage{{Target: "os/root", URL: "http://10.0.2.2/root.img.zst", Digest: "sha256:ab12"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buildReceipt (-want +got):\n%s", diff)
	}

	in.manifest, in.missing, in.signer = nil, os.ErrNotExist, "ed25519 key 1 of /etc/needle/plan-keys.pub: 00ff"
	got = buildReceipt(in)
	if !strings.HasPrefix(got.Manifest, "missing: ") || got.Plan.Signer != in.signer {
		t.Errorf("receipt without a manifest, signed plan: manifest %q signer %q", got.Manifest, got.Plan.Signer)
	}
}
