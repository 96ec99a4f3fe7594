package qemutest

import (
	"bytes"
	"os"
	"os/exec"
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
