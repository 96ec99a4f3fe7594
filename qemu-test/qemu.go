// Package qemutest boots needle's kernel and initramfs under
// qemu-system-x86_64 and matches the serial console against expectations.
//
// The suite runs whenever QEMU and the built artifacts (./build.sh) are
// present. With NEEDLE_QEMU=required (CI sets it) their absence fails the
// tests instead of skipping them. TCG is the default accelerator: KVM is
// used only when a probe boot shows it really works (on some hosts /dev/kvm
// opens but guests hang in the firmware).
package qemutest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/internal/qemu"
	"github.com/needle-boot/needle/internal/shell"
	"github.com/needle-boot/needle/internal/testenv"
)

// Config, Disk and NIC describe a VM (see package qemu).
type (
	Config = qemu.Config
	Disk   = qemu.Disk
	NIC    = qemu.NIC
)

// Artifacts are the files a boot needs.
type Artifacts struct {
	Root   string // the repository
	Kernel string // out/vmlinuz
	Initrd string // out/needle.cpio.zst
}

// Require returns the artifacts or stops the test: a skip that says why,
// or a failure when NEEDLE_QEMU=required.
func Require(t testing.TB) Artifacts {
	t.Helper()
	testenv.HostTool(t, "qemu-system-x86_64")
	root := testenv.RepoRoot(t)
	a := Artifacts{Root: root, Kernel: filepath.Join(root, "out/vmlinuz"), Initrd: filepath.Join(root, "out/needle.cpio.zst")}
	if v := os.Getenv("NEEDLE_KERNEL"); v != "" {
		a.Kernel = v
	}
	if v := os.Getenv("NEEDLE_INITRD"); v != "" {
		a.Initrd = v
	}
	for _, f := range []string{a.Kernel, a.Initrd} {
		if _, err := os.Stat(f); err != nil {
			testenv.Unavailable(t, "QEMU SUITE NOT RUN: %s missing: run ./build.sh first", f)
		}
	}
	return a
}

// Scale stretches timeouts on slow machines: NEEDLE_QEMU_TIMEOUT_SCALE=2.
func Scale(d time.Duration) time.Duration {
	if f, err := strconv.ParseFloat(os.Getenv("NEEDLE_QEMU_TIMEOUT_SCALE"), 64); err == nil && f > 0 {
		return time.Duration(float64(d) * f)
	}
	return d
}

// VM is a running QEMU.
type VM struct {
	t       testing.TB
	cmd     *exec.Cmd
	stdin   interface{ Write([]byte) (int, error) }
	mu      sync.Mutex
	console bytes.Buffer
	cursor  int
	changed chan struct{}
	exited  chan struct{}
	exitErr error
	Started time.Time
	log     *os.File
}

// Start boots the VM; it is killed when the test ends.
func Start(t testing.TB, c Config) *VM {
	t.Helper()
	accel := qemu.Accel(c.Kernel)
	args := c.Argv(accel)
	cmd := exec.Command("qemu-system-x86_64", args...)
	t.Logf("qemu command line (accel %s):\n  qemu-system-x86_64 %s", accel, shell.Join(args))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	vm := &VM{t: t, cmd: cmd, stdin: stdin, changed: make(chan struct{}, 1), exited: make(chan struct{})}
	if root, err := testenv.FindRepo(); err == nil {
		name := c.Name
		if name == "" {
			name = strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
		}
		dir := filepath.Join(root, "out/qemu-logs")
		if os.MkdirAll(dir, 0o755) == nil {
			vm.log, _ = os.Create(filepath.Join(dir, name+".log"))
			if vm.log != nil {
				fmt.Fprintf(vm.log, "# qemu-system-x86_64 %s\n", shell.Join(args))
			}
		}
	}
	cmd.Stdout = vm
	cmd.Stderr = vm
	vm.Started = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("qemu: %v", err)
	}
	go func() {
		vm.exitErr = cmd.Wait()
		close(vm.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-vm.exited:
		default:
			cmd.Process.Kill()
			<-vm.exited
		}
		if vm.log != nil {
			vm.log.Close()
		}
	})
	return vm
}

