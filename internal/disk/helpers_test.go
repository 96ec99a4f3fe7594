package disk

import (
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// needTool finds a host oracle; it skips when the tool is missing unless
// NEEDLE_QEMU=required, where a missing oracle is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("NEEDLE_QEMU") == "required" {
			t.Fatalf("host oracle %s not found and NEEDLE_QEMU=required", name)
		}
		t.Skipf("host oracle %s not found: %v", name, err)
	}
	return p
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
