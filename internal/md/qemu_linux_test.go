package md

// TestQEMUKernel boots the reference kernel with this test binary as /init
// (guest half in guest_linux_test.go) and then checks the disks the guest
// wrote with the host's real mdadm.
//
// Wiring (virtio-blk, serials name the role; the guest maps them through
// /sys/block/vdX/serial):
//
//	n0 n1        2 x 256 MiB  native RAID1, assembled by needle, resynced
//	m0 m1        2 x 256 MiB  RAID1 made by the real mdadm --create in the guest
//	r0 r1 r2 r3  4 x  64 MiB  native RAID10 near=2
//	c0 c1        2 x  32 MiB  native RAID1 created with AssumeClean (no resync)
//
// The initramfs holds /init (this binary, static), md-mod/raid1/raid10.ko
// from the reference kernel, and /sbin/mdadm with its ELF closure (used only
// as the comparison and as the oracle that assembles needle's arrays).

import (
	"context"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/shell"
	"github.com/needle-boot/needle/internal/testenv"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/internal/qemu"
)

// kernelDir is the kernel ./build.sh built the image with.
func kernelDir(t *testing.T) (dir, kver string) {
	t.Helper()
	return testenv.Kernel(t)
}

func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

func guestInitramfs(t *testing.T, kdir, kver, mdadm string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := isStatic(self); err != nil || !ok {
		t.Fatalf("test binary %s must be static to run as /init (err %v): run with CGO_ENABLED=0", self, err)
	}
	a := initramfs.NewArchive()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"/dev", "/proc", "/sys", "/run", "/tmp", "/etc", "/sbin", "/lib", "/lib/modules"} {
		must(a.Dir(d, 0o755))
	}
	must(a.CharDev("/dev/console", 0o600, 5, 1))
	must(a.Copy("/init", self))
	for _, m := range guestModules {
		must(a.Copy("/lib/modules/"+filepath.Base(m), filepath.Join(kdir, "lib/modules", kver, "kernel", m)))
	}
	must(a.AddELF("/sbin/mdadm", mdadm, "/"))
	p := filepath.Join(t.TempDir(), "initrd.cpio")
	f, err := os.Create(p)
	must(err)
	_, err = a.WriteTo(f)
	must(err)
	must(f.Close())
	return p
}

var mdtestLine = regexp.MustCompile(`(?m)^MDTEST (\S+) ?(.*?)\r?$`)

// guestResults collects "MDTEST label rest" lines: label → rest joined.
func guestResults(console string) map[string][]string {
	r := map[string][]string{}
	for _, m := range mdtestLine.FindAllStringSubmatch(console, -1) {
		r[m[1]] = append(r[m[1]], m[2])
	}
	return r
}

