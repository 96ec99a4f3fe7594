package osimage

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/needle-boot/needle/internal/shell"
)

// ExecRunner is the OS-image build's toolrun.Runner: every tool the build
// uses (debootstrap, chroot, mount, mkfs.ext4, zstd) goes through it, so
// the argv is logged and a failure names the command, its exit status and
// the tail of its output. Unlike toolrun.Exec, which kills a vendor tool's
// group at once, it ends a canceled child with SIGTERM first
// (debootstrap's trap then unmounts what it mounted in the target) and
// SIGKILL 10 s later, and it keeps stdout in the error (debootstrap
// reports there).
type ExecRunner struct {
	Log *slog.Logger // nil discards
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	argv := append([]string{name}, args...)
	log.Info("run", "argv", shell.Join(argv))
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		// debootstrap reports its failures on stdout ("E: ..."), the
		// others on stderr: keep the tail of both.
		return stdout.Bytes(), fmt.Errorf("%s: %w after %s; output: %s", shell.Join(argv), err, took, tail(stdout.String()+stderr.String(), 1500))
	}
	log.Info("done", "cmd", name, "took", took)
	return stdout.Bytes(), nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}
