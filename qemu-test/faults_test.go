package qemutest

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/testenv"
)

// TestPowerLossThenRerun: the power fails in the middle of image/stream;
// the disk is then not bootable into a half-written OS (no partition
// table, the first MiB still zero: the table is written last). The next
// boot, on the same disk with the same plan, installs on its own and the
// OS boots. A third boot with the same plan (a box that PXE-boots first)
// finds this plan's receipt on the disk and hands off to the OS without
// writing it again; a fourth, with reinstall: true, installs again.
func TestPowerLossThenRerun(t *testing.T) {
	a := Require(t)
	im := osImage(t)
	sfdisk := testenv.HostTool(t, "sfdisk")
	srv := newProvServer(t)
	plan := e2ePlan(serveImage(t, im), im.SHA256, "needle-rerun")
	srv.put("/plan.yaml", []byte(plan))
	srv.put("/reinstall.yaml", []byte(strings.Replace(plan, "version: 1\n", "version: 1\nreinstall: true\n", 1)))
	osDisk := disk(t, "os.img", 4*gib)
	boot := func(name, planPath string) *VM {
		return Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, MemoryMB: 1536, Name: t.Name() + "-" + name,
			Append: "quiet needle.onfail=poweroff needle.plan=" + srv.URL + planPath,
			Disks:  []Disk{{File: osDisk, Serial: "needle-root"}},
			NICs:   []NIC{{MAC: mac0}},
		})
	}

	vm := boot("1-power-loss", "/plan.yaml")
	vm.Expect(`image: root: [0-9.]+ [KMG]iB written`, 15*time.Minute)
	vm.Kill()
	if out, err := exec.Command(sfdisk, "--dump", osDisk).CombinedOutput(); err == nil {
		t.Errorf("after the power loss the disk has a partition table:\n%s", out)
	}
	head := make([]byte, 1<<20)
	f, err := os.Open(osDisk)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadAt(head, 0)
	f.Close()
	if err != nil || !bytes.Equal(head, make([]byte, len(head))) {
		t.Errorf("after the power loss the first MiB is not zero (err %v)", err)
	}

	vm = boot("2-install", "/plan.yaml")
	vm.Expect(`plan: (no install to find|root holds no needle receipt)`, 5*time.Minute)
	vm.Expect(`image: root: zstd sha256:`+im.SHA256, 15*time.Minute)
	vm.Expect(`handoff: kexec_file_load`, 3*time.Minute)
	vm.Expect(`NEEDLE-INSTALLED hostname=needle-rerun `, 5*time.Minute)
	vm.Expect(`needle-rerun login:`, 3*time.Minute)
	vm.Kill()

	vm = boot("3-rerun", "/plan.yaml")
	vm.Expect(`plan: root already holds this plan's install \(receipt sha256:[0-9a-f]{64}`, 5*time.Minute)
	vm.Expect(`image/stream: skipped: the disk already holds this plan's install`, time.Minute)
	vm.Expect(`handoff: kexec_file_load`, 3*time.Minute)
	vm.Expect(`NEEDLE-INSTALLED hostname=needle-rerun `, 5*time.Minute)
	if strings.Contains(vm.Console(), "image: root: zstd") || strings.Contains(vm.Console(), "disks/wipe: started") {
		t.Error("the rerun wrote the disk again")
	}
	vm.Kill()

	vm = boot("4-reinstall", "/reinstall.yaml")
	vm.Expect(`plan: the plan says reinstall: true`, 5*time.Minute)
	vm.Expect(`disks/wipe: ok`, 2*time.Minute)
	vm.Kill()
}

// TestSlowDisk: the target disk writes at 4 MB/s (QEMU throttling). The
// image is fetched long before it is on the disk; the progress then shows
// the disk's own rate and an ETA from what is left to write, never
// "100% fetched, ETA 0s" while the disk still works, and no timeout
// misfires.
func TestSlowDisk(t *testing.T) {
	t.Parallel()
	a := Require(t)
	img, sum := rootImage(t)
	var url string
	url = ServeHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/root.img.zst":
			http.ServeContent(w, r, "root.img.zst", time.Time{}, bytes.NewReader(img))
		case "/plan.yaml":
			fmt.Fprint(w, storagePlan(url+"/root.img.zst", sum))
		default:
			http.NotFound(w, r)
		}
	}))
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd,
		Append: "quiet needle.onfail=poweroff needle.plan=" + url + "/plan.yaml",
		Disks:  []Disk{{File: disk(t, "target.img", 2*gib), Serial: "needle-root", DriveOpts: "throttling.bps-write=4194304"}},
		NICs:   []NIC{{}},
	})
	m := vm.Expect(`image: root: \S+ \S+ written, \S+ \S+ on disk of ~\S+ \S+, ([0-9]+) MB/s, 100% fetched, ETA ([0-9]+)s`, 10*time.Minute)
	if rate, _ := strconv.Atoi(m[1]); rate > 8 {
		t.Errorf("progress says %s MB/s on a disk throttled to 4 MB/s", m[1])
	}
	if eta, _ := strconv.Atoi(m[2]); eta <= 0 {
		t.Errorf("ETA %ss with the image fetched and the disk still writing", m[2])
	}
	vm.Expect(`image: root: zstd sha256:`+sum, 5*time.Minute)
	vm.Expect(`disks: /dev/vda: gpt table written`, 2*time.Minute)
}

