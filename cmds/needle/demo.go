//go:build !ramdisk

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/needle-boot/needle/internal/qemu"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/shell"
	"github.com/needle-boot/needle/qemu-test/osimage"
)

// runDemo is the whole product on embedded defaults: a QEMU box (a Dell
// PowerEdge C5220 by its DMI, one 4 GiB disk, one NIC) boots needle, which
// DHCPs, fetches its plan from this process, partitions, streams a real
// Debian image (built once with debootstrap and cached), writes the
// hostname, and kexecs into the installed system. The console is this
// terminal; the stage timeline is printed when the login prompt appears.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	kernel := fs.String("kernel", "out/vmlinuz", "kernel `FILE`")
	initrd := fs.String("initrd", "out/needle.cpio.zst", "initramfs `FILE`")
	appendArgs := fs.String("append", "", "extra kernel arguments, e.g. needle.shell or needle.break=plan")
	bootOnly := fs.Bool("boot-only", false, "only boot needle (no plan, no OS image: it stops at the plan stage)")
	dry := fs.Bool("n", false, "print the QEMU command line and stop")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, f := range []string{*kernel, *initrd} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("demo: %s missing: run ./build.sh first", f)
		}
	}
	cfg := qemu.Config{
		Kernel: *kernel, Initrd: *initrd, MemoryMB: 1536,
		Append: strings.TrimSpace("quiet needle.onfail=shell " + *appendArgs),
		NICs:   []qemu.NIC{{MAC: "52:54:00:12:34:56"}},
		SMBIOS: []string{"type=1,manufacturer=Dell Inc.,product=PowerEdge C5220,serial=DEMO0001"},
	}
	if !*bootOnly && !*dry {
		fmt.Fprintln(stdout, "needle demo: the OS image (Debian bookworm by debootstrap; built once, cached in .cache/osimage)")
		im, err := osimage.Ensure(ctx, osimage.Options{Log: slog.New(slog.NewTextHandler(stderr, nil))})
		if errors.Is(err, osimage.ErrUnavailable) {
			return fmt.Errorf("demo: %w (build it as root with debootstrap installed, or use --boot-only)", err)
		}
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		url, stop, err := serveDemo(im)
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer stop()
		dir, err := os.MkdirTemp("", "needle-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		disk := filepath.Join(dir, "disk.img")
		if err := os.WriteFile(disk, nil, 0o644); err != nil {
			return err
		}
		if err := os.Truncate(disk, 4<<30); err != nil {
			return err
		}
		cfg.Disks = []qemu.Disk{{File: disk, Serial: "needle-root"}}
		cfg.Append += " needle.plan=" + url + "/plan.yaml"
	}
	argv := cfg.Argv(qemu.Accel(*kernel))
	fmt.Fprintf(stdout, "needle demo: qemu-system-x86_64 %s\n", shell.Join(argv))
	if *dry {
		return nil
	}
	fmt.Fprintf(stdout, "needle demo: the console follows; log in as root (no password) once installed, 'poweroff' ends the demo\n\n")
	w := &timelineWatcher{out: stdout, start: time.Now()}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, w, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("demo: qemu-system-x86_64: %w", err)
	}
	w.print()
	return nil
}

// serveDemo serves the plan and the image on the host's loopback; the
// guest reaches it through slirp at 10.0.2.2.
func serveDemo(im osimage.Image) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	url := fmt.Sprintf("http://10.0.2.2:%d", ln.Addr().(*net.TCPAddr).Port)
	plan := osimage.Plan(url+"/debian.img.zst", im.SHA256, "needle-demo")
	mux := http.NewServeMux()
	mux.HandleFunc("/plan.yaml", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, plan) })
	mux.HandleFunc("/debian.img.zst", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"`+im.SHA256[:16]+`"`)
		http.ServeFile(w, r, im.Zst)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 30 * time.Second}
	go srv.Serve(ln)
	return url, func() { srv.Close() }, nil
}

// timelineWatcher passes the console through and prints the stage
// timeline when the installed system's login prompt appears.
type timelineWatcher struct {
	out     io.Writer
	start   time.Time
	mu      sync.Mutex
	buf     bytes.Buffer
	login   time.Duration
	printed bool
}

func (w *timelineWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	if w.login == 0 && bytes.Contains(w.buf.Bytes(), []byte(" login:")) && bytes.Contains(w.buf.Bytes(), []byte("NEEDLE-INSTALLED")) {
		w.login = time.Since(w.start)
		defer w.print()
	}
	w.mu.Unlock()
	return w.out.Write(p)
}

func (w *timelineWatcher) print() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.printed {
		return
	}
	w.printed = true
	t := report.Timeline(w.buf.String())
	var names []string
	for k := range t {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return order(names[i]) < order(names[j]) })
	fmt.Fprintf(w.out, "\n\nneedle demo: stage timeline (seconds since the kernel started)\n")
	for _, n := range names {
		fmt.Fprintf(w.out, "  %-10s %6.1f\n", n, t[n])
	}
	if w.login > 0 {
		fmt.Fprintf(w.out, "  power-on to the installed system's login prompt: %.1f s\n\n", w.login.Seconds())
	}
}

func order(stage string) int {
	for i, s := range []string{"boot", "inventory", "modules", "network", "plan", "raid", "disks", "image", "files", "handoff"} {
		if s == stage {
			return i
		}
	}
	return 99
}
