package osimage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/procfs"
)

// testLog routes the package's logs to t.Log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fakeTools is a FAKE Runner standing in for debootstrap, chroot, mkfs.ext4
// and zstd: it makes files of the right names so Ensure's caching, locking,
// placement and cleanup run without root. It counts the calls.
type fakeTools struct {
	t     *testing.T
	mu    sync.Mutex
	calls map[string]int
	fail  string // tool that fails
}

func (f *fakeTools) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[name]++
	f.mu.Unlock()
	if name == f.fail {
		return nil, fmt.Errorf("FAKE %s: exit status 1", name)
	}
	write := func(p, data string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.t.Error(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			f.t.Error(err)
		}
	}
	switch name {
	case "debootstrap":
		tree := args[len(args)-2]
		write(filepath.Join(tree, "etc/os-release"), "PRETTY_NAME=\"FAKE Debian\"\n")
		write(filepath.Join(tree, "etc/fstab"), "# UNCONFIGURED FSTAB\n")
	case "chroot":
		tree := args[0]
		// configure.sh runs after the recipe's files are in place.
		for _, p := range DefaultRecipe().Files {
			if _, err := os.Stat(filepath.Join(tree, p.Dst)); err != nil {
				f.t.Errorf("configure ran before %s was placed: %v", p.Dst, err)
			}
		}
		write(filepath.Join(tree, "etc/needle-image-kernel"), "6.1.0-fake\n")
		write(filepath.Join(tree, "boot/vmlinuz-6.1.0-fake"), "FAKE kernel")
		write(filepath.Join(tree, "boot/initrd.img-6.1.0-fake"), "FAKE initrd")
	case "mkfs.ext4":
		raw := args[len(args)-1]
		fh, err := os.OpenFile(raw, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		fh.WriteAt([]byte("FAKE ext4 "+strings.Join(args, " ")), 1024)
		fh.Close()
	case "zstd":
		write(args[len(args)-1], "FAKE zstd of "+args[len(args)-3])
	}
	return nil, nil
}

