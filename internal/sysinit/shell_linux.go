package sysinit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// Shell runs the debug shell on tty (the active console device) with job
// control: the shell leads a new session whose controlling terminal is the
// tty. It returns when the shell exits.
func Shell(ctx context.Context, r *Reaper, tty, sh string, env []string) error {
	f, err := os.OpenFile(tty, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("debug shell: open %s: %w", tty, err)
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, sh, "-l")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = f, f, f
	cmd.Env = env
	cmd.Dir = "/root"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := r.Run(cmd); err != nil {
		if _, ok := err.(*exec.ExitError); ok {
			return nil // the operator's last command failed: not our error
		}
		return fmt.Errorf("debug shell %s: %w", sh, err)
	}
	return nil
}
