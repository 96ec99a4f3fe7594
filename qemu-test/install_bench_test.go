package qemutest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/modules"
	"github.com/needle-boot/needle/qemu-test/osimage"
)

// The end-to-end measurement (issue 7): QEMU start to the installed
// Debian's login prompt, for needle's install and for the floor, the same
// install done by a shell script from a bare initramfs
// (testdata/floorinit/init.sh: insmod, udhcpc, sfdisk, mkfs.vfat,
// `curl | zstd -dc | dd`, kexec). Both install the same Debian image onto
// one 4 GiB virtio disk and kexec into it; every time is taken on the host
// when the console line appears.

// floorModules are what the floor loads, besides their dependencies: the
// disk, the NIC, and the installed root's filesystem.
var floorModules = []string{"virtio_pci", "virtio_blk", "virtio_net", "crc32c_generic", "ext4"}

// buildFloor packs the floor initramfs: busybox, the init script, the
// modules in load order, and the host's curl, zstd, sfdisk and mkfs.vfat
// with their libraries.
func buildFloor(tb testing.TB, a Artifacts) string {
	tb.Helper()
	kver, err := os.ReadFile(filepath.Join(a.Root, "out/kernel-release"))
	if err != nil {
		tb.Fatalf("out/kernel-release: %v (run ./build.sh)", err)
	}
	rel := strings.TrimSpace(string(kver))
	modDir := filepath.Join(a.Root, ".cache/kernel", rel, "lib/modules", rel)
	busybox := filepath.Join(a.Root, ".cache/busybox/bin/busybox")
	ix, err := modules.Build(modDir, modules.BuildOptions{})
	if err != nil {
		tb.Fatalf("module index of %s: %v", modDir, err)
	}
	order, err := loadOrder(ix, floorModules)
	if err != nil {
		tb.Fatal(err)
	}
	applets, err := initramfs.BusyboxApplets(busybox)
	if err != nil {
		tb.Fatal(err)
	}
	spec := initramfs.Spec{
		Init:          filepath.Join(a.Root, "qemu-test/testdata/floorinit/init.sh"),
		Busybox:       busybox,
		Applets:       applets,
		KernelRelease: rel,
		ModulesDir:    modDir,
		Modules:       order,
		Files: []initramfs.File{
			{Dest: "etc/floor-modules", Data: []byte(strings.Join(order, "\n") + "\n")},
			{Src: filepath.Join(a.Root, "qemu-test/testdata/floorinit/dhcp.sh"), Dest: "etc/floor-dhcp", Mode: 0o755},
			{Src: filepath.Join(a.Root, "out/bin/kexec"), Dest: "sbin/kexec", Mode: 0o755},
		},
	}
	for _, tool := range []string{"curl", "zstd", "sfdisk", "mkfs.vfat"} {
		src, err := lookTool(tool)
		if err != nil {
			tb.Fatalf("the floor needs the host's %s: %v (.ci/run installs it)", tool, err)
		}
		spec.Tools = append(spec.Tools, initramfs.Tool{Src: src, Dest: "usr/bin/" + tool})
	}
	ar, err := spec.Archive()
	if err != nil {
		tb.Fatalf("floor initramfs: %v", err)
	}
	f, err := os.Create(filepath.Join(tb.TempDir(), "floor.cpio.zst"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := ar.Write(f, "zstd"); err != nil {
		tb.Fatal(err)
	}
	return f.Name()
}

// lookTool finds a host program in the usual directories: sfdisk and
// mkfs.vfat live in /usr/sbin, which a test's PATH may lack.
func lookTool(name string) (string, error) {
	var last error
	for _, d := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
		p := filepath.Join(d, name)
		st, err := os.Stat(p)
		if err == nil && st.Mode().IsRegular() {
			return p, nil
		}
		last = err
	}
	return "", last
}

// loadOrder lists the module files for names in insmod order, as the
// modules package resolves them (dependencies first, softdeps included),
// each once; builtins need no file.
func loadOrder(ix *modules.Index, names []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		p, err := ix.Resolve(n, modules.Policy{})
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		for _, st := range p.Steps {
			if m := st.Module; !m.Builtin && !seen[m.Name] {
				seen[m.Name] = true
				out = append(out, m.Path)
			}
		}
	}
	return out, nil
}

