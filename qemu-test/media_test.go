package qemutest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/media"
	"github.com/needle-boot/needle/internal/testenv"
)

// The boot media scenarios: the artifacts `needle netboot`, `needle usb`
// and `needle iso` write, booted by firmware the way a server boots them
// (no -kernel): SeaBIOS + the NIC's iPXE ROM over slirp's TFTP, and OVMF
// from a USB stick on xHCI or a CD-ROM on AHCI.

const (
	mediaBoot = 240 * time.Second // firmware + loader + a 33 MB initramfs under TCG
	bootMAC   = "52:54:00:12:34:56"
	// Kernel arguments every media test adds: the serial console the
	// harness reads, and the IO-APIC timer check TCG trips over (see
	// internal/qemu).
	mediaArgs = "console=ttyS0 panic=-1 no_timer_check"
)

// stopf is Require's policy for a missing host resource: skip with the
// reason, or fail when NEEDLE_QEMU=required.
func stopf(t testing.TB, format string, args ...any) {
	t.Helper()
	testenv.Unavailable(t, format, args...)
}

// systemdBoot returns Debian's systemd-boot EFI binary as ./build.sh
// extracted it from the package build.lock pins (.cache/systemd-boot).
func systemdBoot(t testing.TB, root string) string {
	t.Helper()
	efi := filepath.Join(root, ".cache/systemd-boot/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
	if _, err := os.Stat(efi); err != nil {
		stopf(t, "QEMU MEDIA SUITE NOT RUN: %v (./build.sh extracts the pinned systemd-boot-efi)", err)
	}
	return efi
}

// ovmf returns the -drive arguments for OVMF's code (read-only) and a
// private copy of its variable store.
func ovmf(t testing.TB) []string {
	t.Helper()
	const code, vars = "/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"
	for _, f := range []string{code, vars} {
		if _, err := os.Stat(f); err != nil {
			stopf(t, "QEMU MEDIA SUITE NOT RUN: %s missing (apt-get install ovmf)", f)
		}
	}
	b, err := os.ReadFile(vars)
	if err != nil {
		t.Fatal(err)
	}
	mine := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
	if err := os.WriteFile(mine, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"-drive", "if=pflash,format=raw,readonly=on,file=" + code, "-drive", "if=pflash,format=raw,file=" + mine}
}

func sha256File(t testing.TB, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// stickPlan installs onto the 16 GiB virtio disk (serial needle-root) and
// nothing else: the stick must never be a candidate.
const stickPlan = `version: 1
name: from-the-stick
disks:
  - id: target
    select:
      serial: needle-root
      size: {min: 12GiB, max: 20GiB}
    wipe: true
    table: gpt
    partitions:
      - name: root
        type: linux-root-x86-64
        size: rest
        image:
          url: http://10.0.2.2:8080/images/root.img.zst
          sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
boot:
  reboot: {}
`

// TestNetboot: `needle netboot`'s directory served by slirp's TFTP; no
// -kernel: SeaBIOS boots the virtio NIC's iPXE ROM (QEMU's efi-virtio.rom,
// from ipxe-qemu), which DHCPs, loads boot.ipxe (bootfile=), then the
// kernel and initramfs relative to it, and boots them with BOOTIF naming
// that NIC. needle must then use that NIC first and fetch its plan with
// ${mac} from it.
//
// Wiring: two virtio-net NICs on separate slirp networks: eth0
// (52:54:00:00:00:01) without TFTP, eth1 (52:54:00:12:34:56) with
// tftp=DIR,bootfile=boot.ipxe and bootindex=1, so the firmware boots from
// the second NIC. The plan server is the test's HTTP server at 10.0.2.2.
func TestNetboot(t *testing.T) {
	t.Parallel()
	a := Require(t)
	var mu sync.Mutex
	var fetched []string
	srv := ServeHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched = append(fetched, r.URL.Path)
		mu.Unlock()
		http.NotFound(w, r)
	}))
	dir := t.TempDir()
	if _, err := media.WriteNetboot(dir, media.Netboot{Kernel: a.Kernel, Initrd: a.Initrd,
		PlanURL: srv + "/plans/${mac}.yaml", Append: mediaArgs + " needle.onfail=poweroff"}); err != nil {
		t.Fatal(err)
	}
	vm := Start(t, Config{NICs: netbootNICs(dir)})
	// iPXE expands the plan URL's ${mac} itself, from the NIC it booted
	// from (media.ipxeVars), to the value needle would give it.
	vm.Expect(`Kernel command line: .*BOOTIF=01-52-54-00-12-34-56 ip=dhcp needle\.plan=`+regexp.QuoteMeta(srv)+`/plans/52:54:00:12:34:56\.yaml`, mediaBoot)
	vm.Expect(`needle \S+ on Linux`, 60*time.Second)
	vm.Expect(`network: interface\s+eth1 \(52:54:00:12:34:56\)`, modTime)
	// needle expands ${mac} from BOOTIF (the NIC iPXE booted from).
	vm.Expect(`plan: fetching `+regexp.QuoteMeta(srv)+`/plans/52:54:00:12:34:56\.yaml`, modTime)
	vm.Expect(`INSTALL FAILED`, modTime)
	mu.Lock()
	defer mu.Unlock()
	if want := "/plans/52:54:00:12:34:56.yaml"; !contains(fetched, want) {
		t.Errorf("plan server saw %q, want a GET of %s", fetched, want)
	}
}

