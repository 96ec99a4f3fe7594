package sysinit

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Reaper reaps orphaned processes, which the kernel reparents to PID 1.
// wait4(-1) would also steal the exit status of a child the init is
// waiting for with exec.Cmd.Wait, so children the init starts are run under
// Hold: the reaper only calls wait4(-1) when no such child is running, and
// the zombies that appear meanwhile are reaped at the next tick.
type Reaper struct {
	mu sync.RWMutex
}

// Hold marks a child as running until the returned func is called.
func (r *Reaper) Hold() func() {
	r.mu.RLock()
	return r.mu.RUnlock
}

// Run executes cmd under Hold.
func (r *Reaper) Run(cmd *exec.Cmd) error {
	defer r.Hold()()
	return cmd.Run()
}

// Loop reaps on every SIGCHLD and once a second until ctx ends.
func (r *Reaper) Loop(ctx context.Context) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, unix.SIGCHLD)
	defer signal.Stop(ch)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-tick.C:
		}
		r.reap()
	}
}

func (r *Reaper) reap() {
	if !r.mu.TryLock() {
		return // a held child is running; try again later
	}
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