func fakeOptions(t *testing.T, tools *fakeTools, cache string) Options {
	lock := filepath.Join(t.TempDir(), "build.lock")
	if err := os.WriteFile(lock, []byte("kernel linux-image-6.1.0-57-amd64 6.1.192-3 "+strings.Repeat("a", 64)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Options{
		CacheDir: cache,
		LockFile: lock,
		Mirror:   "http://mirror.invalid/debian",
		Log:      testLog(t),
		Runner:   tools,
		Geteuid:  func() int { return 0 },
		LookPath: func(s string) (string, error) { return "/FAKE/" + s, nil },
	}
}

func TestEnsureCachesAndLocks(t *testing.T) {
	tools := &fakeTools{t: t}
	cache := t.TempDir()
	opts := fakeOptions(t, tools, cache)

	// Three tests ask at once: one builds, two wait and reuse.
	const n = 3
	ims := make([]Image, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { ims[i], errs[i] = Ensure(t.Context(), opts) })
	}
	wg.Wait()
	built := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Ensure #%d: %v", i, errs[i])
		}
		if !ims[i].Cached {
			built++
		}
		if ims[i].SHA256 != ims[0].SHA256 || ims[i].Raw != ims[0].Raw {
			t.Errorf("Ensure #%d = %s %s, want the same image as #0 (%s %s)", i, ims[i].Raw, ims[i].SHA256, ims[0].Raw, ims[0].SHA256)
		}
	}
	if built != 1 || tools.calls["debootstrap"] != 1 {
		t.Errorf("%d calls built (debootstrap ran %d times), want 1", built, tools.calls["debootstrap"])
	}
	im := ims[0]
	lock, err := os.ReadFile(opts.LockFile)
	if err != nil {
		t.Fatal(err)
	}
	keyed := DefaultRecipe()
	keyed.Lock = fmt.Sprintf("%x", sha256.Sum256(lock))
	key, _ := keyed.Key()
	if im.Key != key || im.Dir != filepath.Join(cache, key) {
		t.Errorf("image key/dir = %s %s, want %s under %s", im.Key, im.Dir, key, cache)
	}
	if im.Kernel != "6.1.0-fake" {
		t.Errorf("Kernel = %q, want 6.1.0-fake", im.Kernel)
	}
	if got, err := sha256File(im.Zst); err != nil || got != im.SHA256 {
		t.Errorf("sha256(%s) = %s, %v; manifest says %s", im.Zst, got, err, im.SHA256)
	}
	// (zstd ran in the build directory, renamed into place afterwards.)
	if data, err := os.ReadFile(im.Zst); err != nil || !strings.HasPrefix(string(data), "FAKE zstd of "+cache+"/build-") || !strings.HasSuffix(string(data), "/root.ext4") {
		t.Errorf("%s = %q, %v: not the compressed raw image", im.Zst, data, err)
	}
	// The debootstrap tree is gone, only the images and kernel stay.
	var names []string
	ents, _ := os.ReadDir(im.Dir)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"image.json", "initrd.img", "root.ext4", "root.ext4.zst", "vmlinuz"}, names); diff != "" {
		t.Errorf("cache entry files (-want +got):\n%s", diff)
	}
	var steps []string
	for _, s := range im.Steps {
		steps = append(steps, s.Name)
	}
	if diff := cmp.Diff([]string{"debootstrap", "files", "configure", "kernel", "mkfs", "zstd", "hash"}, steps); diff != "" {
		t.Errorf("build steps (-want +got):\n%s", diff)
	}

	// A changed recipe builds anew and prunes the old image.
	rec := DefaultRecipe()
	rec.Packages = append(rec.Packages, "less")
	opts.Recipe = &rec
	im2, err := Ensure(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if im2.Cached || im2.Key == im.Key || tools.calls["debootstrap"] != 2 {
		t.Errorf("changed recipe: Cached=%v key %s (old %s), debootstrap ran %d times; want a new build", im2.Cached, im2.Key, im.Key, tools.calls["debootstrap"])
	}
	if _, err := os.Stat(im.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old image %s still there (%v), want pruned", im.Dir, err)
	}

	// A damaged entry (image gone) is rebuilt, not returned.
	os.Remove(im2.Zst)
	im3, err := Ensure(t.Context(), opts)
	if err != nil || im3.Cached || tools.calls["debootstrap"] != 3 {
		t.Errorf("damaged entry: Cached=%v err=%v debootstrap ran %d times; want a rebuild", im3.Cached, err, tools.calls["debootstrap"])
	}

	// A re-pinned build.lock never reuses the image cached under the old one.
	if err := os.WriteFile(opts.LockFile, []byte("kernel linux-image-6.1.0-58-amd64 6.1.193-1 "+strings.Repeat("b", 64)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	im4, err := Ensure(t.Context(), opts)
	if err != nil || im4.Cached || im4.Key == im3.Key || tools.calls["debootstrap"] != 4 {
		t.Errorf("new lock: Cached=%v key %s (old %s) err=%v debootstrap ran %d times; want a new build", im4.Cached, im4.Key, im3.Key, err, tools.calls["debootstrap"])
	}
	opts.LockFile = filepath.Join(t.TempDir(), "missing.lock")
	if _, err := Ensure(t.Context(), opts); err == nil || !strings.Contains(err.Error(), "keyed by build.lock") {
		t.Errorf("Ensure without a lock = %v, want an error naming build.lock", err)
	}
}

func TestEnsureFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(*Options, *fakeTools)
		wantIs  error
		wantMsg string
	}{
		{"not root", func(o *Options, _ *fakeTools) { o.Geteuid = func() int { return 1000 } }, ErrUnavailable, "needs root"},
		{"no debootstrap", func(o *Options, _ *fakeTools) {
			o.LookPath = func(s string) (string, error) {
				if s == "debootstrap" {
					return "", errors.New("not found")
				}
				return s, nil
			}
		}, ErrUnavailable, "missing debootstrap"},
		{"no mirror", func(o *Options, _ *fakeTools) {
			o.Mirror = ""
			o.AptDir = "testdata/apt-ubuntu"
			t.Setenv("NEEDLE_DEBIAN_MIRROR", "")
		}, ErrNoMirror, "bookworm"},
		{"debootstrap fails", func(_ *Options, f *fakeTools) { f.fail = "debootstrap" }, nil, "debootstrap: FAKE debootstrap"},
		{"mkfs fails", func(_ *Options, f *fakeTools) { f.fail = "mkfs.ext4" }, nil, "mkfs: FAKE mkfs.ext4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tools := &fakeTools{t: t}
			cache := t.TempDir()
			opts := fakeOptions(t, tools, cache)
			tc.mod(&opts, tools)
			_, err := Ensure(t.Context(), opts)
			if err == nil || (tc.wantIs != nil && !errors.Is(err, tc.wantIs)) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Ensure error = %v, want one wrapping %v and saying %q", err, tc.wantIs, tc.wantMsg)
			}
			// Nothing half-built stays in the cache.
			ents, _ := os.ReadDir(cache)
			for _, e := range ents {
				if e.Name() != ".lock" {
					t.Errorf("cache holds %s after a failed build", e.Name())
				}
			}
		})
	}
}

