package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/needle-boot/needle/internal/handoff"
	"github.com/needle-boot/needle/internal/plan"
)

// refFlags collects repeated --ref KIND:NAME=VALUE flags.
type refFlags handoff.Refs

func (r refFlags) String() string { return "" }

func (r refFlags) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || !strings.Contains(k, ":") {
		return fmt.Errorf("want KIND:NAME=VALUE, as partuuid:root=6c0e7e5a-03")
	}
	r[k] = v
	return nil
}

// runHandoff implements "needle handoff find|kexec": find prints what the
// handoff would boot from an installed system mounted at --root (and
// --boot), as the exact kexec_file_load call and the kexec-tools command
// doing the same; kexec does it, for the ramdisk shell after a repair.
func runHandoff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	usage := "usage: needle handoff find|kexec --root DIR [--boot DIR] [--kernel P] [--initrd P] [--cmdline S] [--ref KIND:NAME=VALUE]… [--json]"
	if len(args) == 0 || (args[0] != "find" && args[0] != "kexec") {
		fmt.Fprintln(stderr, usage)
		return errors.New("handoff: want the subcommand find or kexec")
	}
	verb := args[0]
	fs := newFlags("handoff "+verb, stderr)
	root := fs.String("root", "", "where the installed root filesystem is mounted")
	boot := fs.String("boot", "", "where its /boot partition is mounted, when separate")
	kernel := fs.String("kernel", "", "kernel path on the installed system (default: find it)")
	initrd := fs.String("initrd", "", "initrd path on the installed system")
	cmdline := fs.String("cmdline", "", "kernel command line, with ${partuuid:NAME} style references (default: the entry's)")
	fallback := fs.String("fallback", "fail", "kexec only: when the kernel refuses kexec, reboot or fail")
	asJSON := fs.Bool("json", false, "find only: print the action as JSON")
	debug := fs.Bool("v", false, "log how the entry was chosen")
	refs := refFlags{}
	fs.Var(refs, "ref", "a reference value for --cmdline, KIND:NAME=VALUE (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *root == "" || fs.NArg() != 0 {
		fs.Usage()
		return fmt.Errorf("handoff %s: want --root DIR and no arguments", verb)
	}
	// Absolute, so the mount table (absolute paths) can be matched.
	for _, p := range []*string{root, boot} {
		if *p != "" {
			abs, err := filepath.Abs(*p)
			if err != nil {
				return fmt.Errorf("handoff %s: %w", verb, err)
			}
			*p = abs
		}
	}
	level := slog.LevelWarn
	if *debug {
		level = slog.LevelDebug
	}
	h := &handoff.Handoff{
		Boot: &plan.Boot{Kexec: &plan.Kexec{Root: "root", Kernel: *kernel, Initrd: *initrd, Cmdline: *cmdline, Fallback: *fallback}},
		Mount: func(context.Context, string) (string, error) {
			return *root, nil
		},
		Refs: handoff.Refs(refs),
		Log:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if *boot != "" {
		h.MountSpec = func(context.Context, string, string) (string, error) { return *boot, nil }
	}
	a, err := h.Prepare(ctx)
	if err != nil {
		return err
	}
	if verb == "find" {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			return enc.Encode(a)
		}
		_, err := a.WriteTo(stdout)
		return err
	}
	if _, err := a.WriteTo(stdout); err != nil {
		return err
	}
	// Everything under --root is unmounted before the jump.
	h.MountRoot = *root
	h.Sys = handoff.SysLinux("/proc")
	h.LockdownPath = "/sys/kernel/security/lockdown"
	h.KexecDisabledPath = "/proc/sys/kernel/kexec_load_disabled"
	return h.Run(ctx, a)
}
