package inventory

import (
	"os"
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/testenv"
)

func TestPCIIDsNames(t *testing.T) {
	ids := testIDs(t)
	tests := []struct {
		dev       PCIDevice
		name, cls string
	}{
		{PCIDevice{Vendor: 0x1000, Device: 0x0072, SubVendor: 0x1028, SubDevice: 0x1f1e, Class: 0x010700},
			"Broadcom / LSI SAS2008 PCI-Express Fusion-MPT SAS-2 [Falcon] (PERC H200 Integrated)", "Serial Attached SCSI controller"},
		{PCIDevice{Vendor: 0x1000, Device: 0x0072, SubVendor: 0x1234, SubDevice: 0x5678, Class: 0x010700},
			"Broadcom / LSI SAS2008 PCI-Express Fusion-MPT SAS-2 [Falcon]", "Serial Attached SCSI controller"},
		{PCIDevice{Vendor: 0x1000, Device: 0x0079, SubVendor: 0x1000, SubDevice: 0x9261, Class: 0x010400},
			"Broadcom / LSI MegaRAID SAS 2108 [Liberator] (MegaRAID SAS 9260-8i)", "RAID bus controller"},
		{PCIDevice{Vendor: 0x1000, Device: 0xbeef, Class: 0x01ee00}, "Broadcom / LSI device beef", "Mass storage controller"},
		{PCIDevice{Vendor: 0xdead, Device: 0xbeef, Class: 0xee0000}, "", ""},
	}
	for _, tt := range tests {
		if got := ids.Name(tt.dev); got != tt.name {
			t.Errorf("Name(%04x:%04x sub %04x:%04x) = %q, want %q", tt.dev.Vendor, tt.dev.Device, tt.dev.SubVendor, tt.dev.SubDevice, got, tt.name)
		}
		if got := ids.ClassName(tt.dev.Class); got != tt.cls {
			t.Errorf("ClassName(%06x) = %q, want %q", tt.dev.Class, got, tt.cls)
		}
	}
	var none *PCIIDs
	if got := none.Name(tests[0].dev); got != "" {
		t.Errorf("nil PCIIDs Name = %q, want empty", got)
	}
}

func TestPCIIDsMalformed(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10000  too long\n", "pci.ids line 1: malformed vendor"},
		{"1000  LSI\n\tzzzz  bad\n", "pci.ids line 2: malformed device"},
		{"1000  LSI\n\t0072  SAS2008\n\t\t1028  no subdevice\n", "pci.ids line 3: malformed subsystem"},
		{"\t0072  orphan device\n", "pci.ids line 1: unexpected indentation"},
		{"C 0  short class\n", "pci.ids line 1: malformed class"},
		{"1000  LSI\n\t\t\t0072  too deep\n", "pci.ids line 2: unexpected indentation"},
	}
	for _, tt := range tests {
		_, err := LoadPCIIDs(strings.NewReader(tt.in))
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("LoadPCIIDs(%q) = %v, want %q…", tt.in, err, tt.want)
		}
	}
}

// TestPCIIDsFullFile parses the host's complete pci.ids when there is one
// (Debian: apt-get install pci.ids).
func TestPCIIDsFullFile(t *testing.T) {
	const path = "/usr/share/misc/pci.ids"
	f, err := os.Open(path)
	if err != nil {
		testenv.Unavailable(t, "no %s on this host (apt-get install pci.ids): %v", path, err)
	}
	defer f.Close()
	ids, err := LoadPCIIDs(f)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids.Name(PCIDevice{Vendor: 0x1af4, Device: 0x1042}); !strings.Contains(got, "Virtio") {
		t.Errorf("Name(1af4:1042) = %q, want a Virtio name", got)
	}
	if len(ids.vendors) < 1000 {
		t.Errorf("only %d vendors parsed", len(ids.vendors))
	}
}

func FuzzLoadPCIIDs(f *testing.F) {
	b, err := os.ReadFile("testdata/pci.ids")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte("1000  LSI\n\t0072  SAS2008\n\t\t1028 1f1e  H200\nC 01  Mass\n\t04  RAID\n\t\t00  x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ids, err := LoadPCIIDs(strings.NewReader(string(data)))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "pci.ids line ") && !strings.HasPrefix(err.Error(), "read pci.ids") {
				t.Fatalf("error %q does not name the line", err)
			}
			return
		}
		for v, vendor := range ids.vendors {
			if vendor.name == "" {
				t.Fatalf("vendor %04x without a name", v)
			}
			for d := range vendor.devices {
				if ids.Name(PCIDevice{Vendor: v, Device: d}) == "" {
					t.Fatalf("known device %04x:%04x has no name", v, d)
				}
			}
		}
	})
}
