// Package toolrun runs external tools: the one Runner the raid and disk
// stages share, and its Error, which says how a tool ended.
package toolrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/needle-boot/needle/internal/shell"
)

// Runner runs one external tool and returns its standard output, also when
// the tool failed (a crashed or timed-out tool's partial output is still
// evidence). Every external tool needle runs (vendor RAID tools, and what
// the disks stage releases holders with) goes through one, in Ignition's
// LogCmd manner: the quoted argv logged, exit status, signal and stderr in
// the error.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// Error is a tool run that did not end with exit status 0: it exited
// non-zero, died of a signal, ran out of time, or could not start.
type Error struct {
	// Argv is the command line, name first.
	Argv []string
	// ExitCode is the exit status, -1 when the tool did not exit on its own.
	ExitCode int
	// Signal is the signal that killed the tool ("segmentation fault"),
	// empty when it exited. A timed-out tool shows the SIGKILL the
	// runner sent.
	Signal   string
	SignalNo int
	// TimedOut: the runner killed the tool's process group when the
	// per-call timeout expired.
	TimedOut bool
	// Timeout is the limit that applied.
	Timeout time.Duration
	// Stderr is the tail of the tool's standard error.
	Stderr   string
	Duration time.Duration
	// Err is the underlying error: exec's, or context.Canceled when the
	// caller gave up.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(shell.Join(e.Argv))
	switch {
	case e.TimedOut:
		fmt.Fprintf(&b, ": timed out after %s (process group killed)", e.Timeout)
	case e.Signal != "":
		fmt.Fprintf(&b, ": killed by signal %d (%s)", e.SignalNo, e.Signal)
	case e.ExitCode >= 0:
		fmt.Fprintf(&b, ": exit status %d", e.ExitCode)
	case e.Err != nil:
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	fmt.Fprintf(&b, " after %s", e.Duration.Round(time.Millisecond))
	if s := strings.TrimSpace(e.Stderr); s != "" {
		fmt.Fprintf(&b, "; stderr: %s", oneLine(s))
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Crashed reports whether the tool died of a signal or ran out of time, the
// failures that point at the driver or firmware rather than the request.
func (e *Error) Crashed() bool { return e.TimedOut || e.Signal != "" }

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// Exec runs tools as child processes.
type Exec struct {
	// Timeout bounds each call; 0 means DefaultTimeout. A vendor tool that
	// hangs in an ioctl must not hang the install.
	Timeout time.Duration
	// Env, when not nil, is the child's whole environment.
	Env []string
	// Log receives one line per call with the quoted argv, and one with
	// the outcome and duration; nil discards.
	Log *slog.Logger
	// StderrTail is how many bytes of standard error a Error keeps;
	// 0 means 2048.
	StderrTail int
	// Hold, when set, is called before the child starts and its result
	// after the child is reaped: as PID 1, needle's orphan reaper must not
	// collect the child's exit status (sysinit.Reaper.Hold).
	Hold func() (release func())
}

// DefaultTimeout: sas2ircu DISPLAY on a loaded 24-slot backplane takes a
// few seconds, storcli's "/call show all" up to ~20 s on big expanders.
const DefaultTimeout = 2 * time.Minute

// Run implements Runner. The tool runs in its own process group, and on
// timeout (or when ctx ends) the whole group gets SIGKILL, so helper
// processes a vendor tool forks die with it.
func (r Exec) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tail := r.StderrTail
	if tail <= 0 {
		tail = 2048
	}
	argv := append([]string{name}, args...)
	log.Info("run", "argv", shell.Join(argv), "timeout", timeout)

	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	if r.Env != nil {
		cmd.Env = r.Env
	}
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return killProcessGroup(cmd) }
	// Pipes held open by an orphaned grandchild must not keep Wait
	// waiting once the group is dead.
	cmd.WaitDelay = 2 * time.Second
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: tail}
	cmd.Stdout = &stdout
	cmd.Stderr = stderr
	start := time.Now()
	if r.Hold != nil {
		release := r.Hold()
		defer release()
	}
	err := cmd.Run()
	dur := time.Since(start)
	if err == nil {
		log.Info("run done", "argv", shell.Join(argv), "duration", dur.Round(time.Millisecond), "bytes", stdout.Len())
		return stdout.Bytes(), nil
	}
	re := &Error{Argv: argv, ExitCode: -1, Timeout: timeout, Stderr: stderr.String(), Duration: dur, Err: err}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			re.SignalNo = int(ws.Signal())
			re.Signal = ws.Signal().String()
		} else {
			re.ExitCode = ee.ExitCode()
		}
	}
	switch {
	case errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil:
		re.TimedOut = true
		re.Err = context.DeadlineExceeded
	case ctx.Err() != nil:
		re.Err = ctx.Err()
	}
	log.Warn("run failed", "argv", shell.Join(argv), "duration", dur.Round(time.Millisecond), "error", re.Error())
	return stdout.Bytes(), re
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-t.max:]...)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if t.cut {
		return "…" + string(t.buf)
	}
	return string(t.buf)
}
