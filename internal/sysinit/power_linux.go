package sysinit

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Power actions PID 1 can end with.
const (
	Poweroff = "poweroff"
	Reboot   = "reboot"
	Halt     = "halt"
)

// Power turns the machine off or restarts it; tests replace its fields.
type Power struct {
	Sync   func()
	Reboot func(cmd int) error
	// SyncTimeout bounds the sync: a dying disk must not keep a failed
	// install from rebooting.
	SyncTimeout time.Duration
}

// HostPower calls sync(2) and reboot(2).
func HostPower() Power {
	return Power{Sync: unix.Sync, Reboot: unix.Reboot, SyncTimeout: 10 * time.Second}
}

// Do syncs with a timeout, then powers off, reboots or halts. It returns
// only on failure.
func (p Power) Do(action string) error {
	cmd := 0
	switch action {
	case Poweroff:
		cmd = unix.LINUX_REBOOT_CMD_POWER_OFF
	case Reboot:
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	case Halt:
		cmd = unix.LINUX_REBOOT_CMD_HALT
	default:
		return fmt.Errorf("unknown power action %q", action)
	}
	done := make(chan struct{})
	go func() {
		p.Sync()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(p.SyncTimeout):
	}
	return p.Reboot(cmd)
}

// SignalAction maps the signals busybox's poweroff, reboot and halt send to
// PID 1 (see busybox init/halt.c: SIGUSR2, SIGTERM, SIGUSR1) to an action.
func SignalAction(sig unix.Signal) string {
	switch sig {
	case unix.SIGUSR2:
		return Poweroff
	case unix.SIGTERM, unix.SIGINT:
		return Reboot
	case unix.SIGUSR1:
		return Halt
	}
	return ""
}