func TestKey(t *testing.T) {
	base, err := DefaultRecipe().Key()
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := DefaultRecipe().Key(); again != base {
		t.Errorf("Key() not stable: %s then %s", base, again)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(base) {
		t.Errorf("Key() = %q, want 16 hex digits", base)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Recipe)
	}{
		{"package", func(r *Recipe) { r.Packages = append(r.Packages, "less") }},
		{"label", func(r *Recipe) { r.Label = "other" }},
		{"headroom", func(r *Recipe) { r.Headroom = 50 }},
		{"file destination", func(r *Recipe) { r.Files[0].Dst = "/usr/sbin/needle-marker" }},
		{"file mode", func(r *Recipe) { r.Files[0].Mode = 0o700 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := DefaultRecipe()
			tc.mod(&r)
			if k, _ := r.Key(); k == base {
				t.Errorf("Key() unchanged (%s) after changing the %s", k, tc.name)
			}
		})
	}
	// Package order is not content.
	r := DefaultRecipe()
	r.Packages[0], r.Packages[1] = r.Packages[1], r.Packages[0]
	if k, _ := r.Key(); k != base {
		t.Errorf("Key() = %s after reordering packages, want %s", k, base)
	}
}

func TestArgv(t *testing.T) {
	rec := DefaultRecipe()
	for _, tc := range []struct {
		name string
		got  []string
		want string
	}{
		{"debootstrap", debootstrapArgs(rec, "/c/root", "http://m/debian"),
			"--variant=minbase --components=main --include=linux-image-amd64,systemd-sysv,udev,kmod,initramfs-tools,zstd,busybox,mdadm,e2fsprogs,login,passwd bookworm /c/root http://m/debian"},
		{"mkfs", mkfsArgs(rec, "u-u-i-d", "/c/root", "/c/root.ext4"), "-F -q -t ext4 -L needle-root -U u-u-i-d -d /c/root /c/root.ext4"},
		{"zstd", zstdArgs("/c/r", "/c/r.zst"), "-T0 -10 -q -f /c/r -o /c/r.zst"},
	} {
		if got := strings.Join(tc.got, " "); got != tc.want {
			t.Errorf("%s argv = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestImageSize(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct{ used, want int64 }{
		{0, 128 * mib},
		{1, 192 * mib},
		{800 * mib, 1216 * mib}, // 800 + 240 + 128 = 1168 → 1216
	} {
		if got := imageSize(tc.used, 30); got != tc.want {
			t.Errorf("imageSize(%d MiB, 30) = %d MiB, want %d MiB", tc.used/mib, got/mib, tc.want/mib)
		}
	}
}

func TestFSUUID(t *testing.T) {
	u := fsUUID("0123456789abcdef")
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(u) {
		t.Errorf("fsUUID = %q, want a version-4 UUID", u)
	}
	if fsUUID("0123456789abcdef") != u || fsUUID("fedcba9876543210") == u {
		t.Errorf("fsUUID is not a function of the key")
	}
}

func TestPointsUnder(t *testing.T) {
	// Lines in /proc/self/mountinfo's format (proc(5)); the escaped
	// space is how the kernel writes one.
	const mountinfo = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
61 22 0:5 / /c/build-1/root/proc rw shared:30 - proc proc rw
62 22 0:20 / /c/build-1/root/sys rw shared:31 - sysfs sysfs rw
63 22 0:21 / /c/build-1/rootfs rw shared:32 - tmpfs tmpfs rw
64 22 0:22 / /c/build-1/root/my\040dir rw shared:33 - tmpfs tmpfs rw
`
	ms, err := procfs.ParseMountinfo([]byte(mountinfo))
	if err != nil {
		t.Fatal(err)
	}
	got := pointsUnder(ms, "/c/build-1/root/")
	want := []string{"/c/build-1/root/proc", "/c/build-1/root/sys", "/c/build-1/root/my dir"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pointsUnder (-want +got):\n%s", diff)
	}
}
