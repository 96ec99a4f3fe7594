package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRamdiskBinaryHasNoHostCode: the binaries the image carries (init, and
// needle built with -tags ramdisk as build.sh does) link no test or
// host-only package: not the QEMU harness, not the OS-image builder, not
// the test helpers.
func TestRamdiskBinaryHasNoHostCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "ramdisk", "../../cmds/needle", "../../cmds/init").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 20 {
		t.Fatalf("go list -deps printed %d packages, want the full closure:\n%s", len(deps), out)
	}
	for _, p := range deps {
		for _, bad := range []string{"/qemu-test", "/internal/qemu", "/internal/testenv", "testing"} {
			if strings.Contains(p, bad) {
				t.Errorf("the ramdisk's binaries depend on %s", p)
			}
		}
	}
}
