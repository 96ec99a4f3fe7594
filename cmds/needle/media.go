package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/media"
)

// systemdBootCandidates are where `needle usb` and `needle iso` look for
// systemd-boot when --systemd-boot is not given: the build cache (Debian's
// systemd-boot-efi unpacked, as qemu-test does it) and the host's own.
var systemdBootCandidates = []string{
	".cache/systemd-boot/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
	"/usr/lib/systemd/boot/efi/systemd-bootx64.efi",
}

const systemdBootHint = "pass --systemd-boot FILE, or: mkdir -p .cache/debs && (cd .cache/debs && apt-get download systemd-boot-efi) && dpkg-deb -x .cache/debs/systemd-boot-efi_*.deb .cache/systemd-boot"

// artifactFlags are the kernel and initramfs flags every media command has.
type artifactFlags struct {
	kernel, initrd, appendArgs *string
}

func addArtifactFlags(fs *flag.FlagSet) artifactFlags {
	return artifactFlags{
		kernel:     fs.String("kernel", "out/vmlinuz", "the kernel"),
		initrd:     fs.String("initrd", "out/needle.cpio.zst", "needle's initramfs"),
		appendArgs: fs.String("append", "", "extra kernel arguments (console=ttyS0,115200, needle.shell, …)"),
	}
}

func (a artifactFlags) check() error {
	for _, f := range []string{*a.kernel, *a.initrd} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%w (run ./build.sh, or pass --kernel/--initrd)", err)
		}
	}
	return nil
}

func runNetboot(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("netboot", stderr)
	out := fs.String("out", "", "directory to write (created)")
	server := fs.String("server", "", "base URL the loader fetches vmlinuz and initrd from (default: relative to the script, i.e. the TFTP server)")
	plan := fs.String("plan-url", "", "needle.plan= template, e.g. http://10.0.0.1/plans/${mac}.yaml")
	af := addArtifactFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("netboot: --out DIR is required and takes no arguments")
	}
	if err := af.check(); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	written, err := media.WriteNetboot(*out, media.Netboot{Kernel: *af.kernel, Initrd: *af.initrd, Server: *server,
		PlanURL: *plan, Append: *af.appendArgs})
	if err != nil {
		return err
	}
	for _, w := range written {
		fmt.Fprintln(stdout, filepath.Join(*out, w))
	}
	return nil
}

// stickFlags are the flags `needle usb` and `needle iso` share.
func stickFlags(fs *flag.FlagSet) (func() (media.Stick, error), *string) {
	out := fs.String("out", "", "image file to write")
	plan := fs.String("plan", "", "plan to put on the medium (PLAN.sig goes along when present)")
	hwdb := fs.String("hwdb-extra", "", "directory of extra hwdb rules (*.yaml) to put on the medium")
	loader := fs.String("systemd-boot", "", "systemd-boot EFI binary (default: "+systemdBootCandidates[0]+" or the host's)")
	af := addArtifactFlags(fs)
	return func() (media.Stick, error) {
		if *out == "" || fs.NArg() != 0 {
			fs.Usage()
			return media.Stick{}, errors.New("--out FILE is required and takes no arguments")
		}
		if err := af.check(); err != nil {
			return media.Stick{}, err
		}
		l := *loader
		if l == "" {
			for _, c := range systemdBootCandidates {
				if _, err := os.Stat(c); err == nil {
					l = c
					break
				}
			}
			if l == "" {
				return media.Stick{}, errors.New("systemd-boot not found: " + systemdBootHint)
			}
		}
		return media.Stick{Kernel: *af.kernel, Initrd: *af.initrd, Loader: l, Plan: *plan, HWDBExtra: *hwdb,
			Append: *af.appendArgs, Log: slog.New(slog.DiscardHandler)}, nil
	}, out
}

func runUSB(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("usb", stderr)
	stick, out := stickFlags(fs)
	size := fs.String("size", "", "image size (e.g. 256MiB; default: as small as the content allows)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := stick()
	if err != nil {
		return fmt.Errorf("usb: %w", err)
	}
	var n int64
	if *size != "" {
		if n, err = disk.ParseSize(*size); err != nil {
			return fmt.Errorf("usb: --size: %w", err)
		}
	}
	img, err := s.USB(*out, n)
	if err != nil {
		return fmt.Errorf("usb: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %s, GPT disk %s, ESP %s at %d (PARTUUID %s, label %s)\n", img.Path, disk.FormatSize(img.Size),
		img.DiskGUID, disk.FormatSize(img.ESPSize), img.ESPStart, img.PartUUID, media.Label)
	for _, c := range img.Contents {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	fmt.Fprintf(stdout, "write it with: dd if=%s of=/dev/sdX bs=4M conv=fsync\n", img.Path)
	return nil
}

func runISO(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("iso", stderr)
	stick, _ := stickFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := stick()
	if err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	out := fs.Lookup("out").Value.String()
	img, err := s.ISO(out)
	if err != nil {
		return fmt.Errorf("iso: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %s (ISO9660 %s), El Torito UEFI image %s at %d, hybrid GPT ESP %s\n", img.Path,
		disk.FormatSize(img.Size), disk.FormatSize(img.ISOBytes), media.EFIImagePath, img.EFIImage, img.PartUUID)
	for _, c := range img.Contents {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	return nil
}