// TestDiskVanishes: the target disk is pulled out (QEMU device_del) while
// the image is streamed onto it. The install stops in the image stage with
// the device named, without hanging, and the other disk is untouched.
func TestDiskVanishes(t *testing.T) {
	t.Parallel()
	a := Require(t)
	img, sum := rootImage(t)
	var url string
	url = ServeHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/root.img.zst":
			http.ServeContent(w, r, "root.img.zst", time.Time{}, bytes.NewReader(img))
		case "/plan.yaml":
			fmt.Fprint(w, storagePlan(url+"/root.img.zst", sum))
		default:
			http.NotFound(w, r)
		}
	}))
	other := disk(t, "other.img", gib)
	fill(t, other)
	otherSum := diskHash(t, other)
	mon := filepath.Join(t.TempDir(), "mon.sock")
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Monitor: mon,
		Append: "quiet needle.onfail=poweroff needle.plan=" + url + "/plan.yaml",
		Disks: []Disk{
			// Slow, so the image is still streaming when the disk goes.
			{File: disk(t, "target.img", 2*gib), Serial: "needle-root", ID: "target", DriveOpts: "throttling.bps-write=2097152"},
			{File: other, Serial: "other"},
		},
		NICs: []NIC{{}},
	})
	vm.Expect(`image: root: \S+ \S+ written`, 10*time.Minute)
	t.Logf("device_del: %s", vm.Monitor(mon, "device_del target"))
	// QEMU completes the unplug once the throttled queue drains: the
	// write-back or the table's sync then fails on the vanished disk.
	vm.Expect(`INSTALL FAILED\s+needle:\s+stage: image\s+needle:\s+step:\s+(stream|table)\s+needle:\s+cause: /dev/vda\b`, 3*time.Minute)
	if err := vm.Wait(2 * time.Minute); err != nil {
		t.Fatalf("no power-off after the failure: %v", err)
	}
	if diskHash(t, other) != otherSum {
		t.Error("the other disk changed")
	}
}

// TestDHCPSilentNIC: the first NIC's DHCP never answers (a port with
// carrier and nobody on it) while the second gets a lease: the install
// goes on through the second. With only the silent NIC, the network stage
// gives up after its bounded wait and says why, naming the NIC.
func TestDHCPSilentNIC(t *testing.T) {
	t.Parallel()
	a := Require(t)
	srv := newProvServer(t)
	srv.put("/p.yaml", []byte(basePlan))
	silent := NIC{MAC: "52:54:00:12:34:70", Netdev: "hubport,hubid=9"}
	t.Run("one answers", func(t *testing.T) {
		t.Parallel()
		vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd,
			Append: "quiet needle.break=plan needle.plan=" + srv.URL + "/p.yaml",
			Disks:  []Disk{{File: disk(t, "root.img", gib), Serial: "needle-root"}},
			NICs:   []NIC{silent, {MAC: mac0}},
		})
		vm.Expect(`network: interface\s+eth1 \(`+mac0+`\)`, 3*time.Minute)
		vm.Expect(`plan/fetch: ok`, time.Minute)
		vm.Expect(`needle# `, 2*time.Minute)
	})
	t.Run("none answers", func(t *testing.T) {
		t.Parallel()
		vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd,
			Append: "quiet needle.onfail=poweroff needle.plan=" + srv.URL + "/p.yaml",
			NICs:   []NIC{silent},
		})
		vm.Expect(`INSTALL FAILED\s+needle:\s+stage: network\s+needle:\s+step:\s+up\s+needle:\s+cause: no DHCP lease within \S+ on any NIC tried: eth0`, 4*time.Minute)
		if err := vm.Wait(2 * time.Minute); err != nil {
			t.Fatalf("no power-off after the diagnosis: %v", err)
		}
	})
}
