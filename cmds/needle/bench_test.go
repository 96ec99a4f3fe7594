//go:build !ramdisk

package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/testenv"
)

// TestBenchStream runs the real benchmark at 64 MiB: it builds the ext4
// disk image with the host's sfdisk and mkfs.ext4, compresses it with the
// host's zstd, xz and gzip, and compares needle with curl | DECOMP | dd.
// The figures mean little at this size; the test proves the bench works
// and prints lines of the documented shape, each run checked against the
// image's sha256 inside the bench.
func TestBenchStream(t *testing.T) {
	for _, tool := range []string{"sfdisk", "mkfs.ext4", "zstd", "xz", "gzip", "curl", "dd", "bash"} {
		testenv.HostTool(t, tool)
	}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"bench", "stream", "--size", "64MiB", "--dir", t.TempDir(), "--reps", "1"}, &out, &errb)
	t.Logf("stderr:\n%s", errb.String())
	if err != nil {
		t.Fatalf("needle bench stream: %v", err)
	}
	t.Logf("stdout:\n%s", out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	num := `[0-9]+(\.[0-9]+)?`
	shape := regexp.MustCompile(`^stream (zstd|xz|gzip): needle ` + num + ` MB/s, pipeline ` + num + ` MB/s, ratio ` + num + `, sparse ratio ` + num + `$`)
	rss := regexp.MustCompile(`^rss (zstd|xz|gzip): peak [0-9]+ MiB writing a 64 MiB image with a memory limit of 16 MiB$`)
	if len(lines) != 6 {
		t.Fatalf("got %d lines, want 3 codec lines and 3 rss lines:\n%s", len(lines), out.String())
	}
	for i, codec := range []string{"zstd", "xz", "gzip"} {
		if !shape.MatchString(lines[i]) || !strings.HasPrefix(lines[i], "stream "+codec+":") {
			t.Errorf("line %d = %q, want the shape %q for %s", i+1, lines[i], shape, codec)
		}
	}
	for i, codec := range []string{"zstd", "xz", "gzip"} {
		if l := lines[3+i]; !rss.MatchString(l) || !strings.HasPrefix(l, "rss "+codec+":") {
			t.Errorf("rss line %d = %q, want %q for %s", i+1, l, rss, codec)
		}
	}
}

func TestBenchArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "want the subcommand stream or fleet"},
		{[]string{"bench", "stream", "--size", "1GB"}, "whole number of MiB"},
		{[]string{"bench", "stream", "--size", "8MiB"}, "at least 16MiB"},
		{[]string{"bench", "stream", "--size", "lots"}, "--size"},
	} {
		var out, errb bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}
