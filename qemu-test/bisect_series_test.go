package qemutest

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/testenv"
)

// TestWriteBisectSeriesApplies applies the recipe's patch and then each
// generated patch with patch(1), without fuzz or offset, to megaraid_sas of
// the source modules/build.sh extracted into .cache/src (no QEMU, no
// build): the series stacks as the bisection builds it, the fix removes
// the break, the no-build patch is repaired by the next, the no-apply
// patch fails.
func TestWriteBisectSeriesApplies(t *testing.T) {
	root := testenv.RepoRoot(t)
	glob := filepath.Join(root, ".cache/src/linux-source-6.1-*/drivers/scsi/megaraid/megaraid_sas_base.c")
	srcs, _ := filepath.Glob(glob)
	if len(srcs) == 0 {
		// On a fresh machine the source is extracted by the first overlay
		// build: the seed image's (built once for the suite).
		RequireSeed(t)
		srcs, _ = filepath.Glob(glob)
	}
	if len(srcs) == 0 {
		testenv.Unavailable(t, "no megaraid_sas source in .cache/src: run modules/build.sh %s once", BisectRecipe)
	}
	src := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(srcs[0]))))
	patch := testenv.HostTool(t, "patch")
	for _, tc := range []struct {
		name    string
		s       BisectSeries
		failsAt int
	}{
		{"fix at 5", BisectSeries{Patches: 15, Fix: 5}, 0},
		{"fix last, no-build before it", BisectSeries{Patches: MaxBisectPatches, Fix: MaxBisectPatches, NoBuild: MaxBisectPatches - 1}, 0},
		{"no-build right before the fix", BisectSeries{Patches: 16, Fix: 9, NoBuild: 8}, 0},
		{"no-apply", BisectSeries{Patches: 12, Fix: 3, NoApply: 7}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := t.TempDir()
			cp := exec.Command("cp", "-r", "--parents", "drivers/scsi/megaraid", tree)
			cp.Dir = src
			if b, err := cp.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			series := t.TempDir()
			names, err := WriteBisectSeries(series, tc.s)
			if err != nil {
				t.Fatal(err)
			}
			recipePatches, _ := filepath.Glob(filepath.Join(root, BisectRecipe, "*.patch"))
			files := recipePatches
			for _, n := range names {
				files = append(files, filepath.Join(series, n))
			}
			for i, f := range files {
				cmd := exec.Command(patch, "-p1", "-F0", "-d", tree, "-i", f)
				out, err := cmd.CombinedOutput()
				idx := i - len(recipePatches) + 1
				if tc.failsAt > 0 && idx == tc.failsAt {
					if err == nil {
						t.Fatalf("%s applied, want it to fail", filepath.Base(f))
					}
					return
				}
				if err != nil || strings.Contains(string(out), "offset") {
					t.Fatalf("%s: %v\n%s", filepath.Base(f), err, out)
				}
			}
			c, err := os.ReadFile(filepath.Join(tree, "drivers/scsi/megaraid/megaraid_sas_base.c"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(c), "deliberate break") {
				t.Error("the full series leaves the break in place")
			}
			if n := strings.Count(string(c), "needle_bisect_change_"); n != tc.s.Patches-1 {
				t.Errorf("%d harmless changes in the result, want %d", n, tc.s.Patches-1)
			}
		})
	}
}

// TestBuildBisectProbe: the probe builds static; without a megaraid_sas
// adapter it says so and exits 1 (not a crash: only a failed ioctl
// crashes).
func TestBuildBisectProbe(t *testing.T) {
	probe := BuildBisectProbe(t, t.TempDir())
	b, err := os.ReadFile(probe)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("/lib64/ld-linux")) {
		t.Error("the probe is dynamically linked")
	}
	if _, err := os.Stat("/sys/module/megaraid_sas"); err == nil {
		t.Skip("this machine has megaraid_sas loaded: not running the probe here")
	}
	out, err := exec.Command(probe).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("probe without an adapter: %v, want exit status 1\n%s", err, out)
	}
}
