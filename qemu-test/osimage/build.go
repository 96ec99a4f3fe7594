package osimage

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/needle-boot/needle/internal/fileutil"
)

// builder runs one build in dir: the tree in dir/root, the results next
// to it.
type builder struct {
	o     Options
	rec   Recipe
	dir   string
	tree  string
	steps []Step
}

func (b *builder) step(name string, f func() error) error {
	start := time.Now()
	b.o.Log.Info("os image step", "step", name)
	err := f()
	b.steps = append(b.steps, Step{Name: name, Seconds: time.Since(start).Round(time.Millisecond).Seconds()})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// debootstrapArgs is the debootstrap command line for the recipe.
func debootstrapArgs(rec Recipe, tree, mirror string) []string {
	return []string{"--variant=" + rec.Variant, "--components=main",
		"--include=" + strings.Join(rec.Packages, ","), rec.Suite, tree, mirror}
}

// mkfsArgs is the mkfs.ext4 command line: the tree copied in by -d
// (e2fsprogs ≥ 1.43), the recipe's label, and a UUID derived from the
// recipe key so a plan can name root=UUID= for a given image.
func mkfsArgs(rec Recipe, uuid, tree, raw string) []string {
	return []string{"-F", "-q", "-t", "ext4", "-L", rec.Label, "-U", uuid, "-d", tree, raw}
}

func zstdArgs(raw, zst string) []string {
	return []string{"-T0", "-10", "-q", "-f", raw, "-o", zst}
}

// fsUUID derives a version-4-shaped UUID from the recipe key.
func fsUUID(key string) string {
	s := sha256.Sum256([]byte("needle osimage fs uuid " + key))
	u := s[:16]
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// imageSize sizes the filesystem for a tree using used bytes: the
// recipe's headroom on top, plus 128 MiB for the journal, inode tables and
// the 5% reserve, rounded up to 64 MiB.
func imageSize(used int64, headroom int) int64 {
	const mib = 1 << 20
	size := used + used*int64(headroom)/100 + 128*mib
	return (size + 64*mib - 1) / (64 * mib) * (64 * mib)
}

func (b *builder) build(ctx context.Context, mirror string) (Image, error) {
	r := b.o.Runner
	key, err := b.rec.Key()
	if err != nil {
		return Image{}, err
	}
	im := Image{Label: b.rec.Label, UUID: fsUUID(key), Mirror: mirror}
	if err := b.step("debootstrap", func() error {
		_, err := r.Run(ctx, "debootstrap", debootstrapArgs(b.rec, b.tree, mirror)...)
		return err
	}); err != nil {
		return im, err
	}
	if err := b.step("files", func() error { return b.place() }); err != nil {
		return im, err
	}
	if err := b.step("configure", func() error { return b.configure(ctx) }); err != nil {
		return im, err
	}
	if err := b.step("kernel", func() error {
		data, err := os.ReadFile(filepath.Join(b.tree, "etc/needle-image-kernel"))
		if err != nil {
			return err
		}
		im.Kernel = strings.TrimSpace(string(data))
		if err := fileutil.Copy(filepath.Join(b.tree, "boot/vmlinuz-"+im.Kernel), filepath.Join(b.dir, "vmlinuz")); err != nil {
			return err
		}
		return fileutil.Copy(filepath.Join(b.tree, "boot/initrd.img-"+im.Kernel), filepath.Join(b.dir, "initrd.img"))
	}); err != nil {
		return im, err
	}
	raw := filepath.Join(b.dir, "root.ext4")
	zst := raw + ".zst"
	if err := b.step("mkfs", func() error {
		used, err := treeUsage(b.tree)
		if err != nil {
			return err
		}
		im.TreeSize = used
		f, err := os.Create(raw)
		if err != nil {
			return err
		}
		err = f.Truncate(imageSize(used, b.rec.Headroom))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		_, err = r.Run(ctx, "mkfs.ext4", mkfsArgs(b.rec, im.UUID, b.tree, raw)...)
		return err
	}); err != nil {
		return im, err
	}
	if err := b.step("zstd", func() error {
		_, err := r.Run(ctx, "zstd", zstdArgs(raw, zst)...)
		return err
	}); err != nil {
		return im, err
	}
	if err := b.step("hash", func() error {
		var err error
		if im.SHA256, err = sha256File(zst); err != nil {
			return err
		}
		if im.RawSHA256, err = sha256File(raw); err != nil {
			return err
		}
		for p, dst := range map[string]*int64{raw: &im.RawSize, zst: &im.ZstSize} {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			*dst = st.Size()
		}
		return nil
	}); err != nil {
		return im, err
	}
	im.Steps = b.steps
	return im, nil
}

// place copies the recipe's files into the tree.
func (b *builder) place() error {
	for _, p := range b.rec.Files {
		data, err := files.ReadFile("files/" + p.Src)
		if err != nil {
			return fmt.Errorf("recipe file %s: %w", p.Src, err)
		}
		dst := filepath.Join(b.tree, p.Dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		// Replace, do not write through: the target may be a symlink
		// or a dpkg conffile.
		os.Remove(dst)
		if err := os.WriteFile(dst, data, p.Mode); err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
		if err := os.Chmod(dst, p.Mode); err != nil {
			return err
		}
	}
	return nil
}

// configure runs configure.sh in the tree. Deliberately without /proc:
// mdadm's initramfs hook, finding no ARRAY lines, would run mkconf, which
// scans the build host's /proc/mdstat and /proc/partitions and writes the
// host's arrays into the image's initrd. Without /proc mkconf fails and the
// hook keeps the image's own mdadm.conf (hooks/mdadm, "failed to
// auto-generate temporary mdadm.conf"). Nothing else run here needs /proc:
// no package is configured, and MODULES=most does not look at the host.
func (b *builder) configure(ctx context.Context) error {
	if _, err := b.o.Runner.Run(ctx, "chroot", b.tree, "/bin/sh", configureScript); err != nil {
		return err
	}
	return os.Remove(filepath.Join(b.tree, configureScript))
}

// removeTree deletes the debootstrap tree once nothing is mounted in it
// (lazily unmounting what a killed debootstrap left: its /proc and /sys).
// With a mount left it refuses: RemoveAll would descend into it.
func (b *builder) removeTree(ctx context.Context) error {
	if _, err := os.Lstat(b.tree); err != nil {
		return nil
	}
	mounts, err := mountsUnder(b.tree)
	if err != nil {
		return fmt.Errorf("remove tree %s: %w", b.tree, err)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		b.o.Runner.Run(uctx, "umount", "-l", m)
		cancel()
	}
	if mounts, err = mountsUnder(b.tree); err != nil || len(mounts) > 0 {
		return fmt.Errorf("remove tree %s: still mounted: %s (%v); left for inspection", b.tree, strings.Join(mounts, " "), err)
	}
	if err := os.RemoveAll(b.tree); err != nil {
		return fmt.Errorf("remove tree %s: %w", b.tree, err)
	}
	return nil
}

// treeUsage is the disk space the tree's files take (st_blocks, so sparse
// files count what they use), not following symlinks.
func treeUsage(root string) (int64, error) {
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			total += st.Blocks * 512
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", root, err)
	}
	return total, nil
}

// HumanSize renders a byte count in MiB, for logs and reports.
func HumanSize(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}
