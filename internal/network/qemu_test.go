package network

// TestQEMUNetns runs this package's TestNetns* tests inside a QEMU guest
// booted with the reference kernel (Debian 6.1): build hosts often lack the
// 8021q and bonding drivers (this one's kernel has neither), so without it
// the VLAN and bond tests would only ever skip. The guest is:
//
//	kernel  <kernel dir>/boot/vmlinuz-*
//	initrd  /init = this package's test binary (static), which sees it is
//	        PID 1 in TestMain, mounts /proc /sys /tmp /run, loads
//	        /lib/modules/*.ko (veth, 8021q, bonding and their depends=, in
//	        order), runs the tests with NEEDLE_QEMU=required (a skip is a
//	        failure there), prints NEEDLE-NETNS: PASS|FAIL and powers off.
//	devices none: the tests make their own namespaces and veth pairs.

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/shell"
	"github.com/needle-boot/needle/internal/testenv"

	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/internal/qemu"
	"golang.org/x/sys/unix"
)

const guestMarker = "NEEDLE-NETNS: "

func TestMain(m *testing.M) {
	// NEEDLE_NETNS_GUEST comes from the guest's kernel command line (the
	// kernel hands unknown key=value words to init as environment), so a
	// container running this binary as PID 1 is not mistaken for the VM.
	if os.Getpid() == 1 && os.Getenv("NEEDLE_NETNS_GUEST") == "1" {
		guestMain(m)
	}
	os.Exit(m.Run())
}

// guestMain is PID 1 in the QEMU guest. It never returns.
func guestMain(m *testing.M) {
	say := func(f string, a ...any) { fmt.Fprintf(os.Stdout, f+"\n", a...) }
	for _, mt := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"tmpfs", "/tmp", "tmpfs"}, {"tmpfs", "/run", "tmpfs"},
	} {
		if err := unix.Mount(mt.src, mt.dst, mt.typ, 0, ""); err != nil {
			say("mount %s: %v", mt.dst, err)
		}
	}
	order, _ := os.ReadFile("/modules.order")
	for _, name := range strings.Fields(string(order)) {
		if err := finitModule("/lib/modules/" + name + ".ko"); err != nil {
			say("load module %s: %v", name, err)
		}
	}
	os.Setenv("NEEDLE_QEMU", "required")
	code := m.Run()
	if code == 0 {
		say("%sPASS", guestMarker)
	} else {
		say("%sFAIL (exit %d)", guestMarker, code)
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

func finitModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.FinitModule(int(f.Fd()), "", 0)
}

// moduleClosure returns the .ko files for names and everything they
// depend on (the depends= of each module's .modinfo), dependencies first.
func moduleClosure(modDir string, names []string) ([]string, error) {
	index := map[string]string{}
	err := filepath.WalkDir(filepath.Join(modDir, "kernel"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ko") {
			index[modName(filepath.Base(p))] = p
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	builtin, _ := os.ReadFile(filepath.Join(modDir, "modules.builtin"))
	var out []string
	seen := map[string]bool{}
	var visit func(string) error
	visit = func(n string) error {
		n = modName(n)
		if seen[n] {
			return nil
		}
		seen[n] = true
		p, ok := index[n]
		if !ok {
			if bytes.Contains(builtin, []byte("/"+n+".ko")) || bytes.Contains(builtin, []byte("/"+strings.ReplaceAll(n, "_", "-")+".ko")) {
				return nil
			}
			return fmt.Errorf("module %s: not in %s", n, modDir)
		}
		f, err := elf.Open(p)
		if err != nil {
			return fmt.Errorf("module %s: %w", n, err)
		}
		defer f.Close()
		sec := f.Section(".modinfo")
		if sec == nil {
			return fmt.Errorf("module %s: no .modinfo", n)
		}
		data, err := sec.Data()
		if err != nil {
			return fmt.Errorf("module %s: %w", n, err)
		}
		for _, kv := range bytes.Split(data, []byte{0}) {
			if deps, ok := bytes.CutPrefix(kv, []byte("depends=")); ok && len(deps) > 0 {
				for _, d := range strings.Split(string(deps), ",") {
					if err := visit(d); err != nil {
						return err
					}
				}
			}
		}
		out = append(out, p)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func modName(file string) string {
	return strings.ReplaceAll(strings.TrimSuffix(file, ".ko"), "-", "_")
}

func TestQEMUNetns(t *testing.T) {
	if !testenv.Enabled() {
		t.Skip("QEMU run of the namespace tests under the reference kernel (VLAN, bond) is off; set NEEDLE_QEMU=1 or required")
	}
	kdir, kver := testenv.Kernel(t)
	vmlinuz := []string{filepath.Join(kdir, "boot/vmlinuz-"+kver)}
	mods := []string{filepath.Join(kdir, "lib/modules", kver)}
	testenv.HostTool(t, "qemu-system-x86_64")

	dir := t.TempDir()
	bin := filepath.Join(dir, "network.test")
	build := exec.Command("go", "test", "-c", "-trimpath", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go test -c: %v\n%s", err, out)
	}
	kos, err := moduleClosure(mods[0], []string{"veth", "8021q", "bonding"})
	if err != nil {
		t.Fatal(err)
	}
	a := initramfs.NewArchive()
	var order []string
	for _, d := range []string{"/dev", "/proc", "/sys", "/tmp", "/run", "/var", "/lib", "/lib/modules"} {
		if err := a.Dir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	steps := []error{
		a.CharDev("/dev/console", 0o600, 5, 1),
		a.Symlink("/var/run", "/run"),
		a.Copy("/init", bin),
	}
	for _, ko := range kos {
		n := modName(filepath.Base(ko))
		order = append(order, n)
		steps = append(steps, a.Copy("/lib/modules/"+n+".ko", ko))
	}
	steps = append(steps, a.Bytes("/modules.order", 0o644, []byte(strings.Join(order, "\n")+"\n")))
	for _, err := range steps {
		if err != nil {
			t.Fatal(err)
		}
	}
	initrd := filepath.Join(dir, "initrd.cpio")
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initrd, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("guest modules: %s", strings.Join(order, " "))

	cfg := qemu.Config{
		Kernel: vmlinuz[0], Initrd: initrd, MemoryMB: 768, Name: "network-netns",
		Append: "quiet NEEDLE_NETNS_GUEST=1 -- -test.run=^TestNetns -test.v -test.count=1",
	}
	argv := cfg.Argv(qemu.Accel(vmlinuz[0]))
	t.Logf("qemu-system-x86_64 %s", shell.Join(argv))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "qemu-system-x86_64", argv...).CombinedOutput()
	t.Logf("guest ran %s", time.Since(start).Round(time.Second))
	console := string(out)
	if err != nil || !strings.Contains(console, guestMarker+"PASS") {
		t.Errorf("guest: %v; console:\n%s", err, console)
		return
	}
	// The point of the VM: VLAN and bond really ran.
	for _, name := range []string{"TestNetnsVLAN", "TestNetnsBond", "TestNetnsLeaseApplied", "TestNetnsStatic"} {
		if !strings.Contains(console, "--- PASS: "+name+" ") {
			t.Errorf("guest console has no --- PASS: %s", name)
		}
	}
	var results []string
	for _, l := range strings.Split(console, "\n") {
		if strings.Contains(l, "--- ") {
			results = append(results, strings.TrimSpace(l))
		}
	}
	slices.Sort(results)
	t.Logf("guest results:\n%s", strings.Join(results, "\n"))
}
