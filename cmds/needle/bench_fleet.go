//go:build !ramdisk

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/fetch"
)

// fleetNginxConf is the nginx configuration the fleet benchmark runs, the
// one the README shows (TestFleetNginxConfInReadme keeps them equal).
//
//go:embed fleet-nginx.conf.tmpl
var fleetNginxConf string

// runBenchFleet is `needle bench fleet`: N needle image writers (child
// processes of this binary running `needle image write`) against one
// nginx, restarted mid-run, then N curl | zstd -dc | dd pipelines against
// the same server, and a plan-fetch storm against a plan server answering
// 503.
func runBenchFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench fleet", stderr)
	clients := fs.Int("clients", 8, "concurrent clients")
	sizeFlag := fs.String("image-size", "2GiB", "uncompressed image size (zeros, text-like and random data, zstd -3)")
	restartAt := fs.Float64("restart-at", 0.4, "stop and restart nginx when this fraction of the compressed bytes has been fetched (0: never)")
	dir := fs.String("dir", ".cache/bench", "cache directory for the image; the clients' output files go under it too")
	needleBin := fs.String("needle", "", "needle binary the clients run (default: this one)")
	nginxBin := fs.String("nginx", "", "nginx binary (default: nginx from PATH or /usr/sbin)")
	stormDown := fs.Duration("storm-down", 5*time.Second, "how long the plan server answers 503 in the plan-fetch storm (0: no storm)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	size, err := disk.ParseSize(*sizeFlag)
	if err != nil {
		return fmt.Errorf("bench fleet: --image-size: %w", err)
	}
	switch {
	case size < 16<<20 || size%(1<<20) != 0:
		return fmt.Errorf("bench fleet: --image-size %s: want a whole number of MiB, at least 16MiB", *sizeFlag)
	case *clients < 1:
		return fmt.Errorf("bench fleet: --clients %d: want at least 1", *clients)
	case *restartAt < 0 || *restartAt >= 1:
		return fmt.Errorf("bench fleet: --restart-at %v: want a fraction in [0, 1)", *restartAt)
	}
	if *needleBin == "" {
		if *needleBin, err = os.Executable(); err != nil {
			return fmt.Errorf("bench fleet: no --needle: %w", err)
		}
	}
	if *nginxBin == "" {
		if *nginxBin, err = lookSbin("nginx"); err != nil {
			return fmt.Errorf("bench fleet: nginx is not installed (Debian: apt-get install nginx-light; host-packages.txt lists it): %w", err)
		}
	}
	for _, tool := range []string{"zstd", "curl", "dd", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("bench fleet: %w", err)
		}
	}
	dirAbs, err := filepath.Abs(*dir)
	if err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	f := &fleet{dir: dirAbs, size: size, n: *clients, needle: *needleBin, stderr: stderr}
	return f.run(ctx, *nginxBin, *restartAt, *stormDown, stdout)
}

// lookSbin finds a program in PATH or in the sbin directories a non-root
// PATH lacks.
func lookSbin(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if st, serr := os.Stat(filepath.Join(d, name)); serr == nil && st.Mode()&0o111 != 0 {
			return filepath.Join(d, name), nil
		}
	}
	return "", err
}

// fleet is one run of the benchmark.
type fleet struct {
	dir    string
	size   int64
	n      int
	needle string
	stderr io.Writer
}

// fleetImage is the served image: its path, the sha256 of the compressed
// file (what a plan names) and of the image itself (the oracle for the
// written files).
type fleetImage struct {
	path, sum, rawSum string
	compSize          int64
}

