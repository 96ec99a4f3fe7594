package media

import (
	"bytes"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestNetbootGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    Netboot
	}{
		{"tftp-relative", Netboot{PlanURL: "http://10.0.2.2:8080/plans/${mac}.yaml"}},
		{"http-server", Netboot{Server: "http://boot.example.net:8080/needle", PlanURL: "https://prov.example.net/plan?serial=${serial}&uuid=${uuid}&mac=${mac_hyphen}",
			Append: "console=ttyS0,115200 needle.onfail=poweroff"}},
		{"no-plan", Netboot{Server: "tftp://10.0.0.1/needle/", Append: "needle.shell"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files, err := NetbootFiles(tc.n)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			for _, name := range sortedKeys(files) {
				if name == "README.needle-netboot" {
					continue
				}
				got.WriteString("==> " + name + " <==\n")
				got.Write(files[name])
			}
			golden := filepath.Join("testdata", "netboot-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if d := cmp.Diff(string(want), got.String()); d != "" {
				t.Errorf("NetbootFiles(%+v) differs from %s (-want +got):\n%s", tc.n, golden, d)
			}
		})
	}
}

// TestNetbootCommandLines checks the properties the golden files must keep
// whatever their wording: BOOTIF from the boot NIC, ip=dhcp, and needle's
// template variables reaching the kernel in a form needle or the loader
// expands to the same value.
func TestNetbootCommandLines(t *testing.T) {
	files, err := NetbootFiles(Netboot{PlanURL: "http://s/p/${mac}/${mac_hyphen}.yaml", Append: "needle.debug"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ file, want string }{
		{"boot.ipxe", "BOOTIF=01-${netX/mac:hexhyp} ip=dhcp needle.plan=http://s/p/${netX/mac}/${netX/mac:hexhyp}.yaml needle.debug\n"},
		{"boot.ipxe", "\ninitrd initrd\nboot\n"},
		{"pxelinux.cfg/default", "APPEND initrd=initrd ip=dhcp needle.plan=http://s/p/${mac}/${mac_hyphen}.yaml needle.debug\n  IPAPPEND 2\n"},
		{"grub/grub.cfg", "linux (tftp)/vmlinuz BOOTIF=01-${net_default_mac} ip=dhcp 'needle.plan=http://s/p/${mac}/${mac_hyphen}.yaml' needle.debug\n"},
	} {
		if !strings.Contains(string(files[tc.file]), tc.want) {
			t.Errorf("%s = %q\nlacks %q", tc.file, files[tc.file], tc.want)
		}
	}
	if !strings.HasPrefix(string(files["boot.ipxe"]), "#!ipxe\n") {
		t.Errorf("boot.ipxe does not start with #!ipxe: %q", files["boot.ipxe"])
	}
}

func TestNetbootErrors(t *testing.T) {
	for _, tc := range []struct {
		n    Netboot
		want string
	}{
		{Netboot{Server: "ftp://x/"}, `scheme "ftp"`},
		{Netboot{Server: "http:///x"}, "no host"},
		{Netboot{PlanURL: "http://x/a b"}, "spaces and quotes"},
	} {
		if _, err := NetbootFiles(tc.n); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NetbootFiles(%+v) = %v, want an error with %q", tc.n, err, tc.want)
		}
	}
}

func TestWriteNetboot(t *testing.T) {
	s := fakeStick(t)
	dir := t.TempDir()
	got, err := WriteNetboot(dir, Netboot{Kernel: s.Kernel, Initrd: s.Initrd})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"vmlinuz", "initrd", "README.needle-netboot", "boot.ipxe", "grub/grub.cfg", "pxelinux.cfg/default"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("WriteNetboot files (-want +got):\n%s", d)
	}
	for _, c := range [][2]string{{s.Kernel, "vmlinuz"}, {s.Initrd, "initrd"}} {
		a, _ := os.ReadFile(c[0])
		b, err := os.ReadFile(filepath.Join(dir, c[1]))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s: not a copy of %s (%v)", c[1], c[0], err)
		}
	}
}

// fakeStick has small stand-ins for the kernel, initramfs and systemd-boot
// (labelled as such in their bytes: the tests check placement, not boot).
func fakeStick(t *testing.T) Stick {
	t.Helper()
	dir := t.TempDir()
	w := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := Stick{
		Kernel: w("vmlinuz", bytes.Repeat([]byte("FAKE KERNEL "), 300000)), // 3.6 MB: many clusters
		Initrd: w("initrd", bytes.Repeat([]byte("FAKE INITRD "), 100000)),
		Loader: w("systemd-bootx64.efi", []byte("MZ FAKE SYSTEMD-BOOT")),
		Plan:   w("plan.yaml", []byte("version: 1\n")),
		Append: "console=ttyS0",
	}
	w("plan.yaml.sig", []byte("FAKE SIGNATURE"))
	w("hwdb/local.yaml", []byte("rules: []\n"))
	w("hwdb/notes.txt", []byte("not a rule"))
	s.HWDBExtra = filepath.Join(dir, "hwdb")
	return s
}