// netbootNICs: eth0 has no boot server; eth1 boots (bootindex=1).
func netbootNICs(tftpDir string) []NIC {
	return []NIC{
		{MAC: "52:54:00:00:00:01"},
		{Model: "virtio-net-pci,bootindex=1", MAC: bootMAC, User: "tftp=" + tftpDir + ",bootfile=boot.ipxe"},
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// TestUSBStick: `needle usb`'s image as a USB mass-storage device on xHCI,
// booted by OVMF through systemd-boot; a 16 GiB virtio disk is the only
// disk the stick's plan may erase.
//
// Wiring: OVMF (pflash code + a private vars copy), qemu-xhci with
// usb-storage (the stick), virtio-blk (serial needle-root, 16 GiB).
func TestUSBStick(t *testing.T) {
	t.Parallel()
	a := Require(t)
	args := ovmf(t)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(stickPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	s := media.Stick{Kernel: a.Kernel, Initrd: a.Initrd, Loader: systemdBoot(t, a.Root), Plan: plan,
		Append: mediaArgs + " needle.break=plan"}
	img, err := s.USB(filepath.Join(dir, "needle.img"), 0)
	if err != nil {
		t.Fatal(err)
	}
	before := sha256File(t, img.Path)
	target := disk(t, "target.img", 16*gib)
	vm := Start(t, Config{
		Disks: []Disk{{File: target, Serial: "needle-root"}},
		Args: append(args, "-device", "qemu-xhci,id=xhci",
			"-drive", "if=none,id=stick,format=raw,file="+img.Path,
			"-device", "usb-storage,bus=xhci.0,drive=stick"),
	})
	vm.Expect(`Kernel command line: .*needle\.media=usb`, mediaBoot)
	vm.Expect(`needle \S+ on Linux`, 60*time.Second)
	vm.Expect(`→ xhci_pci → loaded`, modTime)
	vm.Expect(`usb-storage \S+: USB Mass Storage device detected`, modTime)
	vm.Expect(`→ usb_storage → (already )?loaded`, modTime)
	// The stick's SCSI disk appears about a second after usb-storage binds
	// (its delay_use): coldplug must still load sd_mod for it.
	if _, err := vm.TryExpect(`alias scsi:t_0x00\* → sd_mod → (already )?loaded|modules/settle: ok`, modTime); err != nil ||
		!regexp.MustCompile(`alias scsi:t_0x00\* → sd_mod → (already )?loaded`).MatchString(vm.Console()) {
		t.Errorf("coldplug did not load sd_mod for the USB stick's SCSI disk (it appears after usb-storage's delay_use); " +
			"loading it by hand to check the rest")
		vm.Expect(`needle# `, modTime)
		vm.Send("modprobe sd_mod")
	}
	// The plan is the stick's, and the only disk it may erase is vda.
	vm.Expect(`plan from-the-stick \(\S*needle/plan\.yaml\): valid for this machine`, modTime)
	vm.Expect(`disk target: \S*vda\b`, 10*time.Second)
	vm.Expect(`plan/validate: ok`, 10*time.Second)
	if regexp.MustCompile(`would erase: .*sda`).MatchString(vm.Console()) {
		t.Errorf("the plan would erase the stick")
	}
	vm.Expect(`needle# `, modTime)
	vm.Send(`head -n1 /run/needle/media/sda1/needle/plan.yaml`)
	vm.Expect(`\nversion: 1\s`, 20*time.Second)
	vm.Send("poweroff")
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Errorf("poweroff: %v", err)
	}
	if after := sha256File(t, img.Path); after != before {
		t.Errorf("the stick changed during the run: sha256 %s, was %s", after, before)
	}
}

// TestISO: `needle iso`'s image as a CD-ROM on AHCI, booted by OVMF from
// its El Torito UEFI image; needle finds the ISO9660 volume on sr0.
//
// Wiring: OVMF, ahci + ide-cd (read-only), no other disk.
func TestISO(t *testing.T) {
	t.Parallel()
	a := Require(t)
	args := ovmf(t)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(stickPlan), 0o644); err != nil {
		t.Fatal(err)
	}
	s := media.Stick{Kernel: a.Kernel, Initrd: a.Initrd, Loader: systemdBoot(t, a.Root), Plan: plan,
		Append: mediaArgs + " needle.break=plan"}
	img, err := s.ISO(filepath.Join(dir, "needle.iso"))
	if err != nil {
		t.Fatal(err)
	}
	vm := Start(t, Config{Args: append(args, isoArgs(img.Path)...)})
	vm.Expect(`Kernel command line: .*needle\.media=iso`, mediaBoot)
	vm.Expect(`needle \S+ on Linux`, 60*time.Second)
	vm.Expect(`→ sr_mod → loaded`, modTime)
	vm.Expect(`modules: boot medium: /dev/sr0 \(iso9660 "NEEDLE"\) mounted on /run/needle/media/sr0`, modTime)
	vm.Expect(`plan/fetch: ok`, 30*time.Second)
	vm.Expect(`needle# `, modTime)
	vm.Send("poweroff")
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Errorf("poweroff: %v", err)
	}
}

