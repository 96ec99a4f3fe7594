package md

// TestHostLoop runs the native flow on the host's own kernel over loop
// devices: Create on image files, losetup, Assemble through /sys, resync,
// data through /dev/mdN, then the real mdadm assembles the same array.
// It needs root, losetup, mdadm and md with raid1 in the host kernel; the
// test tries `modprobe md_mod raid1` and skips with the reason otherwise
// (NEEDLE_MD_HOST=required makes that a failure). TestQEMUKernel covers the
// same flow on the reference kernel wherever QEMU runs.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/sysroot"
)

func needMDHost(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("NEEDLE_MD_HOST") == "required" {
		t.Fatalf("%s is required (NEEDLE_MD_HOST=required) but missing", what)
	}
	t.Skipf("SKIP: host md test: %s (TestQEMUKernel covers this flow in a VM)", what)
}

func losetup(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup --find --show %s: %v: %s", img, err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

func TestHostLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: uses the host kernel's md; not in -short")
	}
	needMDHost(t, "root", os.Geteuid() == 0)
	_, err := exec.LookPath("losetup")
	needMDHost(t, "losetup on PATH", err == nil)
	mdadm := mdadmPath(t)
	if _, err := os.Stat("/sys/module/md_mod"); err != nil {
		out, _ := exec.Command("modprobe", "-a", "md_mod", "raid1").CombinedOutput()
		_, err = os.Stat("/sys/module/md_mod")
		needMDHost(t, "md in the host kernel (modprobe md_mod raid1: "+strings.TrimSpace(string(out))+")", err == nil)
	}
	k := NewKernel(sysroot.Host(), testLogger(t))
	if ps, err := k.Personalities(); err != nil || !strings.Contains(strings.Join(ps, " "), "raid1") {
		_, _ = exec.Command("modprobe", "raid1").CombinedOutput()
	}

	ms, files := makeImages(t, 2, 256<<20)
	a, err := Create(context.Background(), testLogger(t), ms, testOptions(RAID1, "hostloop", 9))
	if err != nil {
		t.Fatal(err)
	}
	var devs []string
	for i, f := range files {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		devs = append(devs, losetup(t, ms[i].Name))
	}
	name, err := k.FreeName()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := k.Assemble(context.Background(), name, RAID1, devs); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = k.Stop(name)
		}
	})
	t.Logf("MEASURE host native raid1 assemble_ms=%d", time.Since(start).Milliseconds())
	rs := time.Now()
	if _, err := k.WaitSync(context.Background(), name, 100*time.Millisecond, nil); err != nil {
		t.Fatal(err)
	}
	d := time.Since(rs)
	t.Logf("MEASURE host native raid1 resync_ms=%d resync_mib_s=%.1f", d.Milliseconds(), float64(a.ArraySize*512)/(1<<20)/d.Seconds())
	data := bytes.Repeat([]byte("needle md host loop "), 1<<14)
	if err := os.WriteFile("/dev/"+name, data, 0); err != nil {
		t.Fatal(err)
	}
	if err := k.Stop(name); err != nil {
		t.Fatal(err)
	}
	stopped = true

	node := "/dev/md/needle-test-hostloop"
	if out, err := exec.Command(mdadm, append([]string{"--assemble", "--run", node}, devs...)...).CombinedOutput(); err != nil {
		t.Fatalf("mdadm --assemble: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(mdadm, "--stop", node).Run() })
	out, err := exec.Command(mdadm, "--detail", node).CombinedOutput()
	if err != nil {
		t.Fatalf("mdadm --detail: %v: %s", err, out)
	}
	det := parseExamine(string(out))
	if det["Raid Level"] != "raid1" || det["UUID"] != a.UUID.String() || det["Active Devices"] != "2" {
		t.Errorf("mdadm --detail: level %q uuid %q active %q, want raid1 %s 2\n%s", det["Raid Level"], det["UUID"], det["Active Devices"], a.UUID, out)
	}
	back := make([]byte, len(data))
	f, err := os.Open(node)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.ReadAt(back, 0)
	f.Close()
	if err != nil || !bytes.Equal(back, data) {
		t.Errorf("data read through mdadm's assembly differs (err %v)", err)
	}
}