var wantESP = []string{
	"EFI/BOOT/BOOTX64.EFI", "loader/entries/needle.conf", "loader/loader.conf", "needle/README.txt",
	"needle/hwdb.d/local.yaml", "needle/initrd", "needle/plan.yaml", "needle/plan.yaml.sig", "needle/vmlinuz",
}

// checkFAT reads the FAT volume at off in img with go-diskfs (an
// independent reader) and compares the files with their sources.
func checkFAT(t *testing.T, img string, off, size int64, s Stick, medium string) {
	t.Helper()
	b, err := file.OpenFromPath(img, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	fs, err := fat32.Read(b, size, off, 512)
	if err != nil {
		t.Fatalf("fat32.Read at %d: %v", off, err)
	}
	if l := fs.Label(); strings.TrimSpace(l) != Label {
		t.Errorf("FAT label %q, want %q", l, Label)
	}
	want := map[string][]byte{
		"EFI/BOOT/BOOTX64.EFI":       mustRead(t, s.Loader),
		"needle/vmlinuz":             mustRead(t, s.Kernel),
		"needle/initrd":              mustRead(t, s.Initrd),
		"needle/plan.yaml":           mustRead(t, s.Plan),
		"needle/plan.yaml.sig":       mustRead(t, s.Plan+".sig"),
		"needle/hwdb.d/local.yaml":   []byte("rules: []\n"),
		"loader/loader.conf":         []byte("default needle\ntimeout 0\n"),
		"loader/entries/needle.conf": []byte("title needle\nlinux /needle/vmlinuz\ninitrd /needle/initrd\noptions needle.media=" + medium + " console=ttyS0\n"),
	}
	for name, w := range want {
		f, err := fs.OpenFile("/"+name, os.O_RDONLY)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		got, err := io.ReadAll(f)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if !bytes.Equal(got, w) {
			t.Errorf("%s: %d bytes differ from the %d expected", name, len(got), len(w))
		}
	}
	if _, err := fs.OpenFile("/needle/hwdb.d/notes.txt", os.O_RDONLY); err == nil {
		t.Errorf("needle/hwdb.d/notes.txt copied: only *.yaml rules belong there")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// oracle runs a host checker, skipping when it is absent (dosfstools,
// fdisk) unless NEEDLE_QEMU=required.
func oracle(t *testing.T, name string, args ...string) {
	t.Helper()
	testenv.HostTool(t, name)
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out)
}

// extract copies size bytes at off of img to a file of their own.
func extract(t *testing.T, img string, off, size int64) string {
	t.Helper()
	in, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	p := filepath.Join(t.TempDir(), "part.img")
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.NewSectionReader(in, off, size)); err != nil {
		t.Fatal(err)
	}
	return p
}

func readGPT(t *testing.T, img string) *gpt.Table {
	t.Helper()
	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		t.Fatal(err)
	}
	g, ok := pt.(*gpt.Table)
	if !ok {
		t.Fatalf("partition table is %T, want GPT", pt)
	}
	return g
}

func TestUSB(t *testing.T) {
	s := fakeStick(t)
	out := filepath.Join(t.TempDir(), "needle.img")
	img, err := s.USB(out, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantESP, img.Contents); d != "" {
		t.Errorf("contents (-want +got):\n%s", d)
	}
	g := readGPT(t, out)
	if len(g.Partitions) != 1 {
		t.Fatalf("%d partitions, want 1", len(g.Partitions))
	}
	p := g.Partitions[0]
	if p.Type != gpt.EFISystemPartition || p.Name != Label || int64(p.Start)*512 != img.ESPStart {
		t.Errorf("partition = type %s name %q start %d, want the ESP named %s at %d", p.Type, p.Name, p.Start*512, Label, img.ESPStart)
	}
	checkFAT(t, out, img.ESPStart, img.ESPSize, s, "usb")
	oracle(t, "sfdisk", "--verify", out)
	oracle(t, "fsck.vfat", "-n", extract(t, out, img.ESPStart, img.ESPSize))

	// Same inputs, same bytes: the identifiers come from the content.
	out2 := filepath.Join(t.TempDir(), "again.img")
	if _, err := s.USB(out2, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mustRead(t, out), mustRead(t, out2)) {
		t.Errorf("two USB images from the same inputs differ")
	}
}