// Write collects console output (QEMU's stdout and stderr).
func (vm *VM) Write(p []byte) (int, error) {
	vm.mu.Lock()
	vm.console.Write(p)
	if vm.log != nil {
		vm.log.Write(p)
	}
	vm.mu.Unlock()
	select {
	case vm.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

// Console returns everything the guest printed so far.
func (vm *VM) Console() string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.console.String()
}

func (vm *VM) tail() string {
	s := vm.Console()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// Expect waits for pattern (a regexp) in the console output after the
// previous match and returns its submatches. It fails the test on timeout
// or when QEMU exits first.
func (vm *VM) Expect(pattern string, timeout time.Duration) []string {
	vm.t.Helper()
	m, err := vm.TryExpect(pattern, timeout)
	if err != nil {
		vm.t.Fatalf("%v\nconsole:\n%s", err, vm.tail())
	}
	return m
}

// TryExpect is Expect returning an error instead of failing.
func (vm *VM) TryExpect(pattern string, timeout time.Duration) ([]string, error) {
	re := regexp.MustCompile(pattern)
	timeout = Scale(timeout)
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		vm.mu.Lock()
		buf := vm.console.Bytes()[vm.cursor:]
		if loc := re.FindSubmatchIndex(buf); loc != nil {
			var out []string
			for i := 0; i+1 < len(loc); i += 2 {
				if loc[i] < 0 {
					out = append(out, "")
					continue
				}
				out = append(out, string(buf[loc[i]:loc[i+1]]))
			}
			vm.cursor += loc[1]
			vm.mu.Unlock()
			return out, nil
		}
		vm.mu.Unlock()
		select {
		case <-vm.changed:
		case <-vm.exited:
			// One last look: output may have arrived with the exit.
			vm.mu.Lock()
			found := re.Match(vm.console.Bytes()[vm.cursor:])
			vm.mu.Unlock()
			if found {
				continue
			}
			return nil, fmt.Errorf("qemu exited (%v) before console showed %q", vm.exitErr, pattern)
		case <-deadline.C:
			return nil, fmt.Errorf("console did not show %q within %v", pattern, timeout)
		}
	}
}

// Send types a line on the serial console.
func (vm *VM) Send(line string) {
	vm.t.Helper()
	if _, err := vm.stdin.Write([]byte(line + "\n")); err != nil {
		vm.t.Fatalf("console write: %v", err)
	}
}

// Wait waits for QEMU to exit (a guest power-off, or a reboot with
// -no-reboot) and returns its error.
func (vm *VM) Wait(timeout time.Duration) error {
	select {
	case <-vm.exited:
		return vm.exitErr
	case <-time.After(Scale(timeout)):
		return fmt.Errorf("qemu still running after %v", Scale(timeout))
	}
}

// ServeHTTP starts a test HTTP server on the host's loopback and returns
// the URL the guest reaches it at (slirp forwards 10.0.2.2 to the host's
// 127.0.0.1). It stops when the test ends.
func ServeHTTP(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return fmt.Sprintf("http://10.0.2.2:%d", ln.Addr().(*net.TCPAddr).Port)
}

// File is one file of an overlay.
type File struct {
	Data []byte
	Mode os.FileMode // 0644 when 0
}

// WithFiles returns an initrd that is base followed by a second, plain cpio
// archive holding files: the kernel unpacks concatenated archives in order,
// so the overlay adds to (or replaces files of) the built image without
// rebuilding it. Tests use it for plans, keys and fake tools.
func WithFiles(t testing.TB, base string, files map[string]File) string {
	t.Helper()
	b, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	a := initramfs.NewArchive()
	for p, f := range files {
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := a.Bytes(p, mode, f.Data); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	buf.Write(b)
	// The kernel looks for the next archive's magic only at 4-byte
	// boundaries after a compressed one ends; pad to be safe.
	for buf.Len()%4 != 0 {
		buf.WriteByte(0)
	}
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "initrd-overlay.cpio")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// Kill pulls the VM's power: QEMU gets SIGKILL (nothing is flushed or
// shut down), and Kill returns once it is gone.
func (vm *VM) Kill() {
	vm.cmd.Process.Kill()
	<-vm.exited
}

// Monitor sends one command to the VM's human monitor (Config.Monitor)
// and returns what QEMU answered.
func (vm *VM) Monitor(socket, command string) string {
	vm.t.Helper()
	c, err := net.DialTimeout("unix", socket, 10*time.Second)
	if err != nil {
		vm.t.Fatalf("monitor %s: %v", socket, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	readUntilPrompt := func() string {
		var b strings.Builder
		buf := make([]byte, 4096)
		for !strings.HasSuffix(b.String(), "(qemu) ") {
			n, err := c.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return b.String()
	}
	readUntilPrompt() // the banner
	if _, err := fmt.Fprintf(c, "%s\n", command); err != nil {
		vm.t.Fatalf("monitor: %v", err)
	}
	return readUntilPrompt()
}