func (f *fleet) run(ctx context.Context, nginxBin string, restartAt float64, stormDown time.Duration, stdout io.Writer) error {
	if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	img, err := f.image(ctx)
	if err != nil {
		return fmt.Errorf("bench fleet: image: %w", err)
	}
	outDir := filepath.Join(f.dir, "fleet-out")
	if err := os.RemoveAll(outDir); err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	defer os.RemoveAll(outDir)
	var st unix.Statfs_t
	if err := unix.Statfs(outDir, &st); err != nil {
		return fmt.Errorf("bench fleet: statfs %s: %w", outDir, err)
	}
	if need, free := int64(f.n)*f.size+1<<30, int64(st.Bavail)*st.Bsize; free < need {
		return fmt.Errorf("bench fleet: %d clients of a %d MiB image need %d MiB free under %s (plus 1 GiB to spare), there are %d MiB: use fewer clients or a smaller --image-size",
			f.n, f.size>>20, int64(f.n)*f.size>>20, outDir, free>>20)
	}

	srv, err := newNginx(nginxBin, f.n)
	if err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	defer srv.cleanup()
	if err := srv.site(img.path); err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	if err := srv.start(ctx); err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	defer srv.stop()

	if stormDown > 0 {
		line, err := f.storm(ctx, srv, stormDown)
		if err != nil {
			return fmt.Errorf("bench fleet: plan storm: %w", err)
		}
		fmt.Fprintln(stdout, line)
	}

	url := srv.base() + "/images/" + filepath.Base(img.path)
	run, err := f.writers(ctx, srv, url, img, outDir, restartAt)
	if err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	verified := f.verify(run, outDir, img.rawSum)
	for i := range f.n {
		os.Remove(clientOut(outDir, i))
	}
	if err := removeSynced(clientOut(outDir, 0)); err != nil {
		return fmt.Errorf("bench fleet: %w", err)
	}
	curlTime, err := f.pipelines(ctx, url, outDir)
	if err != nil {
		return fmt.Errorf("bench fleet: curl pipelines: %w", err)
	}

	total := float64(int64(f.n)*f.size) / 1e6
	agg := total / run.wall.Seconds()
	curl := total / curlTime.Seconds()
	slow, fast := slices.Min(run.rates), slices.Max(run.rates)
	fmt.Fprintf(stdout, "fleet %d clients: %d verified, aggregate %.0f MB/s, curl %.0f MB/s, ratio %.2f, fairness %.2f, resumes %d, peak RSS %d MiB\n",
		f.n, verified, agg, curl, agg/curl, slow/fast, run.resumes, run.peakRSS>>20)
	if verified != f.n {
		return fmt.Errorf("bench fleet: only %d of %d clients wrote a verified image", verified, f.n)
	}
	return nil
}

func clientOut(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("client-%03d.img", i))
}

// image makes (once) the served image: size bytes in 1 MiB blocks, each
// zeros (45%), text-like (30%) or random (25%), as a half-full root
// filesystem looks to a compressor, compressed with zstd -3. Cached in dir
// with both sums; an interrupted run leaves no file that looks cached.
func (f *fleet) image(ctx context.Context) (fleetImage, error) {
	path := filepath.Join(f.dir, fmt.Sprintf("fleet-%dMiB.img.zst", f.size>>20))
	sums := path + ".sums"
	if b, err := os.ReadFile(sums); err == nil {
		if fs := strings.Fields(string(b)); len(fs) == 2 {
			if st, err := os.Stat(path); err == nil {
				return fleetImage{path: path, sum: fs[0], rawSum: fs[1], compSize: st.Size()}, nil
			}
		}
	}
	fmt.Fprintf(f.stderr, "bench fleet: making %s (cached for later runs)\n", path)
	tmp := path + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return fleetImage{}, err
	}
	defer os.Remove(tmp)
	var msg bytes.Buffer
	c := exec.CommandContext(ctx, "zstd", "-q", "-c", "-T0", "-3")
	c.Stdout, c.Stderr = out, &msg
	in, err := c.StdinPipe()
	if err != nil {
		out.Close()
		return fleetImage{}, err
	}
	if err := c.Start(); err != nil {
		out.Close()
		return fleetImage{}, err
	}
	raw := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(in, raw), 1<<20)
	genErr := genFleetImage(w, f.size)
	if genErr == nil {
		genErr = w.Flush()
	}
	in.Close()
	err = c.Wait()
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if genErr != nil {
		return fleetImage{}, genErr
	}
	if err != nil {
		return fleetImage{}, fmt.Errorf("zstd: %w: %s", err, msg.String())
	}
	if err := os.Rename(tmp, path); err != nil {
		return fleetImage{}, err
	}
	sum, err := fileSHA256(path)
	if err != nil {
		return fleetImage{}, err
	}
	img := fleetImage{path: path, sum: sum, rawSum: hex.EncodeToString(raw.Sum(nil))}
	st, err := os.Stat(path)
	if err != nil {
		return fleetImage{}, err
	}
	img.compSize = st.Size()
	return img, os.WriteFile(sums, []byte(img.sum+" "+img.rawSum+"\n"), 0o644)
}

