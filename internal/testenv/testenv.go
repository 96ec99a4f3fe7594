// Package testenv tells tests about the machine they run on: whether the
// machine-dependent suites are required (NEEDLE_QEMU=required, as CI sets
// it), where the repository is, and which kernel ./build.sh put into the
// image. It is imported by tests only.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/fileutil"
)

// Required reports whether a missing prerequisite (QEMU, a host oracle, the
// built kernel) must fail the test instead of skipping it.
func Required() bool { return os.Getenv("NEEDLE_QEMU") == "required" }

// Unavailable skips tb, loudly, or fails it when the suites are required: a
// missing prerequisite never passes silently in CI.
func Unavailable(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("%s (NEEDLE_QEMU=required)", msg)
	}
	tb.Skipf("SKIP: %s; set NEEDLE_QEMU=required to make this a failure", msg)
}

// RepoRoot is the directory of the repository's go.mod.
func RepoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := fileutil.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// Kernel returns the kernel tree ./build.sh built the image with (a dir
// holding boot/vmlinuz-KVER and lib/modules/KVER) and its release:
// $NEEDLE_KERNEL_DIR, else <repo>/.cache/kernel/KVER where KVER is
// out/kernel-release. Never a guess among several cached kernels.
func Kernel(tb testing.TB) (dir, kver string) {
	tb.Helper()
	dir, kver, err := kernel(RepoRoot(tb), os.Getenv("NEEDLE_KERNEL_DIR"))
	if err != nil {
		Unavailable(tb, "the image's kernel: %v", err)
	}
	return dir, kver
}

func kernel(root, override string) (dir, kver string, err error) {
	if override != "" {
		mods, _ := filepath.Glob(filepath.Join(override, "lib/modules/*"))
		if len(mods) != 1 {
			return "", "", fmt.Errorf("NEEDLE_KERNEL_DIR=%s: want one lib/modules/KVER, found %d", override, len(mods))
		}
		return override, filepath.Base(mods[0]), nil
	}
	rel, err := os.ReadFile(filepath.Join(root, "out/kernel-release"))
	if err != nil {
		return "", "", fmt.Errorf("%w (run ./build.sh, or set NEEDLE_KERNEL_DIR)", err)
	}
	kver = strings.TrimSpace(string(rel))
	dir = filepath.Join(root, ".cache/kernel", kver)
	for _, p := range []string{"lib/modules/" + kver, "boot/vmlinuz-" + kver} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			return "", "", fmt.Errorf("out/kernel-release says %s: %w (run ./build.sh)", kver, err)
		}
	}
	return dir, kver, nil
}
