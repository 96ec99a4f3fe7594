package qemutest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/manifest"
	"github.com/needle-boot/needle/internal/raid/fake"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/testenv"
	"github.com/needle-boot/needle/qemu-test/osimage"
)

// osImage returns the real Debian image the end-to-end tests install (built
// once by debootstrap and cached); without root or debootstrap the test
// skips, or fails under NEEDLE_QEMU=required.
func osImage(t testing.TB) osimage.Image {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	im, err := osimage.Ensure(ctx, osimage.Options{Log: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
	if errors.Is(err, osimage.ErrUnavailable) && !testenv.Required() {
		t.Skipf("END-TO-END NOT RUN: %v", err)
	}
	if err != nil {
		t.Fatalf("OS image: %v", err)
	}
	return im
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// serveImage serves the image's .zst with a strong ETag, so a cut
// download could resume.
func serveImage(t testing.TB, im osimage.Image) string {
	f, err := os.Open(im.Zst)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return ServeHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/debian.img.zst" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"`+im.SHA256[:16]+`"`)
		http.ServeContent(w, r, "debian.img.zst", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), f)
	})) + "/debian.img.zst"
}

func e2ePlan(imageURL, sum, host string) string {
	return osimage.Plan(imageURL, sum, host)
}

// TestEndToEnd is the product as a user runs it: needle boots, coldplugs,
// DHCPs, fetches its plan, partitions (ESP + root), streams a real Debian
// bookworm image built by debootstrap, writes the hostname and a marker
// file, and kexecs into the installed kernel; the installed Debian's unit
// prints its hostname and the marker, and its login prompt appears.
//
// Wiring: one 4 GiB virtio disk (serial needle-root), one virtio NIC on
// slirp; the test's HTTP server serves the plan and the image.
func TestEndToEnd(t *testing.T) {
	a := Require(t)
	im := osImage(t)
	srv := newProvServer(t)
	srv.put("/plan.yaml", []byte(e2ePlan(serveImage(t, im), im.SHA256, "needle-e2e")))
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, MemoryMB: 1536,
		Append: "quiet needle.onfail=poweroff needle.plan=" + srv.URL + "/plan.yaml",
		Disks:  []Disk{{File: disk(t, "os.img", 4*gib), Serial: "needle-root"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	vm.Expect(`image: root: zstd sha256:`+im.SHA256, 15*time.Minute)
	vm.Expect(`files: /etc/needle-marker on root`, 2*time.Minute)
	// The receipt cites the image that installed: the digest of the
	// manifest build wrote beside it (out/needle.manifest.json).
	mf, err := os.ReadFile(filepath.Join(filepath.Dir(a.Initrd), "needle.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	vm.Expect(`files: receipt: image manifest `+manifest.Sum(mf)+`, plan sha256:[0-9a-f]{64} \(unsigned\)`, 2*time.Minute)
	vm.Expect(`handoff: kexec_file_load`, 2*time.Minute)
	handoff := time.Since(vm.Started)
	m := vm.Expect(`NEEDLE-INSTALLED hostname=(\S+) marker=(\S+) md=(\S+) `, 5*time.Minute)
	if m[1] != "needle-e2e" || m[2] != "installed_by_needle" {
		t.Errorf("installed system says hostname=%s marker=%s, want needle-e2e and installed_by_needle", m[1], m[2])
	}
	vm.Expect(`needle-e2e login:`, 3*time.Minute)
	total := time.Since(vm.Started)
	times := report.Timeline(vm.Console())
	var names []string
	for k := range times {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		fmt.Fprintf(&b, " %s=%.1fs", k, times[k])
	}
	t.Logf("TIMELINE power-on to handoff %.1fs, to login %.1fs; stages:%s", handoff.Seconds(), total.Seconds(), b.String())
}

// TestEndToEndMD: the same install onto a Linux md RAID1 that needle
// creates natively (v1.2 superblocks written in Go, assembled through md's
// sysfs) over two whole disks; the installed Debian's initrd assembles the
// array (needle wrote its ARRAY line into /etc/mdadm/mdadm.conf) and boots
// from a partition on it. After the run the host's mdadm examines the
// members.
//
// Wiring: two 4 GiB virtio disks (serials md-a, md-b), one virtio NIC.
func TestEndToEndMD(t *testing.T) {
	a := Require(t)
	im := osImage(t)
	srv := newProvServer(t)
	p := e2ePlan(serveImage(t, im), im.SHA256, "needle-md")
	p = strings.Replace(p, `disks:
  - id: os
    select:
      serial: needle-root
    wipe: true`, `md:
  - name: os
    level: raid1
    devices: [md-a, md-b]
disks:
  - id: md-a
    select: {serial: md-a}
    wipe: true
  - id: md-b
    select: {serial: md-b}
    wipe: true
  - id: os
    select: {md: os}
    wipe: true`, 1)
	srv.put("/plan.yaml", []byte(p))
	da, db := disk(t, "a.img", 4*gib), disk(t, "b.img", 4*gib)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, MemoryMB: 1536,
		Append: "quiet needle.onfail=poweroff needle.plan=" + srv.URL + "/plan.yaml",
		Disks:  []Disk{{File: da, Serial: "md-a"}, {File: db, Serial: "md-b"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	vm.Expect(`raid: md os: /dev/(md\d+) raid1 over \[/dev/vda /dev/vdb\]`, modTime)
	vm.Expect(`image: root: zstd sha256:`+im.SHA256, 15*time.Minute)
	vm.Expect(`files: /etc/mdadm/mdadm\.conf: 1 arrays`, 2*time.Minute)
	vm.Expect(`handoff: kexec_file_load`, 2*time.Minute)
	m := vm.Expect(`NEEDLE-INSTALLED hostname=(\S+) marker=(\S+) md=(\S+) `, 6*time.Minute)
	if m[1] != "needle-md" || !strings.Contains(m[3], ":active:raid1") {
		t.Errorf("installed system says hostname=%s md=%s, want needle-md and an active raid1", m[1], m[3])
	}
	vm.Expect(`needle-md login:`, 3*time.Minute)
	vm.cmd.Process.Kill()
	vm.Wait(10 * time.Second)
	for _, d := range []string{da, db} {
		out := oracle(t, "mdadm", "--examine", d)
		for _, want := range []string{"Version : 1.2", "Raid Level : raid1", "Raid Devices : 2", "Name : needle:os"} {
			if !strings.Contains(out, want) {
				t.Errorf("mdadm --examine %s lacks %q:\n%s", d, want, out)
			}
		}
	}
}

// TestEndToEndSeed is the path needle was born for, end to end: a "Dell
// Inc. PowerEdge C5220" whose LSI controller (QEMU's megasas-gen2) gets the
// patched megaraid_sas overlay, a RAID tool (here the labelled FAKE
// sas2ircu built from internal/raid/fake, since vendor tools are not
// redistributable) creates the RAID1 volume "os", the plan's
// `raid_volume: os` resolves to its block device, and the install goes
// onto it and boots.
//
// Wiring: megasas-gen2 with two 4 GiB scsi-hd disks (QEMU exposes each as
// a logical drive and ignores RAID commands; the fake keeps the RAID
// state), one virtio NIC, SMBIOS type 1 Dell Inc. / PowerEdge C5220.
func TestEndToEndSeed(t *testing.T) {
	a := RequireSeed(t).Artifacts
	im := osImage(t)
	bin := filepath.Join(t.TempDir(), "sas2ircu")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./internal/raid/fake/cmd/fake-sas2ircu")
	cmd.Dir, cmd.Env = a.Root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the fake sas2ircu: %v\n%s", err, out)
	}
	tool, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The fake's controller sits where QEMU puts the megasas-gen2
	// (0000:00:02.0); its disks are as large as a VM disk plus the 563 MiB
	// per member it keeps for metadata, so the RAID1 it creates has the
	// size of the logical drive QEMU shows.
	seed := fake.DefaultState()
	seed.Bus, seed.PCIDevice, seed.NextVolumeID = 0, 2, 0
	for i := range seed.Disks {
		seed.Disks[i].Sectors = (4096 + 563) << 11
	}
	seedJSON, err := json.Marshal(seed)
	if err != nil {
		t.Fatal(err)
	}
	initrd := WithFiles(t, a.Initrd, map[string]File{
		"bin/sas2ircu":                       {Data: tool, Mode: 0o755},
		"etc/needle/fake-sas2ircu-seed.json": {Data: seedJSON},
	})
	srv := newProvServer(t)
	p := e2ePlan(serveImage(t, im), im.SHA256, "needle-c5220")
	p = strings.Replace(p, `disks:
  - id: os
    select:
      serial: needle-root`, `raid:
  - controller: {pci: "0000:00:02.0", tool: sas2ircu}
    volumes:
      - {name: os, level: raid1, members: ["1:0", "1:1"], size: max}
disks:
  - id: os
    select: {raid_volume: os}`, 1)
	srv.put("/plan.yaml", []byte(p))
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: initrd, MemoryMB: 1536,
		// Kernel parameters without a dot become init's environment: the
		// fake reads its seed from there.
		Append:      "quiet needle.onfail=poweroff NEEDLE_FAKE_SEED_FILE=/etc/needle/fake-sas2ircu-seed.json needle.plan=" + srv.URL + "/plan.yaml",
		SMBIOS:      []string{c5220},
		Controllers: []string{"megasas-gen2,id=r0"},
		Disks: []Disk{
			{File: disk(t, "a.img", 4*gib), Device: "scsi-hd,drive=%s,bus=r0.0"},
			{File: disk(t, "b.img", 4*gib), Device: "scsi-hd,drive=%s,bus=r0.0"},
		},
		NICs: []NIC{{MAC: mac0}},
	})
	vm.Expect(`rule \S*/qemu-overlay-proof\.yaml:\d+ → megaraid_sas \(overlay\) → loaded`, modTime)
	vm.Expect(`plan:\s+.*os.*resolved after raid`, 2*time.Minute)
	vm.Expect(`raid: volume os is /dev/sda`, 2*time.Minute)
	vm.Expect(`image: root: zstd sha256:`+im.SHA256, 15*time.Minute)
	vm.Expect(`handoff: kexec_file_load`, 2*time.Minute)
	m := vm.Expect(`NEEDLE-INSTALLED hostname=(\S+) marker=(\S+) md=(\S+) `, 6*time.Minute)
	if m[1] != "needle-c5220" {
		t.Errorf("installed system says hostname=%s, want needle-c5220", m[1])
	}
	vm.Expect(`needle-c5220 login:`, 3*time.Minute)
}
