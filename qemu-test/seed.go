package qemutest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/testenv"
)

// SeedArtifacts are an image built for the overlay proof, which the
// product image must not carry: QEMU has no SAS2008, so the tests prove
// the overlay mechanism on QEMU's megasas-gen2 in a VM claiming to be a
// PowerEdge C5220 with a rule (testdata/hwdb) and a recipe
// (testdata/overlays, megaraid_sas marked -needle1) of their own.
type SeedArtifacts struct {
	Artifacts
	// Overlay is the megaraid_sas.ko the build made from the test recipe.
	Overlay string
}

var seedBuild struct {
	once sync.Once
	a    SeedArtifacts
	err  error
}

// RequireSeed builds the overlay-proof image once per test binary, with
// the same ./build.sh as the product and the same kernel as out/, adding
// `--hwdb-extra qemu-test/testdata/hwdb --recipes qemu-test/testdata/overlays`,
// into out/qemu-seed/.
func RequireSeed(t testing.TB) SeedArtifacts {
	t.Helper()
	a := Require(t)
	kdir, kver := testenv.Kernel(t)
	seedBuild.once.Do(func() {
		out := filepath.Join(a.Root, "out/qemu-seed")
		cmd := exec.Command("./build.sh", "--kernel-dir", kdir,
			"--hwdb-extra", "qemu-test/testdata/hwdb", "--recipes", "qemu-test/testdata/overlays")
		cmd.Dir = a.Root
		cmd.Env = append(os.Environ(), "NEEDLE_OUT="+out)
		start := time.Now()
		b, err := cmd.CombinedOutput()
		if err != nil {
			seedBuild.err = fmt.Errorf("%s: %v\n%s", cmd, err, b)
			return
		}
		t.Logf("overlay-proof image built in %s:\n%s", time.Since(start).Round(time.Second), b)
		seedBuild.a = SeedArtifacts{
			Artifacts: Artifacts{Root: a.Root, Kernel: filepath.Join(out, "vmlinuz"), Initrd: filepath.Join(out, "needle.cpio.zst")},
			Overlay:   filepath.Join(out, "overlays", kver, "updates/megaraid_sas.ko"),
		}
	})
	if seedBuild.err != nil {
		t.Fatalf("building the overlay-proof image: %v", seedBuild.err)
	}
	return seedBuild.a
}
