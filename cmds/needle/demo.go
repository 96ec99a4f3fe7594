package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/needle-boot/needle/internal/qemu"
)

// runDemo boots the built image in QEMU on the terminal with an embedded
// default configuration, so a newcomer sees needle's stages with one
// command (./build.sh demo).
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	kernel := fs.String("kernel", "out/vmlinuz", "kernel `FILE`")
	initrd := fs.String("initrd", "out/needle.cpio.zst", "initramfs `FILE`")
	appendArgs := fs.String("append", "", "extra kernel arguments, e.g. needle.shell or needle.break=inventory")
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
		Kernel: *kernel, Initrd: *initrd,
		// The demo box: a Dell PowerEdge C5220 name in DMI, one virtio
		// NIC on slirp.
		Append: strings.TrimSpace("quiet needle.onfail=poweroff " + *appendArgs),
		NICs:   []qemu.NIC{{MAC: "52:54:00:12:34:56"}},
		SMBIOS: []string{"type=1,manufacturer=Dell Inc.,product=PowerEdge C5220,serial=DEMO0001"},
	}
	argv := cfg.Argv(qemu.Accel(*kernel))
	fmt.Fprintf(stdout, "needle demo: qemu-system-x86_64 %s\n", qemu.Quote(argv))
	if *dry {
		return nil
	}
	fmt.Fprintf(stdout, "needle demo: the console follows; at the shell, 'poweroff' ends the demo\n\n")
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", argv...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("demo: qemu-system-x86_64: %w", err)
	}
	return nil
}
