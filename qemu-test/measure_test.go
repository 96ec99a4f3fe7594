package qemutest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/needle-boot/needle/initramfs"
)

// buildTrivial builds the trivial static init and packs it alone into a
// zstd initramfs: the floor for boot-time comparisons.
func buildTrivial(tb testing.TB, root string) string {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./qemu-test/testdata/trivialinit")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("building the trivial init: %v: %s", err, out)
	}
	a, err := initramfs.Spec{Init: bin}.Archive()
	if err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "trivial.cpio.zst"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := a.Write(f, "zstd"); err != nil {
		tb.Fatal(err)
	}
	return f.Name()
}

// TestTrivialInitBoots keeps the floor honest: the trivial image must boot
// to its line and power off, or the boot benchmark compares with nothing.
func TestTrivialInitBoots(t *testing.T) {
	t.Parallel()
	a := Require(t)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: buildTrivial(t, a.Root), Append: "quiet"})
	vm.Expect(`TRIVIAL INIT`, bootTimeout)
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkBootToBanner measures QEMU start to the first line of PID 1,
// for needle and for the trivial init, and reports the median (this
// machine is noisy: run with -benchtime 5x and compare the two medians).
//
//	go test ./qemu-test -run '^$' -bench BootToBanner -benchtime 5x
func BenchmarkBootToBanner(b *testing.B) {
	a := Require(b)
	for _, c := range []struct{ name, initrd, banner string }{
		{"trivial", buildTrivial(b, a.Root), `TRIVIAL INIT`},
		{"needle", a.Initrd, `needle \S+ on Linux`},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ds []time.Duration
			for i := 0; i < b.N; i++ {
				vm := Start(b, Config{Kernel: a.Kernel, Initrd: c.initrd, Append: "quiet needle.onfail=poweroff needle.fail=inventory"})
				vm.Expect(c.banner, bootTimeout)
				ds = append(ds, time.Since(vm.Started))
				vm.cmd.Process.Kill()
				vm.Wait(10 * time.Second)
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			b.ReportMetric(ds[len(ds)/2].Seconds(), "median-s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkColdplugAndLease boots needle with one virtio disk and one
// virtio NIC and reports, as medians: the coldplug step's duration (init
// start of coldplug to all modules loaded) and the time from QEMU start to
// the DHCP lease line, next to the trivial init's QEMU-start-to-banner
// floor measured in the same run.
//
//	go test ./qemu-test -run '^$' -bench ColdplugAndLease -benchtime 5x
func BenchmarkColdplugAndLease(b *testing.B) {
	a := Require(b)
	trivial := buildTrivial(b, a.Root)
	var cold, lease, floor []time.Duration
	for i := 0; i < b.N; i++ {
		vm := Start(b, Config{Kernel: a.Kernel, Initrd: trivial, Append: "quiet"})
		vm.Expect(`TRIVIAL INIT`, bootTimeout)
		floor = append(floor, time.Since(vm.Started))
		vm.Wait(30 * time.Second)

		vm = Start(b, Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "quiet needle.break=network needle.plan=http://10.0.2.2:9/p.yaml",
			Disks: []Disk{{File: disk(b, "d.img", gib), Serial: "bench"}}, NICs: []NIC{{MAC: mac0}}})
		m := vm.Expect(`modules/coldplug: ok \(([0-9.]+)s\)`, modTime)
		d, _ := time.ParseDuration(m[1] + "s")
		cold = append(cold, d)
		vm.Expect(`network: address\s+10\.0\.2\.15/24`, modTime)
		lease = append(lease, time.Since(vm.Started))
		vm.cmd.Process.Kill()
		vm.Wait(10 * time.Second)
	}
	med := func(ds []time.Duration) float64 {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2].Seconds()
	}
	b.ReportMetric(med(cold), "coldplug-s")
	b.ReportMetric(med(lease), "boot-to-lease-s")
	b.ReportMetric(med(floor), "trivial-banner-s")
	b.ReportMetric(0, "ns/op")
}
