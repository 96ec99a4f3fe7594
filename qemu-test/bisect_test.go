package qemutest

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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
		set := buildBisectSet(t, a, kver, probe, cache, tc.s)
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runBisect(t, a, set, tc.s)
		})
	}
}

// buildBisectSet writes the series and runs `needle bisect build`; it
// returns OUT.
func buildBisectSet(t *testing.T, a Artifacts, kver, probe, cache string, s BisectSeries) string {
	t.Helper()
	dir := t.TempDir()
	series := filepath.Join(dir, "series")
	if _, err := WriteBisectSeries(series, s); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cmd := exec.Command(filepath.Join(a.Root, "out/bin/needle"), "bisect", "build",
		"--recipe", filepath.Join(a.Root, BisectRecipe), "--series", series, "--kver", kver,
		"--probe", "bisect-probe", "--probe-timeout", "60s", "--tool", probe, "--cache", cache, "--out", out)
	cmd.Dir = a.Root
	b, err := cmd.CombinedOutput()
	t.Logf("needle bisect build (fix %d, no-build %d):\n%s", s.Fix, s.NoBuild, b)
	if err != nil {
		t.Fatalf("needle bisect build: %v", err)
	}
	return out
}

func runBisect(t *testing.T, a Artifacts, out string, s BisectSeries) {
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
	console := vm.Console()
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
}
