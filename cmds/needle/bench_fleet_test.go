//go:build !ramdisk

package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/testenv"
)

// beNeedle makes the test binary act as needle (its main) when set: the
// fleet bench's clients are child processes of `needle image write`, and
// in tests the test binary stands in for the needle binary.
const beNeedle = "NEEDLE_TEST_BE_NEEDLE"

func TestMain(m *testing.M) {
	if os.Getenv(beNeedle) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestBenchFleet runs the fleet bench small: nginx (the host's) serving a
// 64 MiB image to 4 `needle image write` children, restarted at 40%, then
// 4 curl pipelines, after a 1 s plan-server outage met by 4 plan fetches.
func TestBenchFleet(t *testing.T) {
	nginx := testenv.HostTool(t, "nginx")
	for _, tool := range []string{"zstd", "curl", "dd", "bash"} {
		testenv.HostTool(t, tool)
	}
	t.Setenv(beNeedle, "1")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"bench", "fleet", "--clients", "4", "--image-size", "64MiB",
		"--dir", t.TempDir(), "--storm-down", "1s", "--nginx", nginx}, &out, &errb)
	t.Logf("stderr:\n%s\nstdout:\n%s", errb.String(), out.String())
	if err != nil {
		t.Fatalf("needle bench fleet: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want the storm line and the fleet line", len(lines))
	}
	num := `[0-9]+(?:\.[0-9]+)?`
	storm := regexp.MustCompile(`^fleet plan storm 4 clients: ([0-9]+) requests in ` + num + ` s, peak ([0-9]+) req/s, retries peak [0-9]+ per 100 ms, all fetched$`)
	if m := storm.FindStringSubmatch(lines[0]); m == nil {
		t.Errorf("storm line %q, want the shape %q", lines[0], storm)
	} else if reqs, _ := strconv.Atoi(m[1]); reqs < 8 {
		t.Errorf("storm: %d requests, want at least two from each of 4 clients (a 503, then the plan)", reqs)
	}
	fleet := regexp.MustCompile(`^fleet 4 clients: ([0-9]+) verified, aggregate ` + num + ` MB/s, curl ` + num + ` MB/s, ratio ` + num +
		`, fairness ` + num + `, resumes ([0-9]+), peak RSS ([0-9]+) MiB$`)
	m := fleet.FindStringSubmatch(lines[1])
	if m == nil {
		t.Fatalf("fleet line %q, want the shape %q", lines[1], fleet)
	}
	if m[1] != "4" {
		t.Errorf("%s verified clients, want 4", m[1])
	}
	if k, _ := strconv.Atoi(m[2]); k < 1 {
		t.Errorf("resumes %d, want at least 1: nginx was restarted mid-run", k)
	}
	if rss, _ := strconv.Atoi(m[3]); rss < 1 {
		t.Errorf("peak RSS %d MiB, want the clients' measured peak", rss)
	}
}

func TestStormStats(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	// Three clients: first attempts at 0 ms, retries at 500/520/900 ms
	// and 1700 ms.
	reqs := []planReq{
		{at(0), "c=1"}, {at(0), "c=2"}, {at(1), "c=3"},
		{at(500), "c=1"}, {at(520), "c=2"}, {at(900), "c=3"}, {at(1700), "c=1"},
	}
	got := stormStats(reqs)
	want := storm{span: 1700 * time.Millisecond, peakSecond: 6, peakRetries: 2}
	if got != want {
		t.Errorf("stormStats = %+v, want %+v", got, want)
	}
}
