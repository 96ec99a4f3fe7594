//go:build !ramdisk

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/image"
)

// runBench dispatches `needle bench stream` and `needle bench fleet`
// (bench_fleet.go).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "fleet" {
		return runBenchFleet(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "stream" {
		fmt.Fprintln(stderr, "usage: needle bench stream [--size 2GiB] [--dir DIR] [--codecs zstd,xz,gzip]\n       needle bench fleet --clients N [--image-size 2GiB] [--restart-at 0.4]")
		return errors.New("bench: want the subcommand stream or fleet")
	}
	fs := newFlags("bench stream", stderr)
	sizeFlag := fs.String("size", "2GiB", "size of the test disk image (ext4, about half full)")
	dir := fs.String("dir", "", "cache directory for the image and its compressed copies (default: the user cache dir)")
	codecs := fs.String("codecs", "zstd,xz,gzip", "codecs to measure")
	reps := fs.Int("reps", 3, "runs of each measurement; the best counts")
	rss := fs.Bool("rss", true, "also measure peak RSS writing the image under a memory limit of a quarter of its size")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	size, err := disk.ParseSize(*sizeFlag)
	if err != nil {
		return fmt.Errorf("bench: --size: %w", err)
	}
	if size < 16<<20 || size%(1<<20) != 0 {
		return fmt.Errorf("bench: --size %s: want a whole number of MiB, at least 16MiB", *sizeFlag)
	}
	if *dir == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("bench: no --dir and no cache dir: %w", err)
		}
		*dir = filepath.Join(c, "needle", "bench")
	}
	b := &bench{dir: *dir, size: size, stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	return b.run(ctx, strings.Split(*codecs, ","), *reps, *rss, stdout)
}

// bench holds one run's paths; the image and its compressed copies are cached
// in dir (keyed by size) because building them takes longer than measuring.
type bench struct {
	dir    string
	size   int64
	stderr io.Writer
	log    *slog.Logger
}

// codecTool is a codec's host compressor and the pipeline's decompressor.
type codecTool struct {
	ext      string
	compress []string
	decomp   string
}

func codecTools(codec string) (codecTool, bool) {
	switch codec {
	case "zstd":
		return codecTool{".zst", []string{"zstd", "-q", "-c", "-T0", "-3"}, "zstd -dc"}, true
	case "xz":
		return codecTool{".xz", []string{"xz", "-z", "-c", "-T0", "-6"}, "xz -dc"}, true
	case "gzip":
		return codecTool{".gz", []string{"gzip", "-c", "-6"}, "gzip -dc"}, true
	}
	return codecTool{}, false
}

