package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/fetch"
	"github.com/needle-boot/needle/internal/image"
	"github.com/needle-boot/needle/internal/install"
)

// runImage is `needle image write`: the install's image writer by hand,
// for the rescue shell (re-image one disk after a failed install) and for
// `needle bench fleet`, whose clients are this verb.
func runImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "write" {
		return errors.New("image: want a subcommand: needle image write --url URL --sha256 HEX|--sha512 HEX --to FILE|DEVICE [--size N]")
	}
	return runImageWrite(ctx, args[1:], stdout, stderr)
}

func runImageWrite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("image write", stderr)
	url := fl.String("url", "", "the image: http(s) URL (zstd, xz, gzip or raw, told by its magic)")
	sha256 := fl.String("sha256", "", "sha256 of the file as served (compressed), as `sha256sum image.zst` prints it")
	sha512 := fl.String("sha512", "", "sha512 of the file as served, instead of --sha256")
	to := fl.String("to", "", "target: a block device (opened exclusively) or a file (created or truncated)")
	sizeFlag := fl.String("size", "", "target size, e.g. 500GB (default: a device's size; a file's is unknown); a whole-disk GPT's backup header moves to its end")
	zeroed := fl.Bool("zeroed", false, "the target already reads back zeros (a discarded disk): skip writing zero blocks")
	keepGPT := fl.Bool("keep-gpt", false, "never move a GPT's backup header (a partition image)")
	ca := fl.String("ca", "/etc/needle/"+install.CAFile, "extra CA certificates (PEM) trusted besides the system's, as the install does (\"\": none)")
	debug := fl.Bool("debug", false, "log every connection and resume")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 0 {
		return fmt.Errorf("image write: unexpected arguments %q", fl.Args())
	}
	var hash string
	switch {
	case *url == "" || *to == "":
		return errors.New("image write: --url and --to are required")
	case *sha256 != "" && *sha512 != "":
		return errors.New("image write: give --sha256 or --sha512, not both")
	case *sha256 != "":
		hash = "sha256:" + strings.ToLower(*sha256)
	case *sha512 != "":
		hash = "sha512:" + strings.ToLower(*sha512)
	default:
		return errors.New("image write: --sha256 or --sha512 is required: every image needle writes is verified")
	}
	if !strings.HasPrefix(*url, "http://") && !strings.HasPrefix(*url, "https://") {
		return fmt.Errorf("image write: --url %q: want an http:// or https:// URL", *url)
	}
	var size int64
	if *sizeFlag != "" {
		s, err := disk.ParseSize(*sizeFlag)
		if err != nil {
			return fmt.Errorf("image write: --size: %w", err)
		}
		size = s
	}
	var caFiles []string
	if *ca != "" {
		caFiles = append(caFiles, *ca)
	}
	hc, err := fetch.HTTPClient(caFiles...)
	if err != nil {
		return fmt.Errorf("image write: --ca: %w", err)
	}
	f, devSize, err := openTarget(*to)
	if err != nil {
		return fmt.Errorf("image write: %w", err)
	}
	defer f.Close()
	if size == 0 {
		size = devSize
	} else if devSize > 0 && size > devSize {
		return fmt.Errorf("image write: --size %d is larger than %s (%d bytes)", size, *to, devSize)
	}

	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	name := *to
	opts := install.ImageOptions(size, *zeroed, *keepGPT, log, func(p image.Progress) {
		fmt.Fprintln(stdout, install.ProgressLine(name, p))
	})
	fmt.Fprintf(stdout, "%s → %s\n", *url, name)
	res, err := image.Write(ctx, image.NewSyncedFile(f, name), image.Source{URL: *url, Hash: hash, Client: hc}, opts)
	if err != nil {
		return fmt.Errorf("image write to %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("image write: close %s: %w", name, err)
	}
	_, err = fmt.Fprintln(stdout, install.ResultLine(name, res))
	return err
}

// openTarget opens a block device exclusively, as the install does (EBUSY
// while anything holds it: a mounted filesystem, an md array, LVM), and
// returns its size; or creates or truncates a file (size 0: unknown).
func openTarget(p string) (*os.File, int64, error) {
	st, err := os.Stat(p)
	if err == nil && st.Mode()&os.ModeDevice != 0 {
		if st.Mode()&os.ModeCharDevice != 0 {
			return nil, 0, fmt.Errorf("%s is a character device, want a block device or a file", p)
		}
		f, err := os.OpenFile(p, os.O_RDWR|unix.O_EXCL, 0)
		if errors.Is(err, unix.EBUSY) {
			return nil, 0, fmt.Errorf("%s is in use (mounted, part of an md array or held by device-mapper): %w", p, err)
		}
		if err != nil {
			return nil, 0, err
		}
		size, err := f.Seek(0, io.SeekEnd)
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("size of %s: %w", p, err)
		}
		return f, size, nil
	}
	if err == nil && st.IsDir() {
		return nil, 0, fmt.Errorf("%s is a directory, want a block device or a file", p)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, 0, err
	}
	return f, 0, nil
}
