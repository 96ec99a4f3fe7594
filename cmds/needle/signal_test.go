package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalWhileBlocked runs the built binary on a plan that is a FIFO
// nobody writes to, so it blocks on the read, then sends SIGTERM: the read
// honours the cancelled context and needle exits with an error. If it
// does not, a second SIGTERM must kill it (the default handler restored);
// only SIGKILL ending it is the bug.
func TestSignalWhileBlocked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the needle binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "needle")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	fifo := filepath.Join(dir, "plan.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Held open read-write so needle's open returns and its read blocks.
	hold, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()

	// A plan read watches ctx: one SIGTERM ends it. The inventory read
	// does not: the first SIGTERM cancels ctx and restores the default
	// handler, the second kills.
	for _, tc := range []struct {
		name    string
		args    []string
		signals int
		want    string
	}{
		{"plan read", []string{"plan", "check", fifo}, 1, "exit status 1"},
		{"inventory read", []string{"plan", "check", filepath.Join(planTestdata, "qemu.yaml"), "--inventory", fifo}, 2, "signal: terminated"},
	} {
		var stderr strings.Builder
		cmd := exec.Command(bin, tc.args...)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		time.Sleep(500 * time.Millisecond)
		for range tc.signals {
			cmd.Process.Signal(syscall.SIGTERM)
			time.Sleep(200 * time.Millisecond)
		}
		select {
		case err := <-done:
			if err == nil || err.Error() != tc.want {
				t.Errorf("%s, %d SIGTERM: %v, want %s (stderr %q)", tc.name, tc.signals, err, tc.want, stderr.String())
			}
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%s: needle blocked on a FIFO ignored %d SIGTERM for 5 s (only SIGKILL ended it)", tc.name, tc.signals)
		}
	}
}