// installRun is one power-on-to-login run: the host-side time at which
// each step started, in order, and the total.
type installRun struct {
	steps []step
	total time.Duration
}

type step struct {
	name string
	at   time.Duration // since QEMU started
}

// durations turns the start times into each step's length; the last step
// ends at the login prompt.
func (r installRun) durations() map[string]time.Duration {
	out := map[string]time.Duration{}
	prev := time.Duration(0)
	name := "boot"
	for _, s := range r.steps {
		out[name] += s.at - prev
		prev, name = s.at, s.name
	}
	out[name] += r.total - prev
	return out
}

// needleStages are needle's stages in run order, each with the console line
// that starts it; "installed OS boot" starts when needle jumps.
var needleStages = []struct{ name, line string }{
	{"inventory", `inventory/scan: started`},
	{"coldplug", `modules/coldplug: started`},
	{"network", `network/up: started`},
	{"plan", `plan/fetch: started`},
	{"raid", `raid/apply: started`},
	{"disks", `disks/release: started`},
	{"image", `image/stream: started`},
	{"files", `files/write: started`},
	{"handoff", `handoff/boot: started`},
	{"installed OS boot", `handoff: installed; kexec into`},
}

// floorSteps are the floor script's lines, mapped onto the same stage names.
var floorSteps = []struct{ name, line string }{
	{"coldplug", `FLOOR start`},
	{"network", `FLOOR modules`},
	{"disks", `FLOOR network`},
	{"image", `FLOOR disks`},
	{"files", `FLOOR image`},
	{"handoff", `FLOOR files`},
	{"installed OS boot", `FLOOR kexec`},
}