// genFleetImage writes size bytes of the benchmark's image to w.
func genFleetImage(w io.Writer, size int64) error {
	rng := rand.New(rand.NewPCG(42, 16))
	words := strings.Fields("the of and to in is that for it as with was on be by kernel module disk " +
		"partition image stream needle server boot initramfs config usr lib share bin etc var log")
	block := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(block)) {
		k := rng.IntN(100)
		switch {
		case k < 45:
			clear(block)
		case k < 75:
			for j := 0; j < len(block); {
				word := words[rng.IntN(len(words))]
				j += copy(block[j:], word)
				if j < len(block) {
					if rng.IntN(12) == 0 {
						block[j] = '\n'
					} else {
						block[j] = ' '
					}
					j++
				}
			}
		default:
			for j := 0; j < len(block); j += 8 {
				v := rng.Uint64()
				for b := range 8 {
					block[j+b] = byte(v >> (8 * b))
				}
			}
		}
		if _, err := w.Write(block); err != nil {
			return err
		}
	}
	return nil
}

// writersRun is what the needle clients did.
type writersRun struct {
	wall     time.Duration // first start to last exit
	rates    []float64     // per client, image MB/s
	resumes  int
	peakRSS  int64 // bytes, the largest client's
	failures []error
	restarts int
}

var resumesRE = regexp.MustCompile(`\((\d+) resumes, `)

// writers runs N `needle image write` children, each to its own file, and
// restarts nginx once restartAt of all compressed bytes were fetched (read
// by the children: /proc/PID/io rchar, Documentation/filesystems/proc.rst).
func (f *fleet) writers(ctx context.Context, srv *nginx, url string, img fleetImage, outDir string, restartAt float64) (*writersRun, error) {
	type client struct {
		cmd        *exec.Cmd
		out, errb  bytes.Buffer
		start, end time.Time
		err        error
	}
	cs := make([]*client, f.n)
	for i := range cs {
		c := &client{}
		c.cmd = exec.CommandContext(ctx, f.needle, "image", "write", "--url", url, "--sha256", img.sum,
			"--to", clientOut(outDir, i), "--ca", "")
		c.cmd.Stdout, c.cmd.Stderr = &c.out, &c.errb
		c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		cs[i] = c
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range cs {
		c.start = time.Now()
		if err := c.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start %s: %w", f.needle, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.err = c.cmd.Wait()
			c.end = time.Now()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	run := &writersRun{}
	if restartAt > 0 {
		threshold := int64(restartAt * float64(img.compSize) * float64(f.n))
		tick := time.NewTicker(10 * time.Millisecond)
	watch:
		for {
			select {
			case <-done:
				break watch
			case <-tick.C:
			}
			var fetched int64
			for _, c := range cs {
				fetched += readChars(c.cmd.Process.Pid)
			}
			if fetched >= threshold {
				fmt.Fprintf(f.stderr, "bench fleet: %.0f%% fetched, restarting nginx\n", 100*float64(fetched)/float64(img.compSize*int64(f.n)))
				srv.stop()
				if err := srv.start(ctx); err != nil {
					tick.Stop()
					for _, c := range cs {
						c.cmd.Process.Kill()
					}
					<-done
					return nil, fmt.Errorf("restart nginx: %w", err)
				}
				run.restarts++
				break watch
			}
		}
		tick.Stop()
	}
	<-done
	var last time.Time
	for i, c := range cs {
		if c.end.After(last) {
			last = c.end
		}
		if ru, ok := c.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			run.peakRSS = max(run.peakRSS, ru.Maxrss<<10) // kilobytes on Linux, getrusage(2)
		}
		if c.err != nil {
			run.failures = append(run.failures, fmt.Errorf("client %d: %w: %s", i, c.err, lastLines(c.errb.String()+c.out.String(), 5)))
			run.rates = append(run.rates, 0)
			continue
		}
		run.rates = append(run.rates, float64(f.size)/1e6/c.end.Sub(c.start).Seconds())
		if m := resumesRE.FindStringSubmatch(c.out.String()); m != nil {
			k, _ := strconv.Atoi(m[1])
			run.resumes += k
		}
	}
	run.wall = last.Sub(start)
	for _, err := range run.failures {
		fmt.Fprintf(f.stderr, "bench fleet: %v\n", err)
	}
	return run, nil
}

// readChars is a process's rchar: the bytes its read calls returned,
// sockets included. 0 once it has exited.
func readChars(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "rchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// verify counts the clients that exited well and whose file has the
// image's sha256: the clients checked the compressed stream's hash, this
// is an independent check of what they wrote.
func (f *fleet) verify(run *writersRun, outDir, rawSum string) int {
	var n int
	for i := range f.n {
		if run.rates[i] == 0 {
			continue
		}
		if err := checkOutput(clientOut(outDir, i), rawSum); err != nil {
			fmt.Fprintf(f.stderr, "bench fleet: client %d: %v\n", i, err)
			continue
		}
		n++
	}
	return n
}

// pipelines times N parallel `curl | zstd -dc | dd conv=fsync`, the shell
// way to write an image, against the same server; the wall time of all.
func (f *fleet) pipelines(ctx context.Context, url, outDir string) (time.Duration, error) {
	start := time.Now()
	errs := make([]error, f.n)
	var wg sync.WaitGroup
	for i := range f.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := clientOut(outDir, i)
			script := fmt.Sprintf("set -o pipefail; curl -sf %q | zstd -dc | dd of=%q bs=4M conv=fsync status=none", url, out)
			if msg, err := exec.CommandContext(ctx, "bash", "-c", script).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("%s: %w: %s", script, err, msg)
				return
			}
			if st, err := os.Stat(out); err != nil || st.Size() != f.size {
				errs[i] = fmt.Errorf("%s: wrote %v bytes, want %d (%v)", out, st.Size(), f.size, err)
			}
		}()
	}
	wg.Wait()
	d := time.Since(start)
	for i := range f.n {
		os.Remove(clientOut(outDir, i))
	}
	return d, errors.Join(errs...)
}