func (b *bench) run(ctx context.Context, codecs []string, reps int, rss bool, stdout io.Writer) error {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	img, imgSum, err := b.image(ctx)
	if err != nil {
		return fmt.Errorf("bench: build image: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("bench: listen: %w", err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(b.dir)), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/"

	out := filepath.Join(b.dir, "out.img")
	defer os.Remove(out)
	for _, codec := range codecs {
		tool, ok := codecTools(codec)
		if !ok {
			return fmt.Errorf("bench: unknown codec %q", codec)
		}
		comp, sum, err := b.compressed(ctx, img, codec)
		if err != nil {
			return fmt.Errorf("bench: %s: %w", codec, err)
		}
		url := base + filepath.Base(comp)
		// Warm the page cache for the served file so neither side pays
		// for reading it from disk.
		if _, err := fileSHA256(comp); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		// Best of reps runs each, interleaved, so a noisy neighbour on the
		// shared host hurts both sides alike.
		var pipe, plain, sparse time.Duration
		for range reps {
			d, err := b.pipeline(ctx, url, tool.decomp, out)
			if err != nil {
				return fmt.Errorf("bench: %s pipeline: %w", codec, err)
			}
			if err := checkOutput(out, imgSum); err != nil {
				return fmt.Errorf("bench: %s pipeline: %w", codec, err)
			}
			pipe = best(pipe, d)
			d, err = b.needle(ctx, url, sum, out, false)
			if err != nil {
				return fmt.Errorf("bench: %s needle: %w", codec, err)
			}
			if err := checkOutput(out, imgSum); err != nil {
				return fmt.Errorf("bench: %s needle: %w", codec, err)
			}
			plain = best(plain, d)
			d, err = b.needle(ctx, url, sum, out, true)
			if err != nil {
				return fmt.Errorf("bench: %s needle sparse: %w", codec, err)
			}
			if err := checkOutput(out, imgSum); err != nil {
				return fmt.Errorf("bench: %s needle sparse: %w", codec, err)
			}
			sparse = best(sparse, d)
		}
		fmt.Fprintf(stdout, "stream %s: needle %.0f MB/s, pipeline %.0f MB/s, ratio %.2f, sparse ratio %.2f\n",
			codec, b.mbps(plain), b.mbps(pipe), pipe.Seconds()/plain.Seconds(), pipe.Seconds()/sparse.Seconds())
	}
	if rss {
		// Peak RSS per codec: the parallel xz decoder holds the most.
		for _, codec := range codecs {
			comp, sum, err := b.compressed(ctx, img, codec)
			if err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			peak, limit, err := b.peakRSS(ctx, base+filepath.Base(comp), sum, out)
			if err != nil {
				return fmt.Errorf("bench: rss %s: %w", codec, err)
			}
			fmt.Fprintf(stdout, "rss %s: peak %d MiB writing a %d MiB image with a memory limit of %d MiB\n",
				codec, peak>>20, b.size>>20, limit>>20)
		}
	}
	return nil
}

func best(a, b time.Duration) time.Duration {
	if a == 0 || b < a {
		return b
	}
	return a
}

func (b *bench) mbps(d time.Duration) float64 { return float64(b.size) / 1e6 / d.Seconds() }

// image builds (once) a whole-disk image: a GPT with one Linux partition
// from 1 MiB holding an ext4 filled about half with generated files, a mix
// of text-like (compressible) and random (incompressible) data, the rest of
// the filesystem zeros, as a freshly installed root looks.
func (b *bench) image(ctx context.Context) (string, string, error) {
	img := filepath.Join(b.dir, fmt.Sprintf("disk-%dMiB.img", b.size>>20))
	sumFile := img + ".sha256"
	if s, err := os.ReadFile(sumFile); err == nil {
		return img, strings.TrimSpace(string(s)), nil
	}
	fmt.Fprintf(b.stderr, "bench: building %s (cached for later runs)\n", img)
	files := img + ".files"
	if err := os.RemoveAll(files); err != nil {
		return "", "", err
	}
	defer os.RemoveAll(files)
	if err := genFiles(files, b.size*45/100); err != nil {
		return "", "", err
	}
	f, err := os.Create(img)
	if err != nil {
		return "", "", err
	}
	err = f.Truncate(b.size)
	f.Close()
	if err != nil {
		return "", "", err
	}
	sf := exec.CommandContext(ctx, "sfdisk", "--quiet", img)
	sf.Stdin = strings.NewReader("label: gpt\nstart=2048, type=linux, name=root\n")
	if out, err := sf.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("sfdisk: %w: %s", err, out)
	}
	fsKiB := (b.size - 2<<20) >> 10
	mk := exec.CommandContext(ctx, "mkfs.ext4", "-q", "-F", "-b", "4096", "-E", "offset=1048576", "-d", files,
		img, strconv.FormatInt(fsKiB, 10)+"k")
	if out, err := mk.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("mkfs.ext4: %w: %s", err, out)
	}
	sum, err := fileSHA256(img)
	if err != nil {
		return "", "", err
	}
	return img, sum, os.WriteFile(sumFile, []byte(sum+"\n"), 0o644)
}

// genFiles writes total bytes of files under dir: two thirds text-like
// (words from a small vocabulary, compresses about 4:1), one third random.
func genFiles(dir string, total int64) error {
	rng := rand.New(rand.NewPCG(42, 7))
	words := strings.Fields("the of and to in is that for it as with was on be by kernel module disk " +
		"partition image stream needle server boot initramfs config usr lib share bin etc var log")
	var written int64
	for i := 0; written < total; i++ {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%16))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		n := min(int64(64<<10+rng.IntN(8<<20)), total-written)
		f, err := os.Create(filepath.Join(sub, fmt.Sprintf("f%05d", i)))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		if i%3 == 2 {
			var buf [8]byte
			for j := int64(0); j < n; j += 8 {
				v := rng.Uint64()
				for k := range buf {
					buf[k] = byte(v >> (8 * k))
				}
				w.Write(buf[:min(8, n-j)])
			}
		} else {
			for j := int64(0); j < n; {
				word := words[rng.IntN(len(words))]
				if rng.IntN(12) == 0 {
					word += "\n"
				} else {
					word += " "
				}
				k := min(int64(len(word)), n-j)
				w.WriteString(word[:k])
				j += k
			}
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		written += n
	}
	return nil
}

