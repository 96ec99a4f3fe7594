package qemutest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/needle-boot/needle/internal/testenv"
)

// BisectProbe is the TEST PROBE's package, relative to the repository:
// a client of megaraid_sas's MFI passthrough ioctl that crashes with
// SIGSEGV when the ioctl fails (testdata/bisect/probe/main.go).
const BisectProbe = "./qemu-test/testdata/bisect/probe"

// BuildBisectProbe builds the test probe, static (CGO_ENABLED=0), as
// DIR/bisect-probe and returns its path; pass it to `needle bisect build
// --tool` and name it in --probe ("bisect-probe": the box puts OUT/bin on
// the probe's PATH).
func BuildBisectProbe(t testing.TB, dir string) string {
	t.Helper()
	root := testenv.RepoRoot(t)
	out := filepath.Join(dir, "bisect-probe")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, BisectProbe)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the bisect test probe: %s: %v\n%s", cmd, err, b)
	}
	return out
}
