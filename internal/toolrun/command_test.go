package toolrun

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestTimeoutKillsProcessGroup: on timeout the runner kills the tool's
// whole process group, so a helper the tool forked does not outlive it.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to fork a grandchild with")
	}
	out, err := Exec{Timeout: 300 * time.Millisecond}.Run(context.Background(), sh, "-c", "sleep 30 & echo $!; wait")
	var re *Error
	if !errors.As(err, &re) || !re.TimedOut {
		t.Fatalf("Run = %v, want a timeout", err)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(string(out)))
	if perr != nil {
		t.Fatalf("no grandchild pid in the partial output %q", out)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		// Gone, or a zombie waiting for a reaper: either way not running.
		if err != nil || strings.Contains(string(stat), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still running after the timeout: %s", pid, stat)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunCanceled(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err = Exec{Timeout: time.Minute}.Run(ctx, sh, "-c", "sleep 30")
	var re *Error
	if !errors.As(err, &re) || re.TimedOut || !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled and not a timeout", err)
	}
}
