package handoff

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/shell"
)

// Values from include/uapi/linux/reboot.h and include/uapi/linux/kexec.h,
// kept here so the package builds (and its dry run works) off Linux.
const (
	RebootCmdKexec   = 0x45584543 // LINUX_REBOOT_CMD_KEXEC
	RebootCmdRestart = 0x01234567 // LINUX_REBOOT_CMD_RESTART

	KexecFileNoInitramfs = 0x4 // KEXEC_FILE_NO_INITRAMFS

	// commandLineSize is x86's COMMAND_LINE_SIZE (arch/x86/include/asm/setup.h);
	// bzImage64_load refuses a longer line with EINVAL.
	commandLineSize = 2048
)

// Sys is the kernel interface of the handoff. SysLinux returns the real
// one; tests give fakes that record calls.
type Sys struct {
	// KexecFileLoad is kexec_file_load(2); initrdFd is -1 with
	// KexecFileNoInitramfs in flags.
	KexecFileLoad func(kernelFd, initrdFd int, cmdline string, flags int) error
	// Reboot is reboot(2) with a LINUX_REBOOT_CMD_*.
	Reboot func(cmd int) error
	// Mounts lists the mount points, in mount order (/proc/self/mountinfo).
	Mounts func() ([]string, error)
	// Unmount unmounts one mount point.
	Unmount func(target string) error
	// Sync flushes every filesystem (sync(2)).
	Sync func()
}

// Handoff hands the machine to the installed system as the plan's boot
// section says.
type Handoff struct {
	Boot *plan.Boot
	// Mount mounts a plan filesystem reference (boot.kexec.root) and
	// returns its directory, under MountRoot.
	Mount func(ctx context.Context, ref string) (string, error)
	// MountSpec mounts an fstab source (UUID=…, PARTUUID=…, LABEL=…,
	// /dev/…) of type fstype, for a separate /boot; nil when the caller
	// cannot (Find then sees only the root).
	MountSpec func(ctx context.Context, spec, fstype string) (string, error)
	// Refs fills ${partuuid:NAME}, ${uuid:NAME} and ${label:NAME} in the
	// plan's cmdline.
	Refs Refs
	// MountRoot: everything mounted at or under it is unmounted, in
	// reverse order, before the jump.
	MountRoot string
	// LockdownPath and KexecDisabledPath explain an EPERM; the real ones
	// are /sys/kernel/security/lockdown and
	// /proc/sys/kernel/kexec_load_disabled.
	LockdownPath      string
	KexecDisabledPath string
	// TempDir holds the concatenation of several initrds (the ramdisk's
	// own tmpfs); os.TempDir() when empty.
	TempDir string
	Sys     Sys
	Log     *slog.Logger
	// OnLoaded runs once the kernel is loaded, before anything is
	// unmounted: where the caller sends its final report event.
	OnLoaded func(Action)
}

// Action is what Run will do.
type Action struct {
	Reboot   bool    `json:"reboot,omitempty"`   // a plain reboot: the plan says boot: reboot
	Target   *Target `json:"target,omitempty"`   // the kexec, when not Reboot
	Fallback string  `json:"fallback,omitempty"` // "reboot" or "fail", for a refused kexec
}

// Prepare mounts what the plan's boot section needs and works out the
// Action, without touching the running kernel: the dry run.
func (h *Handoff) Prepare(ctx context.Context) (Action, error) {
	b := h.Boot
	switch {
	case b == nil:
		return Action{}, errors.New("handoff: the plan has no boot section")
	case b.Reboot != nil && b.Kexec == nil:
		return Action{Reboot: true}, nil
	case b.Kexec == nil:
		return Action{}, errors.New("handoff: boot section has neither kexec nor reboot")
	}
	k := b.Kexec
	fallback := k.Fallback
	if fallback == "" {
		fallback = "reboot"
	}
	if h.Mount == nil {
		return Action{}, errors.New("handoff: no mount function")
	}
	root, err := h.Mount(ctx, k.Root)
	if err != nil {
		return Action{}, fmt.Errorf("handoff: mounting root %q: %w", k.Root, err)
	}
	l := Layout{Root: root}
	if l.Boot, err = h.mountBoot(ctx, root); err != nil {
		return Action{}, err
	}
	t, err := h.target(k, l)
	if err != nil {
		return Action{}, fmt.Errorf("handoff: %w", err)
	}
	return Action{Target: &t, Fallback: fallback}, nil
}

// mountBoot mounts the installed system's /boot when fstab says it is a
// partition of its own.
func (h *Handoff) mountBoot(ctx context.Context, root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, "etc/fstab"))
	if err != nil {
		return "", nil // no fstab: /boot is whatever the root holds
	}
	e, ok := mountFor(parseFstab(b), "/boot")
	if !ok {
		return "", nil
	}
	if h.MountSpec == nil {
		h.log().Warn("fstab names a /boot partition but no way to mount it was given; looking at the root only", "spec", e.Spec)
		return "", nil
	}
	dir, err := h.MountSpec(ctx, e.Spec, e.Type)
	if err != nil {
		return "", fmt.Errorf("handoff: mounting /boot (%s, from the installed /etc/fstab): %w", e.Spec, err)
	}
	return dir, nil
}

