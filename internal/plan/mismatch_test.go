package plan

import (
	"testing"

	"github.com/needle-boot/needle/internal/inventory"
)

// TestMismatch covers each hint and each exclusion on its own.
func TestMismatch(t *testing.T) {
	sas := inventory.Disk{
		Name: "sdb", Path: "/dev/sdb", Size: 480e9, Model: "MZ7LH480HAHQ-00005", Vendor: "ATA     ",
		Serial: "S45PNA0M123456", WWN: "0x5002538e4abcdef0", WWID: "naa.5002538e4abcdef0",
		Transport: "sas", BusPath: "pci-0000:03:00.0-sas-phy2-lun-0", HCTL: "0:0:2:0",
		ByID: []string{"wwn-0x5002538e4abcdef0"},
	}
	yes, no := true, false
	stick := inventory.Disk{Name: "sdc", Size: 16e9, Removable: true, Serial: "4C530001", Transport: "usb"}
	tests := []struct {
		name string
		sel  Selector
		disk inventory.Disk
		boot bool
		want string
	}{
		{"serial", Selector{Serial: "S45PNA0M123456"}, sas, false, ""},
		{"serial other", Selector{Serial: "S45PNA0M000000"}, sas, false, `serial "S45PNA0M123456", not "S45PNA0M000000"`},
		{"wwn udev form", Selector{WWN: "0x5002538E4ABCDEF0"}, sas, false, ""},
		{"wwn kernel form", Selector{WWN: "naa.5002538e4abcdef0"}, sas, false, ""},
		{"wwn bare", Selector{WWN: "5002538e4abcdef0"}, sas, false, ""},
		{"wwn missing", Selector{WWN: "0x5002538e4abcdef0"}, stick, false, `has no wwn, not "0x5002538e4abcdef0"`},
		{"model missing", Selector{Model: "MZ*"}, stick, false, `has no model, not matching "MZ*"`},
		{"model glob", Selector{Model: "MZ7LH480*"}, sas, false, ""},
		{"vendor padded", Selector{Vendor: "ATA"}, sas, false, ""},
		{"size in range", Selector{Size: &SizeRange{Min: "400GB", MinBytes: 400e9, Max: "500GB", MaxBytes: 500e9}}, sas, false, ""},
		{"size too big", Selector{Size: &SizeRange{Max: "400GB", MaxBytes: 400e9}}, sas, false, "size 447.0 GiB is above max 400GB"},
		{"rotational", Selector{Serial: "S45PNA0M123456", Rotational: &yes}, sas, false, "rotational is false"},
		{"bus path glob", Selector{BusPath: "pci-0000:03:00.0-sas-*"}, sas, false, ""},
		{"hctl", Selector{HCTL: "0:0:3:0"}, sas, false, `hctl "0:0:2:0", not "0:0:3:0"`},
		{"by_id", Selector{ByID: "wwn-0x5002538e4abcdef0"}, sas, false, ""},
		{"name with other hint", Selector{Name: "sdb", Model: "MZ*"}, sas, false, ""},
		{"boot medium by size", Selector{Size: &SizeRange{Min: "1GB", MinBytes: 1e9}}, sas, true, "holds the boot medium (name it by serial, wwn or by_id to use it)"},
		{"boot medium by wwn", Selector{WWN: "0x5002538e4abcdef0"}, sas, true, ""},
		{"removable by size", Selector{Size: &SizeRange{Min: "1GB", MinBytes: 1e9}}, stick, false, "removable (say removable: true, or name it by serial, wwn or by_id)"},
		{"removable said", Selector{Removable: &yes}, stick, false, ""},
		{"removable false", Selector{Removable: &no}, stick, false, "removable is true"},
		{"removable by serial", Selector{Serial: "4C530001"}, stick, false, ""},
		{"read-only", Selector{Serial: "X"}, inventory.Disk{Name: "sr0", Serial: "X", Size: 1, ReadOnly: true}, false, "read-only"},
		{"empty card reader", Selector{Serial: "X"}, inventory.Disk{Name: "sdd", Serial: "X"}, false, "no medium (size 0)"},
		{"existing md", Selector{Size: &SizeRange{Min: "1GB", MinBytes: 1e9}}, inventory.Disk{Name: "md127", Size: 2e9, Transport: "md"}, false, "an existing md/dm device (select its member disks, or md: for an array the plan creates)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mismatch(&tt.sel, &tt.disk, tt.boot); got != tt.want {
				t.Errorf("mismatch(%+v, %s) = %q, want %q", tt.sel, tt.disk.Name, got, tt.want)
			}
		})
	}
}
