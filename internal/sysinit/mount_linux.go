// Package sysinit holds what PID 1 must do before needle's stages can run:
// the pseudo filesystems, the console and the kernel log, reaping orphans,
// the debug shell, and powering off or rebooting after a sync with a
// timeout. Syscalls sit behind func fields so the logic runs in tests.
package sysinit

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one filesystem PID 1 mounts.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	Optional               bool // a failure is reported, not fatal
}

func (m Mount) String() string {
	s := fmt.Sprintf("mount -t %s %s %s", m.FSType, m.Source, m.Target)
	if m.Data != "" {
		s += " -o " + m.Data
	}
	return s
}

// Mounts is the table of pseudo filesystems, in order (devpts needs /dev).
func Mounts() []Mount {
	const nosuid, nodev, noexec = unix.MS_NOSUID, unix.MS_NODEV, unix.MS_NOEXEC
	return []Mount{
		{Source: "proc", Target: "/proc", FSType: "proc", Flags: nosuid | nodev | noexec},
		{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: nosuid | nodev | noexec},
		{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: nosuid, Data: "mode=0755"},
		// gid 5 is tty on Debian; ptmxmode lets an unprivileged pty user work.
		{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: nosuid | noexec, Data: "gid=5,mode=620,ptmxmode=666"},
		{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: nosuid | nodev, Data: "mode=0755"},
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: nosuid | nodev, Data: "mode=1777"},
		{Source: "efivarfs", Target: "/sys/firmware/efi/efivars", FSType: "efivarfs", Flags: nosuid | nodev | noexec, Optional: true},
	}
}

// Mounter does the mounting; tests replace its fields.
type Mounter struct {
	Mount func(source, target, fstype string, flags uintptr, data string) error
	Mkdir func(path string, perm os.FileMode) error
}

// HostMounter calls mount(2).
func HostMounter() Mounter {
	return Mounter{Mount: unix.Mount, Mkdir: os.MkdirAll}
}

// MountAll mounts the table. An already-mounted target (EBUSY) counts as
// done, so an init restarted by the shell or a kexec'd needle carries on.
// It returns the first failure of a required mount and every optional
// failure as warnings.
func (m Mounter) MountAll(ms []Mount) (warnings []string, err error) {
	for _, mt := range ms {
		if e := m.Mkdir(mt.Target, 0o755); e != nil && !mt.Optional {
			return warnings, fmt.Errorf("%s: %w", mt, e)
		}
		e := m.Mount(mt.Source, mt.Target, mt.FSType, mt.Flags, mt.Data)
		if e == nil || errors.Is(e, unix.EBUSY) {
			continue
		}
		if mt.Optional {
			// efivarfs only exists on UEFI boots: its absence is normal.
			if !errors.Is(e, unix.ENOENT) && !errors.Is(e, unix.ENODEV) {
				warnings = append(warnings, fmt.Sprintf("%s: %v", mt, e))
			}
			continue
		}
		return warnings, fmt.Errorf("%s: %w", mt, e)
	}
	return warnings, nil
}

// Active returns the device of the console the kernel writes to, from
// /sys/class/tty/console/active: its last entry is /dev/console, the one
// the last console= names. A shell needs the real tty (not /dev/console)
// to get a controlling terminal and job control.
func Active(sysRoot string) (string, error) {
	b, err := os.ReadFile(sysRoot + "/class/tty/console/active")
	if err != nil {
		return "", err
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "", fmt.Errorf("%s/class/tty/console/active is empty", sysRoot)
	}
	return "/dev/" + f[len(f)-1], nil
}