func (h *Handoff) log() *slog.Logger {
	if h.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Log
}

// target applies the plan's explicit paths and cmdline over what Find sees.
func (h *Handoff) target(k *plan.Kexec, l Layout) (Target, error) {
	s := system{root: l.Root, boot: l.Boot}
	// The plan's references first: a wrong name is the plan's error,
	// whatever the disk holds.
	var planCmdline string
	if k.Cmdline != "" {
		c, err := Substitute(k.Cmdline, h.Refs)
		if err != nil {
			return Target{}, fmt.Errorf("boot.kexec.%w", err)
		}
		planCmdline = c
	}
	var t Target
	if k.Kernel != "" {
		var err error
		t.Source = "plan"
		if t.Kernel, err = s.file(k.Kernel); err != nil {
			return Target{}, fmt.Errorf("boot.kexec.kernel %s: %w", k.Kernel, err)
		}
		if k.Initrd != "" {
			i, err := s.file(k.Initrd)
			if err != nil {
				return Target{}, fmt.Errorf("boot.kexec.initrd %s: %w", k.Initrd, err)
			}
			t.Initrd = []string{i}
		} else if i, ok := s.initrdFor(k.Kernel); ok {
			// A versioned kernel without its initrd would not find its
			// root on a distribution kernel: take the one installed with it.
			t.Initrd = []string{i}
			t.Source += " (initrd installed with it)"
		}
		if k.Cmdline == "" {
			// The kernel is given but not its arguments: take them from
			// the installed system's own default entry.
			found, err := Find(l, h.log())
			if err != nil {
				return Target{}, fmt.Errorf("boot.kexec gives a kernel but no cmdline, and none could be found: %w", err)
			}
			// BOOT_IMAGE names the entry's kernel, not this one.
			var args []string
			for _, a := range strings.Fields(found.Cmdline) {
				if !strings.HasPrefix(a, "BOOT_IMAGE=") {
					args = append(args, a)
				}
			}
			t.Cmdline = strings.Join(args, " ")
			t.Source += ", cmdline from " + found.Source
		}
	} else {
		var err error
		if t, err = Find(l, h.log()); err != nil {
			return Target{}, err
		}
	}
	if planCmdline != "" {
		t.Cmdline = planCmdline
		t.Source += ", cmdline from the plan"
	}
	if t.Cmdline == "" {
		return Target{}, fmt.Errorf("%s (found via %s) comes with no command line and the plan gives none: set boot.kexec.cmdline (root=PARTUUID=${partuuid:NAME} ro …)", t.Kernel, t.Source)
	}
	if len(t.Cmdline)+1 > commandLineSize {
		return Target{}, fmt.Errorf("command line is %d bytes, the kernel takes at most %d", len(t.Cmdline), commandLineSize-1)
	}
	return t, nil
}

