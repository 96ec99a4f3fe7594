// Package osimage builds the operating system image the QEMU end-to-end
// tests install with needle: a real, bootable Debian bookworm root
// filesystem (debootstrap minbase plus kernel, systemd, udev and mdadm) in
// an ext4 image, compressed with zstd, cached between runs.
//
// The image boots by kexec from needle's handoff with a command line like
// "root=PARTUUID=… ro console=ttyS0": the initramfs-tools initrd carries
// MODULES=most and mdadm's hook (virtio, megaraid_sas + sd_mod, md RAID1),
// a serial getty runs on ttyS0, and needle-marker.service prints
//
//	NEEDLE-INSTALLED hostname=H marker=M md=md127:active:raid1 root=SRC kernel=KVER
//
// on the console before the login prompt, for the tests to assert on.
//
// Building needs root (debootstrap, chroot) and the host tools
// debootstrap, mkfs.ext4 and zstd; Ensure then returns an error wrapping
// ErrUnavailable and the caller decides between skip and fail. A cached
// image is returned without either.
package osimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/needle-boot/needle/internal/procfs"
	"github.com/needle-boot/needle/internal/testenv"
	"github.com/needle-boot/needle/internal/toolrun"
)

// ErrUnavailable: this machine cannot build the image (not root, or a
// build tool is missing).
var ErrUnavailable = errors.New("OS image cannot be built here")

// Options control Ensure. The zero value builds DefaultRecipe into
// <repo>/.cache/osimage with the mirror from /etc/apt.
type Options struct {
	// CacheDir holds one directory per recipe key; empty means
	// <repo>/.cache/osimage, the repo found from the working directory.
	CacheDir string
	// Mirror is the Debian archive; empty means $NEEDLE_DEBIAN_MIRROR,
	// then the apt sources under AptDir.
	Mirror string
	AptDir string // "/etc/apt" when empty
	Recipe *Recipe
	// LockFile is the build.lock that keys the cache (Recipe.Lock);
	// empty means <repo>/build.lock.
	LockFile string
	Log      *slog.Logger
	Runner   toolrun.Runner // ExecRunner{Log} when nil
	// Geteuid is os.Geteuid when nil (a seam for the "not root" path).
	Geteuid func() int
	// LookPath is exec.LookPath when nil.
	LookPath func(string) (string, error)
}

// Image is a built (or cached) OS image. Paths are absolute.
type Image struct {
	Key string `json:"key"` // the recipe's key, also the cache directory's name
	Dir string `json:"-"`
	// Raw is the ext4 filesystem image; Zst is it compressed with zstd,
	// the artifact needle downloads.
	Raw string `json:"-"`
	Zst string `json:"-"`
	// SHA256 is over the .zst as served (what the plan names);
	// RawSHA256 over the raw image (what lands on the disk).
	SHA256    string `json:"sha256"`
	RawSHA256 string `json:"raw_sha256"`
	RawSize   int64  `json:"raw_size"`
	ZstSize   int64  `json:"zst_size"`
	TreeSize  int64  `json:"tree_size"` // bytes the debootstrapped tree used
	// Kernel is the installed kernel's version; Vmlinuz and Initrd are
	// copies of its /boot files, for booting the image directly.
	Kernel  string `json:"kernel"`
	Vmlinuz string `json:"-"`
	Initrd  string `json:"-"`
	// Label and UUID identify the ext4 filesystem (root=UUID=… works).
	Label  string `json:"label"`
	UUID   string `json:"uuid"`
	Mirror string `json:"mirror"`
	// Steps are the build's timings, in order.
	Steps []Step `json:"steps"`
	// Cached: this call found the image instead of building it.
	Cached bool `json:"-"`
}

// Step is one timed build step.
type Step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Build returns the total build time.
func (im Image) Build() time.Duration {
	var s float64
	for _, st := range im.Steps {
		s += st.Seconds
	}
	return time.Duration(s * float64(time.Second))
}

const manifestName = "image.json"

