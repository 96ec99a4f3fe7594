// Package testenv tells tests about the machine they run on: whether the
// machine-dependent suites are required (NEEDLE_QEMU=required, as CI sets
// it), where the repository is, and which kernel ./build.sh put into the
// image. It is imported by tests only.
package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Required reports whether a missing prerequisite (QEMU, a host oracle, the
// built kernel) must fail the test instead of skipping it.
func Required() bool { return os.Getenv("NEEDLE_QEMU") == "required" }

// Enabled reports whether the slow machine-dependent suites that stay off
// in a plain `go test` were asked for (NEEDLE_QEMU=1 or required).
func Enabled() bool { return os.Getenv("NEEDLE_QEMU") != "" }

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
	root, err := FindRepo()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// FindRepo finds the repository (the directory holding go.mod) from the
// working directory up: tests and the test-time builders (qemu-test,
// qemu-test/osimage) locate out/ and .cache/ with it.
func FindRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// HostTool returns the path of a host program a test needs: an oracle that
// checks what needle wrote (sfdisk, fsck.vfat, e2fsck, mdadm), or a helper
// (depmod, qemu-system-x86_64). It looks in PATH, then in the sbin
// directories a non-root PATH lacks; a missing tool makes the test
// Unavailable, naming the package .ci/run installs it from when given.
func HostTool(tb testing.TB, name string) string {
	tb.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); isExec(p) {
			return p
		}
	}
	Unavailable(tb, "host tool %s is not installed (.ci/run installs what the tests need)", name)
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Root makes tb Unavailable unless it runs as root (loop devices, network
// namespaces, debootstrap).
func Root(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		Unavailable(tb, "%s needs root", why)
	}
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

// ModuleObject compiles, with the host's gcc (the compiler Kbuild uses,
// host-packages.txt), a relocatable ELF object whose .modinfo section holds
// fields ("key=value" strings), as a kernel module's does, and returns its
// path. needle's modinfo reader and the manifest read it like a real .ko.
func ModuleObject(tb testing.TB, fields ...string) string {
	tb.Helper()
	cc := HostTool(tb, "gcc")
	dir := tb.TempDir()
	src := filepath.Join(dir, "m.c")
	lit := strings.ReplaceAll(strings.Join(fields, "\x00"), "\x00", `\0`)
	code := `static const char mi[] __attribute__((section(".modinfo"), used)) = "` + lit + `";` + "\n"
	if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
		tb.Fatal(err)
	}
	ko := filepath.Join(dir, "m.ko")
	if out, err := exec.Command(cc, "-c", "-o", ko, src).CombinedOutput(); err != nil {
		tb.Fatalf("gcc: %v\n%s", err, out)
	}
	return ko
}