// storm has N clients fetch a plan with needle's fetch client while the
// plan location answers 503 for down, then reads nginx's plan log: the
// requests, their peak per second, and the peak of retries in any 100 ms
// (N when retries are synchronized, a fraction of it when jittered).
func (f *fleet) storm(ctx context.Context, srv *nginx, down time.Duration) (string, error) {
	if err := os.WriteFile(srv.downFlag(), nil, 0o644); err != nil {
		return "", err
	}
	errs := make([]error, f.n)
	var wg sync.WaitGroup
	for i := range f.n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc, err := fetch.HTTPClient()
			if err != nil {
				errs[i] = err
				return
			}
			c := fetch.New(hc)
			c.Deadline = down + time.Minute
			_, errs[i] = c.Get(ctx, fmt.Sprintf("%s/plans/fleet.yaml?client=%d", srv.base(), i))
		}()
	}
	time.Sleep(down)
	if err := os.Remove(srv.downFlag()); err != nil {
		return "", err
	}
	wg.Wait()
	var fetched int
	for _, err := range errs {
		if err == nil {
			fetched++
		} else {
			fmt.Fprintf(f.stderr, "bench fleet: plan storm: %v\n", err)
		}
	}
	reqs, err := readPlanLog(filepath.Join(srv.prefix, "plans.log"))
	if err != nil {
		return "", err
	}
	if len(reqs) == 0 {
		return "", errors.New("nginx logged no plan request")
	}
	s := stormStats(reqs)
	all := "all fetched"
	if fetched != f.n {
		all = fmt.Sprintf("%d of %d fetched", fetched, f.n)
	}
	line := fmt.Sprintf("fleet plan storm %d clients: %d requests in %.1f s, peak %d req/s, retries peak %d per 100 ms, %s",
		f.n, len(reqs), s.span.Seconds(), s.peakSecond, s.peakRetries, all)
	if fetched != f.n {
		return line, fmt.Errorf("%s", line)
	}
	return line, nil
}

// planReq is one line of the plan log: when, and which client.
type planReq struct {
	at     time.Time
	client string
}

func readPlanLog(p string) ([]planReq, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var out []planReq
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		fs := strings.Fields(l)
		if len(fs) < 5 {
			continue
		}
		ms, err := strconv.ParseFloat(fs[0], 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", p, l, err)
		}
		out = append(out, planReq{at: time.UnixMilli(int64(ms * 1000)), client: strings.Trim(fs[4], `"`)})
	}
	slices.SortFunc(out, func(a, b planReq) int { return a.at.Compare(b.at) })
	return out, nil
}

