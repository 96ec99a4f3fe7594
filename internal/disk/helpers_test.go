package disk

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/testenv"
)

// needTool finds a host oracle; it skips when the tool is missing unless
// NEEDLE_QEMU=required, where a missing oracle is a failure.
func needTool(t *testing.T, name string) string {
	t.Helper()
	return testenv.HostTool(t, name)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