// TestISOAsStick: the hybrid ISO written to a stick (here: the same file
// as a USB mass-storage device) boots under OVMF from its GPT ESP, which is
// the El Torito image; the image's bytes stay unchanged.
//
// Wiring: OVMF, qemu-xhci + usb-storage (the ISO file).
func TestISOAsStick(t *testing.T) {
	t.Parallel()
	a := Require(t)
	args := ovmf(t)
	s := media.Stick{Kernel: a.Kernel, Initrd: a.Initrd, Loader: systemdBoot(t, a.Root),
		Append: mediaArgs + " needle.onfail=poweroff needle.fail=inventory"}
	img, err := s.ISO(filepath.Join(t.TempDir(), "needle.iso"))
	if err != nil {
		t.Fatal(err)
	}
	before := sha256File(t, img.Path)
	vm := Start(t, Config{Args: append(args, "-device", "qemu-xhci,id=xhci",
		"-drive", "if=none,id=stick,format=raw,file="+img.Path, "-device", "usb-storage,bus=xhci.0,drive=stick")})
	vm.Expect(`Kernel command line: .*needle\.media=iso`, mediaBoot)
	vm.Expect(`needle \S+ on Linux`, 60*time.Second)
	vm.Expect(`needle\.onfail=poweroff: poweroff`, modTime)
	if err := vm.Wait(60 * time.Second); err != nil {
		t.Errorf("poweroff: %v", err)
	}
	if after := sha256File(t, img.Path); after != before {
		t.Errorf("the ISO changed during the run: sha256 %s, was %s", after, before)
	}
}

func isoArgs(iso string) []string {
	return []string{"-device", "ahci,id=ahci",
		"-drive", "if=none,id=cd,format=raw,media=cdrom,readonly=on,file=" + iso,
		"-device", "ide-cd,drive=cd,bus=ahci.0"}
}

// BenchmarkMediaBootToBanner measures QEMU start to needle's banner for
// each boot path against a direct -kernel/-initrd boot, and reports the
// median of b.N runs:
//
//	go test ./qemu-test -run '^$' -bench MediaBootToBanner -benchtime 3x -timeout 60m
func BenchmarkMediaBootToBanner(b *testing.B) {
	a := Require(b)
	dir := b.TempDir()
	end := " needle.onfail=poweroff needle.fail=inventory"
	if _, err := media.WriteNetboot(dir, media.Netboot{Kernel: a.Kernel, Initrd: a.Initrd, Append: mediaArgs + end}); err != nil {
		b.Fatal(err)
	}
	s := media.Stick{Kernel: a.Kernel, Initrd: a.Initrd, Loader: systemdBoot(b, a.Root), Append: mediaArgs + end}
	usb, err := s.USB(filepath.Join(b.TempDir(), "needle.img"), 0)
	if err != nil {
		b.Fatal(err)
	}
	iso, err := s.ISO(filepath.Join(b.TempDir(), "needle.iso"))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("sizes: netboot kernel+initrd %d bytes, usb image %d bytes, iso %d bytes", fileSize(b, a.Kernel)+fileSize(b, a.Initrd), usb.Size, iso.Size)
	for _, c := range []struct {
		name string
		cfg  func() Config
	}{
		{"direct", func() Config {
			return Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "needle.onfail=poweroff needle.fail=inventory"}
		}},
		{"netboot", func() Config {
			return Config{NICs: netbootNICs(dir)}
		}},
		{"usb-ovmf", func() Config {
			return Config{Args: append(ovmf(b), "-device", "qemu-xhci,id=xhci",
				"-drive", "if=none,id=stick,format=raw,readonly=on,file="+usb.Path, "-device", "usb-storage,bus=xhci.0,drive=stick")}
		}},
		{"iso-ovmf", func() Config { return Config{Args: append(ovmf(b), isoArgs(iso.Path)...)} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ds []time.Duration
			for i := 0; i < b.N; i++ {
				vm := Start(b, c.cfg())
				vm.Expect(`needle \S+ on Linux`, mediaBoot)
				ds = append(ds, time.Since(vm.Started))
				vm.cmd.Process.Kill()
				vm.Wait(10 * time.Second)
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			b.Logf("%s: %v", c.name, ds)
			b.ReportMetric(ds[len(ds)/2].Seconds(), "median-s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func fileSize(t testing.TB, p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
