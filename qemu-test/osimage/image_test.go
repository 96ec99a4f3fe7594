package osimage_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/testenv"
	"github.com/needle-boot/needle/qemu-test/osimage"
)

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// requireImage builds (or finds) the real image. Without root or the build
// tools it skips, saying why; with NEEDLE_QEMU=required it fails instead.
func requireImage(t *testing.T) osimage.Image {
	t.Helper()
	stop := func(format string, args ...any) { t.Helper(); testenv.Unavailable(t, format, args...) }
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	im, err := osimage.Ensure(ctx, osimage.Options{Log: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	if errors.Is(err, osimage.ErrUnavailable) {
		stop("OS IMAGE NOT BUILT, test not run: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if im.Cached {
		t.Logf("os image %s: cached, Ensure took %s", im.Dir, time.Since(start).Round(time.Millisecond))
	} else {
		t.Logf("os image %s: built in %s (steps %v)", im.Dir, im.Build().Round(time.Second), im.Steps)
	}
	t.Logf("kernel %s; raw %s (tree %s), zst %s; sha256(zst) %s; fs UUID %s", im.Kernel,
		osimage.HumanSize(im.RawSize), osimage.HumanSize(im.TreeSize), osimage.HumanSize(im.ZstSize), im.SHA256, im.UUID)
	return im
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// TestImage checks the built image with host oracles: e2fsck, dumpe2fs,
// debugfs reading files and links inside it, the initrd's file list, and
// the hashes of both artifacts.
func TestImage(t *testing.T) {
	im := requireImage(t)
	for _, tool := range []string{"e2fsck", "dumpe2fs", "debugfs", "cpio", "zstd"} {
		testenv.HostTool(t, tool)
	}
	debugfs := func(req string) string { return run(t, "debugfs", "-R", req, im.Raw) }

	t.Run("e2fsck", func(t *testing.T) {
		run(t, "e2fsck", "-fn", im.Raw)
	})
	t.Run("superblock", func(t *testing.T) {
		out := run(t, "dumpe2fs", "-h", im.Raw)
		field := func(name string) string {
			m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:\s*(.*)$`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("dumpe2fs -h: no %q", name)
			}
			return strings.TrimSpace(m[1])
		}
		if got := field("Filesystem volume name"); got != "needle-root" {
			t.Errorf("label = %q, want needle-root", got)
		}
		if got := field("Filesystem UUID"); got != im.UUID {
			t.Errorf("UUID = %q, want %q (manifest)", got, im.UUID)
		}
		blocks, _ := strconv.ParseFloat(field("Block count"), 64)
		free, _ := strconv.ParseFloat(field("Free blocks"), 64)
		if blocks == 0 || free/blocks < 0.2 {
			t.Errorf("free blocks %v of %v: want at least 20%% headroom", free, blocks)
		}
		t.Logf("filesystem %s: %.0f%% free", osimage.HumanSize(im.RawSize), 100*free/blocks)
	})
	t.Run("links", func(t *testing.T) {
		for _, tc := range []struct{ path, target string }{
			{"/boot/vmlinuz", "vmlinuz-" + im.Kernel},
			{"/boot/initrd.img", "initrd.img-" + im.Kernel},
			{"/vmlinuz", "boot/vmlinuz-" + im.Kernel},
			{"/initrd.img", "boot/initrd.img-" + im.Kernel},
			{"/etc/systemd/system/multi-user.target.wants/needle-marker.service", "/etc/systemd/system/needle-marker.service"},
			{"/etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service", "/lib/systemd/system/serial-getty@.service"},
		} {
			out := debugfs("stat " + tc.path)
			if !strings.Contains(out, "Type: symlink") || !strings.Contains(out, `Fast link dest: "`+tc.target+`"`) {
				t.Errorf("debugfs stat %s: want a symlink to %q, got:\n%s", tc.path, tc.target, out)
			}
		}
		ls := debugfs("ls -l /boot")
		for _, f := range []string{"vmlinuz-" + im.Kernel, "initrd.img-" + im.Kernel} {
			if !strings.Contains(ls, f) {
				t.Errorf("debugfs ls -l /boot lacks %s:\n%s", f, ls)
			}
		}
	})
	t.Run("files", func(t *testing.T) {
		for _, tc := range []struct{ path, want string }{
			{"/etc/hostname", `^debian\n$`},
			{"/etc/shadow", `(?m)^root::`}, // empty password: the serial login works
			{"/etc/fstab", `(?m)^LABEL=needle-root\s+/\s+ext4\s`},
			{"/etc/mdadm/mdadm.conf", `(?m)^HOMEHOST <ignore>$`},
			{"/etc/initramfs-tools/conf.d/needle.conf", `(?m)^MODULES=most$`},
			{"/etc/systemd/system/needle-marker.service", `(?m)^ExecStart=/usr/local/sbin/needle-marker$`},
			{"/usr/local/sbin/needle-marker", `NEEDLE-INSTALLED hostname=`},
			{"/etc/machine-id", `^$`},
		} {
			got := debugfs("cat " + tc.path)
			if !regexp.MustCompile(tc.want).MatchString(got) {
				t.Errorf("debugfs cat %s = %q, want a match for %q", tc.path, got, tc.want)
			}
		}
		if out := debugfs("stat /needle-configure.sh"); strings.Contains(out, "Inode:") {
			t.Errorf("the build script is left in the image:\n%s", out)
		}
		if out := debugfs("stat /usr/local/sbin/needle-marker"); !strings.Contains(out, "Mode:  0755") {
			t.Errorf("needle-marker is not executable:\n%s", out)
		}
	})
	t.Run("initrd", func(t *testing.T) {
		// The copy next to the image is the installed one.
		dumped := filepath.Join(t.TempDir(), "initrd")
		debugfs("dump /boot/initrd.img-" + im.Kernel + " " + dumped)
		if a, b := fileHash(t, dumped), fileHash(t, im.Initrd); a != b {
			t.Errorf("initrd in the image (%s) differs from %s (%s)", a, im.Initrd, b)
		}
		list := pipe(t, "zstd -dc "+im.Initrd+" | cpio -t --quiet")
		for _, want := range []string{
			"usr/sbin/mdadm", "scripts/local-block/mdadm", "etc/mdadm/mdadm.conf",
			"usr/lib/udev/rules.d/64-md-raid-assembly.rules", "usr/sbin/e2fsck",
			"/kernel/drivers/md/raid1.ko", "/kernel/drivers/block/virtio_blk.ko", "/kernel/drivers/scsi/virtio_scsi.ko",
			"/kernel/drivers/scsi/megaraid/megaraid_sas.ko", "/kernel/drivers/scsi/sd_mod.ko",
			"/kernel/drivers/scsi/mpt3sas/mpt3sas.ko", "/kernel/drivers/nvme/host/nvme.ko", "/kernel/fs/ext4/ext4.ko",
		} {
			if !regexp.MustCompile(`(?m)` + regexp.QuoteMeta(want) + `$`).MatchString(list) {
				t.Errorf("initrd lacks %s", want)
			}
		}
		// The initrd's mdadm.conf is the image's own (no build-host arrays).
		conf := pipe(t, "cd "+t.TempDir()+" && zstd -dc "+im.Initrd+" | cpio -i --quiet --to-stdout etc/mdadm/mdadm.conf")
		if !strings.Contains(conf, "HOMEHOST <ignore>") || strings.Contains(conf, "\nARRAY") {
			t.Errorf("initrd etc/mdadm/mdadm.conf:\n%s\nwant the image's (HOMEHOST <ignore>, no ARRAY)", conf)
		}
	})
	t.Run("hashes", func(t *testing.T) {
		if got := fileHash(t, im.Zst); got != im.SHA256 {
			t.Errorf("sha256(%s) = %s, want %s", im.Zst, got, im.SHA256)
		}
		// The .zst decompresses to exactly the raw image.
		cmd := exec.Command("zstd", "-dc", im.Zst)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		n, _ := io.Copy(h, out)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("zstd -dc %s: %v", im.Zst, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != im.RawSHA256 || n != im.RawSize {
			t.Errorf("zstd -dc %s: %d bytes sha256 %s, want %d bytes %s", im.Zst, n, got, im.RawSize, im.RawSHA256)
		}
	})
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func pipe(t *testing.T, script string) string {
	t.Helper()
	return run(t, "bash", "-c", "set -o pipefail; "+script)
}