type storm struct {
	span        time.Duration
	peakSecond  int // most requests in one second of the log
	peakRetries int // most retries (requests but each client's first) in any 100 ms
}

// stormStats reads sorted requests.
func stormStats(reqs []planReq) storm {
	s := storm{span: reqs[len(reqs)-1].at.Sub(reqs[0].at)}
	perSecond := map[int64]int{}
	seen := map[string]bool{}
	var retries []time.Time
	for _, r := range reqs {
		perSecond[r.at.Unix()]++
		if seen[r.client] {
			retries = append(retries, r.at)
		}
		seen[r.client] = true
	}
	for _, n := range perSecond {
		s.peakSecond = max(s.peakSecond, n)
	}
	for i, j := 0, 0; j < len(retries); j++ {
		for retries[j].Sub(retries[i]) >= 100*time.Millisecond {
			i++
		}
		s.peakRetries = max(s.peakRetries, j-i+1)
	}
	return s
}

// nginx is one nginx under its own prefix (a temporary directory), in the
// foreground (daemon off) as this process's child.
type nginx struct {
	bin    string
	prefix string
	port   int
	cmd    *exec.Cmd
	exited chan error
}

func newNginx(bin string, clients int) (*nginx, error) {
	prefix, err := os.MkdirTemp("", "needle-fleet-nginx-")
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"tmp", "www/images", "www/plans"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			return nil, err
		}
	}
	// A free port: a listener on :0, closed; nginx binds it a moment later.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	n := &nginx{bin: bin, prefix: prefix, port: port}
	conf, err := nginxConf(nginxConfData{
		Prefix: prefix, Root: filepath.Join(prefix, "www"), Listen: fmt.Sprintf("127.0.0.1:%d", port),
		Workers: runtime.NumCPU(), PlanRate: 200, PlanBurst: max(100, clients),
		User: map[bool]string{true: "root"}[os.Geteuid() == 0],
	})
	if err != nil {
		return nil, err
	}
	return n, os.WriteFile(filepath.Join(prefix, "nginx.conf"), []byte(conf), 0o644)
}

// nginxConfData fills fleet-nginx.conf.tmpl.
type nginxConfData struct {
	Prefix, Root, Listen string
	Workers              int
	PlanRate, PlanBurst  int
	// User is set when running as root: nginx's workers would otherwise
	// become nobody, who cannot read a 0700 temporary directory.
	User string
}

func nginxConf(d nginxConfData) (string, error) {
	t, err := template.New("nginx.conf").Option("missingkey=error").Parse(fleetNginxConf)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", err
	}
	return b.String(), nil
}

// site links the image into the document root and writes a plan.
func (n *nginx) site(img string) error {
	if err := os.Symlink(img, filepath.Join(n.prefix, "www/images", filepath.Base(img))); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.prefix, "www/plans/fleet.yaml"), []byte("version: 1\nname: fleet\n"), 0o644)
}

func (n *nginx) base() string     { return fmt.Sprintf("http://127.0.0.1:%d", n.port) }
func (n *nginx) downFlag() string { return filepath.Join(n.prefix, "plans-down") }

// start runs nginx and waits until its port answers.
func (n *nginx) start(ctx context.Context) error {
	cmd := exec.Command(n.bin, "-p", n.prefix+"/", "-c", filepath.Join(n.prefix, "nginx.conf"), "-e", filepath.Join(n.prefix, "error.log"))
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start nginx: %w", err)
	}
	n.cmd, n.exited = cmd, make(chan error, 1)
	go func() { n.exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.port), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-n.exited:
			n.cmd = nil
			log, _ := os.ReadFile(filepath.Join(n.prefix, "error.log"))
			return fmt.Errorf("nginx exited (%v): %s%s", err, msg.String(), lastLines(string(log), 10))
		case <-ctx.Done():
			n.stop()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.stop()
			return fmt.Errorf("nginx did not listen on 127.0.0.1:%d within 10 s", n.port)
		}
	}
}

// stop is nginx's fast shutdown (SIGTERM): open connections are closed at
// once, as when a server is restarted or crashes.
func (n *nginx) stop() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
	n.cmd = nil
}

func (n *nginx) cleanup() { os.RemoveAll(n.prefix) }