// runNeedleInstall boots needle on one 4 GiB disk with the end-to-end plan
// and times every stage up to the installed system's login prompt.
func runNeedleInstall(tb testing.TB, a Artifacts, imageURL string, im osimage.Image, name string) installRun {
	srv := newProvServer(tb)
	srv.put("/plan.yaml", []byte(e2ePlan(imageURL, im.SHA256, "needle-e2e")))
	vm := Start(tb, Config{Kernel: a.Kernel, Initrd: a.Initrd, MemoryMB: 1536, Name: name,
		Append: "quiet needle.onfail=poweroff needle.plan=" + srv.URL + "/plan.yaml",
		Disks:  []Disk{{File: disk(tb, "os.img", 4*gib), Serial: "needle-root"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	var r installRun
	for _, s := range needleStages {
		vm.Expect(s.line, 15*time.Minute)
		r.steps = append(r.steps, step{s.name, time.Since(vm.Started)})
	}
	vm.Expect(`needle-e2e login:`, 5*time.Minute)
	r.total = time.Since(vm.Started)
	vm.cmd.Process.Kill()
	vm.Wait(10 * time.Second)
	return r
}

// runFloorInstall does the same install with the floor initramfs.
func runFloorInstall(tb testing.TB, a Artifacts, floor, imageURL, name string) installRun {
	vm := Start(tb, Config{Kernel: a.Kernel, Initrd: floor, MemoryMB: 1536, Name: name,
		Append: "quiet floorurl=" + imageURL + " floorhost=needle-floor",
		Disks:  []Disk{{File: disk(tb, "os.img", 4*gib), Serial: "needle-root"}},
		NICs:   []NIC{{MAC: mac0}},
	})
	var r installRun
	for _, s := range floorSteps {
		m, err := vm.TryExpect(`FLOOR FAILED: .*|`+s.line, 15*time.Minute)
		if err != nil || strings.HasPrefix(m[0], "FLOOR FAILED") {
			tb.Fatalf("floor install: %v %v\nconsole:\n%s", err, m, vm.tail())
		}
		r.steps = append(r.steps, step{s.name, time.Since(vm.Started)})
	}
	vm.Expect(`NEEDLE-INSTALLED hostname=needle-floor `, 5*time.Minute)
	vm.Expect(`needle-floor login:`, 5*time.Minute)
	r.total = time.Since(vm.Started)
	vm.cmd.Process.Kill()
	vm.Wait(10 * time.Second)
	return r
}

// TestFloorInstall keeps the floor honest: if its install does not reach
// the installed system's login prompt, the benchmark compares with nothing.
func TestFloorInstall(t *testing.T) {
	a := Require(t)
	im := osImage(t)
	r := runFloorInstall(t, a, buildFloor(t, a), serveImage(t, im), "")
	d := r.durations()
	if d["image"] <= 0 || d["installed OS boot"] <= 0 {
		t.Errorf("floor steps out of order: %v", r.steps)
	}
	t.Logf("floor: login after %.1fs: %s", r.total.Seconds(), formatStages(d))
}

// BenchmarkInstallToLogin measures power-on to the installed Debian's login
// prompt for needle and for the floor, alternating, and reports the medians
// of the totals, their ratio, and the median of each stage.
//
//	go test ./qemu-test -run '^$' -bench InstallToLogin -benchtime 3x -timeout 60m
func BenchmarkInstallToLogin(b *testing.B) {
	a := Require(b)
	im := osImage(b)
	floor := buildFloor(b, a)
	url := serveImage(b, im)
	var needle, base []installRun
	for i := 0; i < b.N; i++ {
		needle = append(needle, runNeedleInstall(b, a, url, im, "BenchmarkInstallToLogin_needle"))
		base = append(base, runFloorInstall(b, a, floor, url, "BenchmarkInstallToLogin_floor"))
	}
	nt, ft := medianTotal(needle), medianTotal(base)
	ns, fs := medianStages(needle), medianStages(base)
	b.Logf("needle, median of %d: login after %.1fs: %s", b.N, nt.Seconds(), formatStages(ns))
	b.Logf("floor,  median of %d: login after %.1fs: %s", b.N, ft.Seconds(), formatStages(fs))
	b.ReportMetric(nt.Seconds(), "needle-login-s")
	b.ReportMetric(ft.Seconds(), "floor-login-s")
	b.ReportMetric(nt.Seconds()/ft.Seconds(), "ratio")
	for _, k := range []string{"boot", "image", "installed OS boot"} {
		b.ReportMetric(ns[k].Seconds(), "needle-"+strings.ReplaceAll(k, " ", "-")+"-s")
		b.ReportMetric(fs[k].Seconds(), "floor-"+strings.ReplaceAll(k, " ", "-")+"-s")
	}
	b.ReportMetric(0, "ns/op")
}

func median(ds []time.Duration) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2]
}

func medianTotal(rs []installRun) time.Duration {
	var ds []time.Duration
	for _, r := range rs {
		ds = append(ds, r.total)
	}
	return median(ds)
}

// medianStages is each stage's median over the runs (so the stages need not
// add up to the median total).
func medianStages(rs []installRun) map[string]time.Duration {
	all := map[string][]time.Duration{}
	for _, r := range rs {
		for k, d := range r.durations() {
			all[k] = append(all[k], d)
		}
	}
	out := map[string]time.Duration{}
	for k, ds := range all {
		out[k] = median(ds)
	}
	return out
}

// stageOrder is the report order of the breakdown.
var stageOrder = []string{"boot", "inventory", "coldplug", "network", "plan", "raid", "disks", "image", "files", "handoff", "installed OS boot"}

func formatStages(d map[string]time.Duration) string {
	var b strings.Builder
	for _, k := range stageOrder {
		if v, ok := d[k]; ok {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %.1fs", k, v.Seconds())
		}
	}
	return b.String()
}