func TestUSBSize(t *testing.T) {
	s := fakeStick(t)
	dir := t.TempDir()
	img, err := s.USB(filepath.Join(dir, "big.img"), 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(img.Path); fi.Size() != 256<<20 || img.ESPSize != 254<<20 {
		t.Errorf("--size 256MiB: file %d bytes, ESP %d, want 256 MiB and 254 MiB", fi.Size(), img.ESPSize)
	}
	if _, err := s.USB(filepath.Join(dir, "small.img"), 8<<20); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("--size 8MiB: %v, want a too-small error", err)
	}
	s.Loader = ""
	if _, err := s.USB(filepath.Join(dir, "x.img"), 0); err == nil || !strings.Contains(err.Error(), "systemd-boot") {
		t.Errorf("no loader: %v, want an error naming systemd-boot", err)
	}
}

func TestISO(t *testing.T) {
	s := fakeStick(t)
	out := filepath.Join(t.TempDir(), "needle.iso")
	img, err := s.ISO(out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sec, err := ElToritoImage(f)
	if err != nil {
		t.Fatal(err)
	}
	if int64(sec)*2048 != img.EFIImage {
		t.Errorf("El Torito image at sector %d, Image says byte %d", sec, img.EFIImage)
	}
	// The El Torito image is a FAT volume holding the boot files.
	checkFAT(t, out, img.EFIImage, img.ESPSize, s, "iso")
	oracle(t, "fsck.vfat", "-n", extract(t, out, img.EFIImage, img.ESPSize))

	// Hybrid: the GPT's ESP is that same image.
	g := readGPT(t, out)
	if len(g.Partitions) != 1 {
		t.Fatalf("%d partitions, want 1", len(g.Partitions))
	}
	p := g.Partitions[0]
	if p.Type != gpt.EFISystemPartition || int64(p.Start)*512 != img.EFIImage || int64(p.End-p.Start+1)*512 != img.ESPSize {
		t.Errorf("hybrid partition %d-%d type %s, want the ESP over bytes %d+%d", p.Start, p.End, p.Type, img.EFIImage, img.ESPSize)
	}
	oracle(t, "sfdisk", "--verify", out)

	// The ISO9660 tree has the same files, with Rock Ridge names.
	b, err := file.OpenFromPath(out, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	isofs, err := iso9660.Read(b, img.ISOBytes, 0, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// go-diskfs pads the volume identifier with NULs, not the spaces
	// ECMA-119 asks for; readers (Linux isofs, bootmedia) trim both.
	if l := strings.TrimRight(isofs.Label(), "\x00 "); l != Label {
		t.Errorf("ISO volume id %q, want %q", l, Label)
	}
	for _, name := range []string{"needle/plan.yaml", "needle/vmlinuz", "loader/entries/needle.conf", EFIImagePath} {
		r, err := isofs.OpenFile("/"+name, os.O_RDONLY)
		if err != nil {
			t.Errorf("ISO tree: %s: %v", name, err)
			continue
		}
		got, _ := io.ReadAll(r)
		if name == "needle/plan.yaml" && !bytes.Equal(got, mustRead(t, s.Plan)) {
			t.Errorf("ISO tree: %s = %q", name, got)
		}
	}
}

func FuzzElToritoImage(f *testing.F) {
	f.Add(make([]byte, 40000))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ElToritoImage(bytes.NewReader(b)) // must not panic
	})
}

// TestISOReproducible: the same inputs give the same ISO, whatever the
// clock and the source files' mtimes say (go-diskfs stamps both in; see
// fixISOTimes).
func TestISOReproducible(t *testing.T) {
	s := fakeStick(t)
	dir := t.TempDir()
	first := filepath.Join(dir, "a.iso")
	if _, err := s.ISO(first); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(-36 * time.Hour)
	for _, p := range []string{s.Kernel, s.Initrd, s.Plan, s.Loader} {
		if err := os.Chtimes(p, later, later); err != nil {
			t.Fatal(err)
		}
	}
	second := filepath.Join(dir, "b.iso")
	if _, err := s.ISO(second); err != nil {
		t.Fatal(err)
	}
	a, b := mustRead(t, first), mustRead(t, second)
	if !bytes.Equal(a, b) {
		n := 0
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				n = i
				break
			}
		}
		t.Fatalf("two builds differ (%d and %d bytes; first difference at byte %d, sector %d)", len(a), len(b), n, n/2048)
	}
	// The primary volume descriptor's creation date is needle's fixed one.
	if got := string(a[16*2048+813 : 16*2048+829]); got != "2000010100000000" {
		t.Errorf("PVD creation date %q", got)
	}
}