// Ensure returns the image for the recipe, building it when the cache has
// none. Concurrent callers (several tests, several test binaries) wait on
// one lock file; the build happens in a temporary directory renamed into
// place, so a crashed build never leaves a half image behind.
func Ensure(ctx context.Context, opts Options) (Image, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Image{}, err
	}
	rec := DefaultRecipe()
	if o.Recipe != nil {
		rec = *o.Recipe
	}
	if rec.Lock == "" {
		lock, err := os.ReadFile(o.LockFile)
		if err != nil {
			return Image{}, fmt.Errorf("os image: the cache is keyed by build.lock: %w", err)
		}
		rec.Lock = fmt.Sprintf("%x", sha256.Sum256(lock))
	}
	key, err := rec.Key()
	if err != nil {
		return Image{}, err
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return Image{}, fmt.Errorf("os image cache: %w", err)
	}
	unlock, err := lock(ctx, filepath.Join(o.CacheDir, ".lock"), o.Log)
	if err != nil {
		return Image{}, err
	}
	defer unlock()

	dir := filepath.Join(o.CacheDir, key)
	if im, err := load(dir); err == nil {
		im.Cached = true
		o.Log.Info("os image cached", "dir", dir, "kernel", im.Kernel, "sha256", im.SHA256)
		return im, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		o.Log.Warn("os image cache entry unusable, rebuilding", "dir", dir, "err", err)
	}
	if err := o.preflight(); err != nil {
		return Image{}, err
	}
	mirror, err := o.mirror()
	if err != nil {
		return Image{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	prune(o.CacheDir, key, o.Log)
	tmp, err := os.MkdirTemp(o.CacheDir, "build-")
	if err == nil {
		// MkdirTemp makes it 0700; the images are for every user.
		err = os.Chmod(tmp, 0o755)
	}
	if err != nil {
		return Image{}, fmt.Errorf("os image build dir: %w", err)
	}
	b := builder{o: o, rec: rec, dir: tmp, tree: filepath.Join(tmp, "root")}
	im, err := b.build(ctx, mirror)
	if cerr := b.removeTree(ctx); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		// Keep nothing of a failed build unless the tree is still
		// mounted (removeTree refused): then keep it all for a human.
		if _, serr := os.Stat(b.tree); serr != nil {
			os.RemoveAll(tmp)
		}
		return Image{}, fmt.Errorf("os image %s: %w", key, err)
	}
	im.Key = key
	if err := writeManifest(tmp, im); err != nil {
		os.RemoveAll(tmp)
		return Image{}, err
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return Image{}, fmt.Errorf("os image: install %s: %w", dir, err)
	}
	im, err = load(dir)
	if err != nil {
		return Image{}, fmt.Errorf("os image: reading back %s: %w", dir, err)
	}
	o.Log.Info("os image built", "dir", dir, "build", im.Build().Round(time.Second), "raw", im.RawSize, "zst", im.ZstSize)
	return im, nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Runner == nil {
		o.Runner = ExecRunner{Log: o.Log}
	}
	if o.AptDir == "" {
		o.AptDir = "/etc/apt"
	}
	if o.Geteuid == nil {
		o.Geteuid = os.Geteuid
	}
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	if o.CacheDir == "" || o.LockFile == "" {
		root, err := testenv.FindRepo()
		if err != nil {
			return o, fmt.Errorf("os image cache: %w", err)
		}
		if o.CacheDir == "" {
			o.CacheDir = filepath.Join(root, ".cache", "osimage")
		}
		if o.LockFile == "" {
			o.LockFile = filepath.Join(root, "build.lock")
		}
	}
	return o, nil
}

// preflight names what this machine lacks to build.
func (o Options) preflight() error {
	if uid := o.Geteuid(); uid != 0 {
		return fmt.Errorf("%w: building needs root (debootstrap, chroot), running as uid %d", ErrUnavailable, uid)
	}
	var missing []string
	for _, t := range []string{"debootstrap", "chroot", "umount", "mkfs.ext4", "zstd"} {
		if _, err := o.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing %s (apt-get install debootstrap e2fsprogs zstd)", ErrUnavailable, strings.Join(missing, ", "))
	}
	return nil
}

func (o Options) mirror() (string, error) {
	if o.Mirror != "" {
		return o.Mirror, nil
	}
	if m := os.Getenv("NEEDLE_DEBIAN_MIRROR"); m != "" {
		return m, nil
	}
	rec := DefaultRecipe()
	if o.Recipe != nil {
		rec = *o.Recipe
	}
	src, err := FindMirror(o.AptDir, rec.Suite)
	if err != nil {
		return "", err
	}
	o.Log.Info("debian mirror from apt sources", "uri", src.URI, "file", src.File, "line", src.Line)
	return src.URI, nil
}

// load reads a finished cache entry and checks its files are there with
// the recorded sizes (hashing 2 GB on every call would cost seconds; the
// tests hash).
func load(dir string) (Image, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return Image{}, err
	}
	var im Image
	if err := json.Unmarshal(data, &im); err != nil {
		return Image{}, fmt.Errorf("%s: %w", filepath.Join(dir, manifestName), err)
	}
	im.Dir = dir
	im.Raw = filepath.Join(dir, "root.ext4")
	im.Zst = im.Raw + ".zst"
	im.Vmlinuz = filepath.Join(dir, "vmlinuz")
	im.Initrd = filepath.Join(dir, "initrd.img")
	for f, want := range map[string]int64{im.Raw: im.RawSize, im.Zst: im.ZstSize, im.Vmlinuz: -1, im.Initrd: -1} {
		st, err := os.Stat(f)
		if err != nil {
			return Image{}, fmt.Errorf("cache entry %s: %w", dir, err)
		}
		if want >= 0 && st.Size() != want {
			return Image{}, fmt.Errorf("cache entry %s: %s has %d bytes, manifest says %d", dir, f, st.Size(), want)
		}
	}
	return im, nil
}

func writeManifest(dir string, im Image) error {
	data, err := json.MarshalIndent(im, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, manifestName), append(data, '\n'), 0o644)
}

// prune removes other recipes' images and builds a crash left behind (the
// lock is held, so no build is running). Each entry is ~2 GB of disk.
func prune(cache, keep string, log *slog.Logger) {
	ents, err := os.ReadDir(cache)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || e.Name() == keep {
			continue
		}
		p := filepath.Join(cache, e.Name())
		if mounted, _ := mountsUnder(p); len(mounted) > 0 {
			log.Warn("stale os image build still has mounts, left alone", "dir", p, "mounts", mounted)
			continue
		}
		log.Info("removing stale os image", "dir", p)
		os.RemoveAll(p)
	}
}

// mountsUnder lists the mount points at or below dir (from
// /proc/self/mountinfo, field 5), so nothing is deleted through a bind
// mount of the host's /dev or /proc.
func mountsUnder(dir string) ([]string, error) {
	ms, err := procfs.Mounts("/proc")
	if err != nil {
		return nil, err
	}
	return pointsUnder(ms, dir), nil
}

func pointsUnder(ms []procfs.Mount, dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range ms {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
	}
	return out
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