// compressed makes (once) img compressed with codec's host tool and returns
// its path and sha256.
func (b *bench) compressed(ctx context.Context, img, codec string) (string, string, error) {
	t, _ := codecTools(codec)
	out := img + t.ext
	if _, err := os.Stat(out); err != nil {
		// Compress into a temporary file and rename it: an interrupted
		// run must not leave a truncated file that looks cached.
		fmt.Fprintf(b.stderr, "bench: compressing with %s\n", codec)
		tmp := out + ".tmp"
		f, err := os.Create(tmp)
		if err != nil {
			return "", "", err
		}
		var msg bytes.Buffer
		c := exec.CommandContext(ctx, t.compress[0], append(append([]string{}, t.compress[1:]...), img)...)
		c.Stdout, c.Stderr = f, &msg
		err = c.Run()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, out)
		}
		if err != nil {
			os.Remove(tmp)
			return "", "", fmt.Errorf("%s: %w: %s", t.compress[0], err, msg.String())
		}
	}
	sum, err := fileSHA256(out)
	return out, sum, err
}

// pipeline times `curl -s URL | DECOMP | dd of=OUT bs=4M conv=fsync`.
func (b *bench) pipeline(ctx context.Context, url, decomp, out string) (time.Duration, error) {
	if err := removeSynced(out); err != nil {
		return 0, err
	}
	script := fmt.Sprintf("set -o pipefail; curl -sf %q | %s | dd of=%q bs=4M conv=fsync status=none", url, decomp, out)
	start := time.Now()
	c := exec.CommandContext(ctx, "bash", "-c", script)
	if msg, err := c.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", script, err, msg)
	}
	return time.Since(start), nil
}

// needle times image.Write onto a new file through image.SyncedFile, as
// the install writes a disk: without sparse skipping every
// byte is written, like dd; with it the file is created at full size (a
// sparse file reads back zeros, as a discarded disk does) and zero blocks
// are skipped.
func (b *bench) needle(ctx context.Context, url, sum, out string, sparse bool) (time.Duration, error) {
	if err := removeSynced(out); err != nil {
		return 0, err
	}
	start := time.Now()
	f, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if sparse {
		if err := f.Truncate(b.size); err != nil {
			return 0, err
		}
	}
	dst := image.NewSyncedFile(f, out) // the install's writer
	_, err = image.Write(ctx, dst, image.Source{URL: url, Hash: "sha256:" + sum}, image.Options{Zeroed: sparse, Logger: b.log})
	if err != nil {
		return 0, err
	}
	d := time.Since(start)
	return d, f.Close()
}

// peakRSS writes the image under a Go memory limit of a quarter of its size
// and reads the peak RSS (VmHWM) of this process. The high-water mark is
// reset first through /proc/self/clear_refs ("5", Linux 4.0+,
// Documentation/filesystems/proc.rst), so building the image does not count.
func (b *bench) peakRSS(ctx context.Context, url, sum, out string) (peak, limit int64, err error) {
	limit = b.size / 4
	old := debug.SetMemoryLimit(limit)
	defer debug.SetMemoryLimit(old)
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return 0, 0, fmt.Errorf("reset peak RSS: %w", err)
	}
	if _, err := b.needle(ctx, url, sum, out, false); err != nil {
		return 0, 0, err
	}
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, 0, fmt.Errorf("/proc/self/status VmHWM %q: %w", v, err)
			}
			return kb << 10, limit, nil
		}
	}
	return 0, 0, errors.New("/proc/self/status has no VmHWM")
}

// removeSynced deletes the previous run's output and commits the deletion
// (a syncfs of its filesystem), so freeing its blocks is not billed to the
// next timed run.
func removeSynced(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	d, err := os.Open(filepath.Dir(p))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", filepath.Dir(p), err)
	}
	return nil
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return "", fmt.Errorf("hash %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkOutput compares the written file with the image's sha256.
func checkOutput(p, want string) error {
	got, err := fileSHA256(p)
	if err != nil {
		return err
	}
	if !bytes.Equal([]byte(got), []byte(want)) {
		return fmt.Errorf("%s has sha256 %s, the image %s", p, got, want)
	}
	return nil
}