// field extracts key=value from a result line.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestQEMUKernel(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: boots a VM; not in -short")
	}
	_, err := exec.LookPath("qemu-system-x86_64")
	needHost(t, "qemu-system-x86_64", err == nil)
	mdadm := mdadmPath(t)
	kdir, kver := kernelDir(t)
	kernels, _ := filepath.Glob(filepath.Join(kdir, "boot/vmlinuz-*"))
	needHost(t, "boot/vmlinuz-* in "+kdir, len(kernels) == 1)
	initrd := guestInitramfs(t, kdir, kver, mdadm)

	dir := t.TempDir()
	img := map[string]string{}
	var disks []qemu.Disk
	for _, d := range []struct {
		serial string
		size   int64
	}{{"n0", 256 << 20}, {"n1", 256 << 20}, {"m0", 256 << 20}, {"m1", 256 << 20},
		{"r0", 64 << 20}, {"r1", 64 << 20}, {"r2", 64 << 20}, {"r3", 64 << 20},
		{"c0", 32 << 20}, {"c1", 32 << 20}} {
		p := filepath.Join(dir, d.serial+".img")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(d.size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		img[d.serial] = p
		disks = append(disks, qemu.Disk{File: p, Serial: d.serial})
	}
	cfg := qemu.Config{Kernel: kernels[0], Initrd: initrd, MemoryMB: 768, Disks: disks,
		Append: guestEnv + "=1 rdinit=/init loglevel=4"}
	argv := cfg.Argv(qemu.Accel(kernels[0]))
	t.Logf("qemu-system-x86_64 %s", shell.Join(argv))
	timeout := 10 * time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", argv...)
	out, err := cmd.CombinedOutput()
	console := string(out)
	if ctx.Err() != nil {
		t.Fatalf("VM timed out after %v; console:\n%s", timeout, console)
	}
	if err != nil {
		t.Fatalf("qemu: %v; console:\n%s", err, console)
	}
	res := guestResults(console)
	if len(res["FAIL"]) > 0 || len(res["DONE"]) != 1 {
		t.Fatalf("guest failed: %v; console:\n%s", res["FAIL"], console)
	}
	for _, l := range []string{"native1", "mdadm1", "native10", "clean1"} {
		for _, r := range res[l] {
			t.Logf("MEASURE %s %s", l, r)
		}
	}

	// The host's mdadm sees clean v1.2 arrays on needle's disks, with the
	// UUID, name, level and roles the guest reported.
	for _, a := range []struct {
		label  string
		serial []string
		level  Level
	}{{"native1", []string{"n0", "n1"}, RAID1}, {"native10", []string{"r0", "r1", "r2", "r3"}, RAID10}, {"clean1", []string{"c0", "c1"}, RAID1}} {
		var uuid string // of the last round: what is on the disks now
		for _, l := range res[a.label] {
			if u := field(l, "uuid"); u != "" && !strings.Contains(l, "mdadm_detail") {
				uuid = u
			}
		}
		for role, s := range a.serial {
			got := examine(t, mdadm, img[s])
			want := map[string]string{
				"Version": "1.2", "Array UUID": uuid, "Name": "needle:" + a.label,
				"Raid Level": a.level.String(), "Raid Devices": fmt.Sprint(len(a.serial)),
				"State": "clean", "Device Role": fmt.Sprintf("Active device %d", role),
				"Array State": strings.Repeat("A", len(a.serial)) + " ('A' == active, '.' == missing, 'R' == replacing)",
			}
			sub := map[string]string{}
			for k := range want {
				sub[k] = got[k]
			}
			if d := cmp.Diff(want, sub); d != "" {
				t.Errorf("%s %s: mdadm --examine after the VM run (-want +got):\n%s", a.label, s, d)
			}
			if !strings.HasSuffix(got["Checksum"], " - correct") {
				t.Errorf("%s %s: Checksum %q", a.label, s, got["Checksum"])
			}
		}
	}

	// The reverse: superblocks the real mdadm wrote, read by Parse, agree
	// with mdadm --examine, and Plan reproduces mdadm's geometry.
	for role, s := range []string{"m0", "m1"} {
		f, err := os.Open(img[s])
		if err != nil {
			t.Fatal(err)
		}
		sb, err := Read(f, img[s])
		f.Close()
		if err != nil {
			t.Fatalf("parse mdadm's superblock on %s: %v", s, err)
		}
		exam := examine(t, mdadm, img[s])
		checkAgainstExamine(t, s, sb, exam)
		if sb.Role() != uint16(role) {
			t.Errorf("%s: role %d, want %d", s, sb.Role(), role)
		}
		plan, err := Plan([]int64{256 << 20, 256 << 20}, Options{Level: RAID1, Name: "mdadm1", HomeHost: "needle", AssumeClean: true})
		if err != nil {
			t.Fatal(err)
		}
		p := plan.Superblocks[role]
		type geom struct {
			FeatureMap, ChunkSize, Layout, RaidDisks, MaxDev, BBLogOffset uint32
			Size, DataOffset, DataSize, SuperOffset                       uint64
			BBLogSize                                                     uint16
			SetName                                                       string
			Level                                                         int32
		}
		want := geom{p.FeatureMap, p.ChunkSize, p.Layout, p.RaidDisks, p.MaxDev, p.BBLogOffset, p.Size, p.DataOffset, p.DataSize, p.SuperOffset, p.BBLogSize, p.SetName, p.Level}
		got := geom{sb.FeatureMap, sb.ChunkSize, sb.Layout, sb.RaidDisks, sb.MaxDev, sb.BBLogOffset, sb.Size, sb.DataOffset, sb.DataSize, sb.SuperOffset, sb.BBLogSize, sb.SetName, sb.Level}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: Plan's geometry vs real mdadm --create's (-want Plan +got mdadm):\n%s", s, d)
		}
		if *update && role == 0 {
			saveCapture(t, img[s], exam)
			var mdstat strings.Builder
			for _, m := range regexp.MustCompile(`(?m)^MDSTAT\|(.*?)\r?$`).FindAllStringSubmatch(console, -1) {
				mdstat.WriteString(m[1] + "\n")
			}
			if err := os.WriteFile("testdata/mdstat-resync.txt", []byte(mdstat.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			src := "Captured by TestQEMUKernel -update: /proc/mdstat of the reference kernel (" + kver + ") in the VM\n" +
				"during the initial resync of needle's native RAID1 (md0, 2 x 256 MiB virtio disks).\n"
			if err := os.WriteFile("testdata/mdstat-resync.source", []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// saveCapture keeps the 4 KiB superblock area mdadm wrote and its
// --examine output as a fixture for TestMdadmCapture.
func saveCapture(t *testing.T, img string, exam map[string]string) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, sbAreaSize)
	if _, err := f.ReadAt(b, 4096); err != nil {
		t.Fatal(err)
	}
	ver, _ := exec.Command("mdadm", "--version").CombinedOutput()
	out, err := exec.Command("mdadm", "--examine", img).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	// Drop the first line (the temporary image path).
	_, body, _ := strings.Cut(string(out), "\n")
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"testdata/mdadm-raid1.sb":      b,
		"testdata/mdadm-raid1.examine": []byte(body),
		"testdata/mdadm-raid1.source": []byte(fmt.Sprintf("Captured by TestQEMUKernel -update: the 4 KiB at byte 4096 of member 0 of\n"+
			"`mdadm --create /dev/md1 --run --metadata=1.2 --level=1 --raid-devices=2 --homehost=needle --name=mdadm1`\n"+
			"over two 256 MiB virtio disks in the reference kernel's VM, after the initial resync and stop;\n"+
			"%s", strings.TrimSpace(string(ver))+"\n")),
	} {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
