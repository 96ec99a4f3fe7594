package md

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata golden files (and, with TestQEMUKernel, the mdadm capture)")

// checkAgainstExamine compares a parsed superblock with mdadm --examine.
func checkAgainstExamine(t *testing.T, name string, sb *Superblock, exam map[string]string) {
	t.Helper()
	state := "active"
	if sb.Clean() {
		state = "clean"
	}
	want := map[string]string{
		"Magic":        "a92b4efc",
		"Version":      "1.2",
		"Feature Map":  fmt.Sprintf("%#x", sb.FeatureMap),
		"Array UUID":   sb.SetUUID.String(),
		"Name":         sb.SetName,
		"Raid Level":   Level(sb.Level).String(),
		"Raid Devices": fmt.Sprint(sb.RaidDisks),
		"Data Offset":  fmt.Sprintf("%d sectors", sb.DataOffset),
		"Super Offset": fmt.Sprintf("%d sectors", sb.SuperOffset),
		"State":        state,
		"Device UUID":  sb.DeviceUUID.String(),
		"Device Role":  fmt.Sprintf("Active device %d", sb.Role()),
		"Events":       fmt.Sprint(sb.Events),
		"Checksum":     fmt.Sprintf("%x - correct", sb.Checksum), // mdadm prints %x: no leading zeros
	}
	got := map[string]string{}
	for k := range want {
		got[k] = exam[k]
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s: Parse vs mdadm --examine (-parsed +mdadm):\n%s", name, d)
	}
	if got, want := exam["Avail Dev Size"], fmt.Sprintf("%d sectors", sb.DataSize); !strings.HasPrefix(got, want+" ") {
		t.Errorf("%s: Avail Dev Size %q, want %q", name, got, want)
	}
}

// testLogger routes a logger to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
