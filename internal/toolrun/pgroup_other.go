//go:build !linux

package toolrun

import "os/exec"

// Outside Linux (the CLI's parse on a workstation) only the tool itself is
// killed.
func setProcessGroup(*exec.Cmd) {}

func killProcessGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}
