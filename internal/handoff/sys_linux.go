//go:build linux && (amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64 || arm)

package handoff

import (
	"errors"

	"github.com/needle-boot/needle/internal/procfs"
	"golang.org/x/sys/unix"
)

// SysLinux returns the real kernel interface. procRoot is normally
// "/proc".
func SysLinux(procRoot string) Sys {
	return Sys{
		// x/sys passes len(cmdline)+1: the kernel wants the NUL counted.
		KexecFileLoad: unix.KexecFileLoad,
		Reboot:        unix.Reboot,
		Mounts: func() ([]string, error) {
			ms, err := procfs.Mounts(procRoot)
			var points []string
			for _, m := range ms {
				points = append(points, m.Point)
			}
			return points, err
		},
		Unmount: unmount,
		Sync:    unix.Sync,
	}
}

// unmount unmounts target; when it is busy (a process still has a file
// open there) it remounts it read-only, so nothing more is written, and
// detaches it.
func unmount(target string) error {
	err := unix.Unmount(target, 0)
	if err == nil || !errors.Is(err, unix.EBUSY) {
		return err
	}
	if rerr := unix.Mount("", target, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); rerr != nil {
		return errors.Join(err, rerr)
	}
	return unix.Unmount(target, unix.MNT_DETACH)
}