// WriteTo prints the action as the exact calls Run makes, and the
// kexec-tools command doing the same, for the operator and the dry run.
func (a Action) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	switch {
	case a.Reboot:
		b.WriteString("handoff: plain reboot (boot: reboot)\n")
		b.WriteString("  unmount everything under the mount root, sync, reboot(LINUX_REBOOT_CMD_RESTART)\n")
	case a.Target != nil:
		t := a.Target
		fmt.Fprintf(&b, "handoff: kexec from %s\n", t.Source)
		fmt.Fprintf(&b, "  kernel:  %s\n", t.Kernel)
		for _, i := range t.Initrd {
			fmt.Fprintf(&b, "  initrd:  %s\n", i)
		}
		fmt.Fprintf(&b, "  cmdline: %s\n", t.Cmdline)
		flags := "0"
		initrd := "open(initrd, O_RDONLY)"
		switch len(t.Initrd) {
		case 0:
			flags, initrd = "KEXEC_FILE_NO_INITRAMFS", "-1"
		case 1:
		default:
			initrd = fmt.Sprintf("open(the %d initrds concatenated, O_RDONLY)", len(t.Initrd))
		}
		fmt.Fprintf(&b, "  kexec_file_load(open(kernel, O_RDONLY), %s, %q, %s)\n", initrd, t.Cmdline, flags)
		b.WriteString("  then: unmount everything under the mount root (reverse order), sync, reboot(LINUX_REBOOT_CMD_KEXEC)\n")
		fmt.Fprintf(&b, "  same as: kexec -s -l %s", shell.Quote(t.Kernel))
		if len(t.Initrd) == 1 {
			fmt.Fprintf(&b, " --initrd=%s", shell.Quote(t.Initrd[0]))
		}
		fmt.Fprintf(&b, " --command-line=%s && kexec -e\n", shell.Quote(t.Cmdline))
		fmt.Fprintf(&b, "  if refused: %s\n", map[string]string{"reboot": "plain reboot", "fail": "fail the handoff"}[a.Fallback])
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Run performs the action. It returns only on failure: after a refused
// kexec with fallback "fail" (nothing unmounted, for the shell), or when
// even the reboot failed.
func (h *Handoff) Run(ctx context.Context, a Action) error {
	log := h.log()
	if h.Sys.KexecFileLoad == nil || h.Sys.Reboot == nil {
		return errors.New("handoff: no kernel interface (Sys) given")
	}
	if a.Reboot {
		return h.reboot(ctx, nil)
	}
	if a.Target == nil {
		return errors.New("handoff: nothing to do")
	}
	if err := h.load(*a.Target); err != nil {
		log.Error("kexec refused", "err", err)
		if a.Fallback == "fail" {
			return fmt.Errorf("handoff: %w (boot.kexec.fallback is fail)", err)
		}
		return h.reboot(ctx, err)
	}
	if h.OnLoaded != nil {
		h.OnLoaded(a)
	}
	h.unmountAll(ctx)
	err := h.Sys.Reboot(RebootCmdKexec)
	// Only reached when the jump did not happen.
	kerr := classify("reboot(LINUX_REBOOT_CMD_KEXEC)", err, h.LockdownPath, h.KexecDisabledPath)
	log.Error("kexec jump failed", "err", kerr)
	if a.Fallback == "fail" {
		return fmt.Errorf("handoff: %w (boot.kexec.fallback is fail)", kerr)
	}
	return h.reboot(ctx, kerr)
}

// reboot unmounts, syncs and restarts; cause is the kexec failure that led
// here, if any.
func (h *Handoff) reboot(ctx context.Context, cause error) error {
	if cause != nil {
		h.log().Warn("falling back to a plain reboot", "cause", cause)
	}
	h.unmountAll(ctx)
	err := h.Sys.Reboot(RebootCmdRestart)
	if cause != nil {
		return fmt.Errorf("handoff: %w; then reboot: %v", cause, err)
	}
	return fmt.Errorf("handoff: reboot: %w", err)
}

// load opens the files read-only and calls kexec_file_load.
func (h *Handoff) load(t Target) error {
	kf, err := os.Open(t.Kernel)
	if err != nil {
		return fmt.Errorf("opening kernel: %w", err)
	}
	defer kf.Close()
	initrdFd, flags := -1, 0
	switch len(t.Initrd) {
	case 0:
		flags |= KexecFileNoInitramfs
	default:
		f, err := h.openInitrd(t.Initrd)
		if err != nil {
			return err
		}
		defer f.Close()
		initrdFd = int(f.Fd())
	}
	h.log().Info("kexec_file_load", "kernel", t.Kernel, "initrd", t.Initrd, "cmdline", t.Cmdline, "flags", flags)
	if err := h.Sys.KexecFileLoad(int(kf.Fd()), initrdFd, t.Cmdline, flags); err != nil {
		return classify("kexec_file_load", err, h.LockdownPath, h.KexecDisabledPath)
	}
	return nil
}

// openInitrd opens the initrd read-only; several are first concatenated
// into one file in TempDir, closed, and reopened read-only, since the
// kernel refuses a file anyone holds open for writing.
func (h *Handoff) openInitrd(paths []string) (*os.File, error) {
	if len(paths) == 1 {
		f, err := os.Open(paths[0])
		if err != nil {
			return nil, fmt.Errorf("opening initrd: %w", err)
		}
		return f, nil
	}
	out, err := os.CreateTemp(h.TempDir, "needle-initrd-*")
	if err != nil {
		return nil, fmt.Errorf("concatenating initrds: %w", err)
	}
	name := out.Name()
	for _, p := range paths {
		if err := appendFile(out, p); err != nil {
			out.Close()
			os.Remove(name)
			return nil, fmt.Errorf("concatenating initrds: %w", err)
		}
	}
	if err := out.Close(); err != nil {
		os.Remove(name)
		return nil, fmt.Errorf("concatenating initrds: %w", err)
	}
	f, err := os.Open(name)
	// The open descriptor keeps the data; the name is not needed.
	os.Remove(name)
	if err != nil {
		return nil, fmt.Errorf("reopening the concatenated initrd: %w", err)
	}
	return f, nil
}

func appendFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// unmountAll unmounts every mount at or under MountRoot, last mounted
// first, then syncs. A failed unmount is logged, not fatal: after sync the
// filesystems are consistent, and the next kernel replays the journal.
func (h *Handoff) unmountAll(ctx context.Context) {
	log := h.log()
	if h.MountRoot != "" && h.Sys.Mounts != nil {
		mounts, err := h.Sys.Mounts()
		if err != nil {
			log.Warn("listing mounts", "err", err)
		}
		for _, m := range underRoot(mounts, h.MountRoot) {
			if ctx.Err() != nil {
				break
			}
			if err := h.Sys.Unmount(m); err != nil {
				log.Warn("unmount failed", "mount", m, "err", err)
			}
		}
	}
	if h.Sys.Sync != nil {
		h.Sys.Sync()
	}
}

// underRoot returns the mount points at or under root in reverse mount
// order.
func underRoot(mounts []string, root string) []string {
	root = path.Clean(root)
	var out []string
	for i := len(mounts) - 1; i >= 0; i-- {
		m := path.Clean(mounts[i])
		if m == root || strings.HasPrefix(m, root+"/") || root == "/" {
			out = append(out, m)
		}
	}
	return out
}
