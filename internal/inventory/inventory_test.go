package inventory

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/needle-boot/needle/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite golden files")

// trees are the captured sysfs/procfs trees under testdata (see
// testdata/README.md for where each comes from).
func trees(t *testing.T) []string {
	t.Helper()
	dirs, err := filepath.Glob("testdata/*/sys")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no captured trees in testdata: %v", err)
	}
	var out []string
	for _, d := range dirs {
		out = append(out, filepath.Dir(d))
	}
	return out
}

func testIDs(t *testing.T) *PCIIDs {
	t.Helper()
	f, err := os.Open("testdata/pci.ids")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, err := LoadPCIIDs(f)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestReadGolden reads every captured tree and compares the JSON, the
// console summary and the table with golden files.
func TestReadGolden(t *testing.T) {
	ids := testIDs(t)
	for _, tree := range trees(t) {
		name := filepath.Base(tree)
		t.Run(name, func(t *testing.T) {
			inv, err := Read(sysroot.Capture(tree))
			if err != nil {
				t.Fatal(err)
			}
			ids.Label(inv)
			b, err := json.MarshalIndent(inv, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", name+".json"), append(b, '\n'))
			golden(t, filepath.Join("testdata", name+".summary"), []byte(Summary(inv)))
			var tb bytes.Buffer
			if err := WriteTable(&tb, inv); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", name+".table"), tb.Bytes())
		})
	}
}

// TestReadFacts asserts, independently of the golden files, what each
// captured machine is known to have (the QEMU command lines are in
// testdata/README.md).
func TestReadFacts(t *testing.T) {
	type diskFact struct{ Transport, Serial, BusPath, WWN string }
	tests := []struct {
		tree   string
		dmi    DMI
		kernel string
		disks  map[string]diskFact
		nics   map[string]string // name -> driver
		parts  map[string][]string
	}{
		{
			tree:   "fc-virtio",
			kernel: "6.18.44-fc-v657",
			disks:  map[string]diskFact{"vda": {"virtio", "overlayblk", "pci-0000:00:02.0", ""}},
			nics:   map[string]string{"eth0": "virtio_net"},
		},
		{
			tree:   "qemu-c5220-megasas-gen2",
			dmi:    DMI{SysVendor: "Dell Inc.", ProductName: "PowerEdge C5220", ProductSerial: "C5220SN1", BoardVendor: "Dell Inc.", BoardName: "0NJ3VW"},
			kernel: "6.1.0-56-amd64",
			disks: map[string]diskFact{
				"sda": {"scsi", "MEGADISK0", "pci-0000:00:03.0-scsi-0:2:0:0", ""},
				"sdb": {"scsi", "MEGADISK1", "pci-0000:00:03.0-scsi-0:2:1:0", ""},
			},
			nics:  map[string]string{"eth0": "virtio_net"},
			parts: map[string][]string{"sda": {"sda1", "sda2"}},
		},
		{
			tree:   "qemu-storage-mix",
			kernel: "6.1.0-56-amd64",
			disks: map[string]diskFact{
				"nvme0n1": {"nvme", "NVME0001", "pci-0000:00:02.0-nvme-1", ""},
				"sda":     {"sata", "AHCIDISK0", "pci-0000:00:1f.2-ata-1", "0x5000c500a1b2c3d4"},
				"sdb":     {"sas", "SASDISK0", "pci-0000:00:03.0-sas-phy0-lun-0", "0x5000c500deadbeef"},
				"sdc":     {"scsi", "VSCSI0", "pci-0000:00:04.0-scsi-0:0:0:0", ""},
				"sdd":     {"usb", "USBSTICK0", "pci-0000:00:06.0-usb-0:1:1.0-scsi-0:0:0:0", ""},
				"vda":     {"virtio", "VBLK0", "pci-0000:00:05.0", ""},
			},
			nics:  map[string]string{"eth0": "e1000"},
			parts: map[string][]string{"nvme0n1": {"nvme0n1p1", "nvme0n1p2", "nvme0n1p3"}, "sda": {"sda1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			inv, err := Read(sysroot.Capture(filepath.Join("testdata", tt.tree)))
			if err != nil {
				t.Fatal(err)
			}
			if inv.Kernel != tt.kernel {
				t.Errorf("kernel = %q, want %q", inv.Kernel, tt.kernel)
			}
			gotDMI := inv.DMI
			gotDMI.BIOSVendor, gotDMI.BIOSVersion, gotDMI.BIOSDate, gotDMI.ProductUUID = "", "", "", ""
			if tt.dmi.SysVendor != "" {
				if diff := cmp.Diff(tt.dmi, gotDMI); diff != "" {
					t.Errorf("DMI (-want +got):\n%s", diff)
				}
			}
			gotDisks := map[string]diskFact{}
			gotParts := map[string][]string{}
			for _, d := range inv.Disks {
				gotDisks[d.Name] = diskFact{d.Transport, d.Serial, d.BusPath, d.WWN}
				if d.Size == 0 || d.LogicalSectorSize == 0 {
					t.Errorf("disk %s: size %d, sector %d", d.Name, d.Size, d.LogicalSectorSize)
				}
				var sum uint64
				for _, p := range d.Partitions {
					gotParts[d.Name] = append(gotParts[d.Name], p.Name)
					if p.Start == 0 || p.Start+p.Size > d.Size {
						t.Errorf("partition %s: start %d size %d outside disk of %d", p.Name, p.Start, p.Size, d.Size)
					}
					sum += p.Size
				}
				if sum > d.Size {
					t.Errorf("disk %s: partitions sum to %d > %d", d.Name, sum, d.Size)
				}
			}
			if diff := cmp.Diff(tt.disks, gotDisks); diff != "" {
				t.Errorf("disks (-want +got):\n%s", diff)
			}
			if tt.parts == nil {
				tt.parts = map[string][]string{}
			}
			if diff := cmp.Diff(tt.parts, gotParts); diff != "" {
				t.Errorf("partitions (-want +got):\n%s", diff)
			}
			gotNICs := map[string]string{}
			for _, n := range inv.NICs {
				gotNICs[n.Name] = n.Driver
				if len(n.MAC) != 17 || n.PCIAddr == "" {
					t.Errorf("nic %s: mac %q pci %q", n.Name, n.MAC, n.PCIAddr)
				}
			}
			if diff := cmp.Diff(tt.nics, gotNICs); diff != "" {
				t.Errorf("nics (-want +got):\n%s", diff)
			}
			if inv.Memory.TotalBytes == 0 || inv.CPUs.Count == 0 {
				t.Errorf("memory %d, cpus %d", inv.Memory.TotalBytes, inv.CPUs.Count)
			}
		})
	}
}

// listTree is every path under dir with its kind and, for symlinks, target.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" "+string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestCaptureRoundTrip captures each captured tree again: the result must
// read the same and be the same tree, which shows Capture copies exactly
// what Read uses.
func TestCaptureRoundTrip(t *testing.T) {
	for _, tree := range trees(t) {
		t.Run(filepath.Base(tree), func(t *testing.T) {
			dir := t.TempDir()
			got, err := Capture(sysroot.Capture(tree), dir)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Read(sysroot.Capture(tree))
			if err != nil {
				t.Fatal(err)
			}
			again, err := Read(sysroot.Capture(dir))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Capture's inventory (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, again); diff != "" {
				t.Errorf("inventory of the re-capture (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(listTree(t, tree), listTree(t, dir)); diff != "" {
				t.Errorf("re-captured tree differs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCaptureHost captures the machine running the test and checks that
// the capture reads like the host.
func TestCaptureHost(t *testing.T) {
	if _, err := os.Stat("/sys/bus/pci/devices"); err != nil {
		testenv.Unavailable(t, "host has no /sys/bus/pci/devices: %v", err)
	}
	dir := t.TempDir()
	got, err := Capture(sysroot.Host(), dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Read(sysroot.Capture(dir))
	if err != nil {
		t.Fatal(err)
	}
	// Carrier and speed can change between reads; the rest cannot.
	for _, inv := range []*Inventory{got, again} {
		for i := range inv.NICs {
			inv.NICs[i].Carrier, inv.NICs[i].SpeedMb = false, 0
		}
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("capture of the host reads differently (-host +capture):\n%s", diff)
	}
	if len(got.PCI) == 0 {
		t.Error("host has PCI devices but the inventory has none")
	}
}

func TestReadMissingPCI(t *testing.T) {
	dir := t.TempDir()
	_, err := Read(Root{Sys: dir, Proc: dir})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "bus/pci/devices")) {
		t.Errorf("Read(empty) = %v, want an error naming %s/bus/pci/devices", err, dir)
	}
}

// TestNVMeMultipath builds the layout native NVMe multipath gives
// (CONFIG_NVME_MULTIPATH, nvme_core.multipath=Y): the namespace lives under
// /sys/devices/virtual/nvme-subsystem and reaches its controller through
// the subsystem directory.
func TestNVMeMultipath(t *testing.T) {
	dir := t.TempDir()
	sys := filepath.Join(dir, "sys")
	write := func(rel, content string) {
		p := filepath.Join(sys, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(rel, target string) {
		p := filepath.Join(sys, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	pciDev := "devices/pci0000:00/0000:00:04.0"
	write(pciDev+"/vendor", "0x144d")
	write(pciDev+"/class", "0x010802")
	link("bus/pci/devices/0000:00:04.0", "../../../"+pciDev)
	write(pciDev+"/nvme/nvme0/serial", "S4EWNX0R123456")
	ns := "devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1"
	write(ns+"/size", "1953525168")
	write(ns+"/nsid", "1")
	write(ns+"/wwid", "eui.0025385b91b0a1b2")
	write(ns+"/queue/logical_block_size", "512")
	write(ns+"/queue/rotational", "0")
	write(ns+"/nvme0n1p1/partition", "1")
	write(ns+"/nvme0n1p1/start", "2048")
	write(ns+"/nvme0n1p1/size", "1048576")
	write("devices/virtual/nvme-subsystem/nvme-subsys0/model", "Samsung SSD 970 EVO Plus 1TB")
	write("devices/virtual/nvme-subsystem/nvme-subsys0/serial", "S4EWNX0R123456")
	link("devices/virtual/nvme-subsystem/nvme-subsys0/nvme0", "../../../pci0000:00/0000:00:04.0/nvme/nvme0")
	link(ns+"/device", "../../nvme-subsys0")
	link("class/block/nvme0n1", "../../"+ns)
	link("class/block/nvme0n1p1", "../../"+ns+"/nvme0n1p1")

	inv, err := Read(sysroot.Capture(dir))
	if err != nil {
		t.Fatal(err)
	}
	want := []Disk{{
		Name: "nvme0n1", Path: "/dev/nvme0n1", Size: 1953525168 * 512, LogicalSectorSize: 512,
		Model: "Samsung SSD 970 EVO Plus 1TB", Serial: "S4EWNX0R123456",
		WWN: "eui.0025385b91b0a1b2", WWID: "eui.0025385b91b0a1b2",
		Transport: "nvme", BusPath: "pci-0000:00:04.0-nvme-1", PCIAddr: "0000:00:04.0",
		ByID:       []string{"nvme-Samsung_SSD_970_EVO_Plus_1TB_S4EWNX0R123456", "nvme-eui.0025385b91b0a1b2"},
		Partitions: []Partition{{Name: "nvme0n1p1", Number: 1, Start: 2048 * 512, Size: 1048576 * 512}},
	}}
	if diff := cmp.Diff(want, inv.Disks); diff != "" {
		t.Errorf("disks (-want +got):\n%s", diff)
	}
	// The capture of this tree must carry the multipath links too.
	cap := t.TempDir()
	if _, err := Capture(sysroot.Capture(dir), cap); err != nil {
		t.Fatal(err)
	}
	again, err := Read(sysroot.Capture(cap))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(inv, again); diff != "" {
		t.Errorf("re-captured multipath tree (-want +got):\n%s", diff)
	}
}

func TestTransport(t *testing.T) {
	tests := []struct{ name, real, want string }{
		{"vda", "devices/pci0000:00/0000:00:02.0/virtio1/block/vda", "virtio"},
		{"sda", "devices/pci0000:00/0000:00:04.0/virtio2/host0/target0:0:0/0:0:0:0/block/sda", "scsi"},
		{"sda", "devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda", "sata"},
		{"sdb", "devices/pci0000:00/0000:00:03.0/host2/port-2:0/end_device-2:0/target2:0:0/2:0:0:0/block/sdb", "sas"},
		{"sdc", "devices/pci0000:00/0000:00:03.0/host0/target0:2:0/0:2:0:0/block/sdc", "scsi"},
		{"sdd", "devices/pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host8/target8:0:0/8:0:0:0/block/sdd", "usb"},
		{"nvme0n1", "devices/pci0000:00/0000:00:02.0/nvme/nvme0/nvme0n1", "nvme"},
		{"md127", "devices/virtual/block/md127", "md"},
		{"mmcblk0", "devices/platform/soc/mmc0/mmc0:0001/block/mmcblk0", "mmc"},
		{"xvda", "devices/vbd-51712/block/xvda", ""},
	}
	for _, tt := range tests {
		if got := transport(tt.name, tt.real, lastMatch(tt.real, hctlRe)); got != tt.want {
			t.Errorf("transport(%q, %q) = %q, want %q", tt.name, tt.real, got, tt.want)
		}
	}
}

func TestParsers(t *testing.T) {
	if got := parseVPD80([]byte("\x00\x80\x00\x0a  WD-12345\x00")); got != "WD-12345" {
		t.Errorf("parseVPD80 = %q, want WD-12345", got)
	}
	if got := parseVPD80([]byte("\x00\x83\x00\x02ab")); got != "" {
		t.Errorf("parseVPD80(page 0x83) = %q, want empty", got)
	}
	if got := parseVPD80([]byte("\x00\x80\x00\xffshort")); got != "short" {
		t.Errorf("parseVPD80(truncated) = %q, want short", got)
	}
	for in, want := range map[string]string{
		"naa.5000C500A1B2C3D4":      "0x5000c500a1b2c3d4",
		"eui.0025385B91B0A1B2":      "eui.0025385b91b0a1b2",
		"t10.ATA     QEMU HARDDISK": "",
		"nvme.1b36-4e564d45":        "",
	} {
		if got := wwn(in); got != want {
			t.Errorf("wwn(%q) = %q, want %q", in, got, want)
		}
	}
	if got := parseMeminfo([]byte("MemFree: 1 kB\nMemTotal:       16316412 kB\n")); got.TotalBytes != 16316412*1024 {
		t.Errorf("parseMeminfo = %d, want %d", got.TotalBytes, 16316412*1024)
	}
	c := parseCPUInfo([]byte("processor\t: 0\nmodel name\t: AMD EPYC\n\nprocessor\t: 1\nmodel name\t: AMD EPYC\n"))
	if c.Count != 2 || c.Model != "AMD EPYC" {
		t.Errorf("parseCPUInfo = %+v, want 2 x AMD EPYC", c)
	}
	names := []string{"sdb", "sda10", "nvme10n1", "sda2", "nvme2n1", "sda"}
	sort.Slice(names, func(i, j int) bool { return naturalLess(names[i], names[j]) })
	if diff := cmp.Diff([]string{"nvme2n1", "nvme10n1", "sda", "sda2", "sda10", "sdb"}, names); diff != "" {
		t.Errorf("naturalLess order (-want +got):\n%s", diff)
	}
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 64 << 20: "64.0 MiB", 256 << 30: "256.0 GiB", 3 << 40: "3.0 TiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// BenchmarkRead is the cost of one inventory of the richest captured tree.
func BenchmarkRead(b *testing.B) {
	root := sysroot.Capture("testdata/qemu-storage-mix")
	for b.Loop() {
		if _, err := Read(root); err != nil {
			b.Fatal(err)
		}
	}
}
