package qemutest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/bisect"
	"github.com/needle-boot/needle/internal/testenv"
)

// bisectPatches is the series' length: a dozen, as the seed's hunt took
// thirteen builds.
const bisectPatches = 12

// TestBisect is the seed's hunt, unattended, on a QEMU box: the base
// megaraid_sas (the test recipe breaks its MFI passthrough, the path
// storcli uses, as mpt2sas's broke sas2ircu) makes the probe die of
// SIGSEGV; one patch of a dozen fixes it. needle.bisect= swaps each
// candidate in for the loaded driver of the box's own disks and probes it.
// The answer must name the fixing patch within ⌈log2 N⌉ + 2 steps, a patch
// that does not build must be skipped, and the disks must be
// byte-identical afterwards. The candidates are built by `needle bisect
// build` from the real 6.1 source, cached in .cache/bisect-test.
func TestBisect(t *testing.T) {
	a := Require(t)
	_, kver := testenv.Kernel(t)
	probe := BuildBisectProbe(t, t.TempDir())
	cache := filepath.Join(a.Root, ".cache/bisect-test")
	for _, tc := range []struct {
		name string
		s    BisectSeries
	}{
		{"fix-at-4", BisectSeries{Patches: bisectPatches, Fix: 4}},
		{"fix-at-10", BisectSeries{Patches: bisectPatches, Fix: 10}},
		// 6 is the first midpoint: the search must step around it.
		{"fix-at-10-6-does-not-build", BisectSeries{Patches: bisectPatches, Fix: 10, NoBuild: 6}},
	} {
		// Built one after the other (they share builds through the
		// cache); booted in parallel.
		set, _ := buildBisectSet(t, a, kver, probe, cache, 0, tc.s)
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runBisect(t, a, set, tc.s)
		})
	}
}

// buildBisectSet writes the series and runs `needle bisect build` (jobs 0:
// its default; cache "": none); it returns OUT and the build's wall time.
func buildBisectSet(t testing.TB, a Artifacts, kver, probe, cache string, jobs int, s BisectSeries) (string, time.Duration) {
	t.Helper()
	dir := t.TempDir()
	series := filepath.Join(dir, "series")
	if _, err := WriteBisectSeries(series, s); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	args := []string{"bisect", "build", "--recipe", filepath.Join(a.Root, BisectRecipe), "--series", series, "--kver", kver,
		"--probe", "bisect-probe", "--probe-timeout", "60s", "--tool", probe, "--out", out}
	if cache != "" {
		args = append(args, "--cache", cache)
	}
	if jobs > 0 {
		args = append(args, "--jobs", strconv.Itoa(jobs))
	}
	cmd := exec.Command(filepath.Join(a.Root, "out/bin/needle"), args...)
	cmd.Dir = a.Root
	start := time.Now()
	b, err := cmd.CombinedOutput()
	wall := time.Since(start)
	t.Logf("needle bisect build (fix %d, no-build %d):\n%s", s.Fix, s.NoBuild, b)
	if err != nil {
		t.Fatalf("needle bisect build: %v", err)
	}
	return out, wall
}

// runBisect boots the box on the set and checks the answer; it returns the
// console.
func runBisect(t testing.TB, a Artifacts, out string, s BisectSeries) string {
	data, err := os.ReadFile(filepath.Join(out, bisect.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m bisect.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if s.NoBuild > 0 && !strings.HasPrefix(m.Candidates[s.NoBuild].Skip, "does not build") {
		t.Errorf("candidate %d: skip %q, want does not build", s.NoBuild, m.Candidates[s.NoBuild].Skip)
	}
	url := ServeHTTP(t, http.FileServer(http.Dir(out)))
	d1, d2 := disk(t, "a.img", gib), disk(t, "b.img", gib)
	fill(t, d1)
	fill(t, d2)
	h1, h2 := diskHash(t, d1), diskHash(t, d2)
	var console string
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "quiet needle.bisect=" + url + "/",
		Disks: []Disk{
			{File: d1, Device: "scsi-hd,drive=%s,bus=r0.0"},
			{File: d2, Device: "scsi-hd,drive=%s,bus=r0.0"},
		},
		Controllers: []string{"megasas-gen2,id=r0"},
		NICs:        []NIC{{}},
	})
	r := vm.Expect(`bisect: first differing candidate: #(\d+) (\S+) \(([^)]*)\); it fixes: the base bad \(killed by signal 11 \(segmentation fault\)\), the full series good; (\d+) steps in`, 15*time.Minute)
	first, _ := strconv.Atoi(r[1])
	steps, _ := strconv.Atoi(r[4])
	if first != s.Fix || r[3] != "scsi: megaraid_sas: pass MFI DCMD frames to the firmware again" {
		t.Errorf("bisect named #%d %s (%s), want #%d, the fixing patch", first, r[2], r[3], s.Fix)
	}
	if bound := int(math.Ceil(math.Log2(bisectPatches))) + 2; steps > bound {
		t.Errorf("%d steps, want at most ⌈log2 %d⌉+2 = %d", steps, bisectPatches, bound)
	}
	vm.Expect(`bisect: the stock megaraid_sas is loaded again`, 2*time.Minute)
	vm.Expect(`bisect done \(no disk was written\)`, time.Minute)
	console = vm.Console()
	if s.NoBuild > 0 && strings.Contains(console, fmt.Sprintf(": #%d %04d-", s.NoBuild, s.NoBuild)) && !strings.Contains(console, "skip") {
		t.Errorf("the candidate that does not build was tried")
	}
	for _, l := range strings.Split(console, "\n") {
		if strings.Contains(l, "bisect: step ") {
			t.Log(strings.TrimSpace(l))
		}
	}
	vm.Kill()
	if diskHash(t, d1) != h1 || diskHash(t, d2) != h2 {
		t.Error("a disk changed during the bisection")
	}
	return console
}

var stepRe = regexp.MustCompile(`bisect: step \d+: .*; fetch ([0-9.]+)s, unload ([0-9.]+)s, load ([0-9.]+)s, settle ([0-9.]+)s, probe ([0-9.]+)s`)

// BenchmarkBisect16 measures what the bisect issue asks for, on 16
// candidates (15 patches): the build, serially and two at a time (no
// cache), and in QEMU the mean time of a step's phases and the steps'
// total. go test ./qemu-test -run '^$' -bench Bisect16 -benchtime 1x
func BenchmarkBisect16(b *testing.B) {
	a := Require(b)
	_, kver := testenv.Kernel(b)
	probe := BuildBisectProbe(b, b.TempDir())
	s := BisectSeries{Patches: 15, Fix: 11}
	for range b.N {
		_, serial := buildBisectSet(b, a, kver, probe, "", 1, s)
		out, parallel := buildBisectSet(b, a, kver, probe, "", 2, s)
		console := runBisect(b, a, out, s)
		var sum [5]float64
		steps := stepRe.FindAllStringSubmatch(console, -1)
		for _, m := range steps {
			for i := range sum {
				v, _ := strconv.ParseFloat(m[i+1], 64)
				sum[i] += v
			}
		}
		b.ReportMetric(serial.Seconds(), "build-serial-s")
		b.ReportMetric(parallel.Seconds(), "build-2jobs-s")
		b.ReportMetric(float64(len(steps)), "steps")
		total := 0.0
		for i, name := range []string{"fetch", "unload", "load", "settle", "probe"} {
			b.ReportMetric(sum[i]/float64(len(steps)), name+"-s/step")
			total += sum[i]
		}
		b.ReportMetric(total, "steps-total-s")
	}
}
