package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModulesCommand runs "needle modules" in-process on the cut index of
// the reference kernel in modules/testdata/index.
func TestModulesCommand(t *testing.T) {
	idx, err := filepath.Abs(filepath.Join("..", "..", "modules", "testdata", "index"))
	if err != nil {
		t.Fatal(err)
	}
	kdir := t.TempDir()
	os.MkdirAll(filepath.Join(kdir, "lib", "modules"), 0o755)
	if err := os.Symlink(idx, filepath.Join(kdir, "lib", "modules", "6.1.0-56-amd64")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string // substrings of stdout, in order
	}{
		{[]string{"deps", "--kernel-dir", kdir, "--kver", "6.1.0-56-amd64", "ext4"}, []string{"crc32c_intel", "jbd2", "mbcache", "crc16", "ext4 ", "requested"}},
		{[]string{"deps", "--kernel-dir", kdir, "--kver", "6.1.0-56-amd64", "--blacklist", "mptsas", "pci:v00001000d00000054sv00000000sd00000000bc01sc00i00"}, []string{"mptsas", "blacklisted"}},
		{[]string{"alias", "--kernel-dir", kdir, "--kver", "6.1.0-56-amd64", "virtio:d00000002v00001AF4", "platform:rtc_cmos", "foo:bar"}, []string{"virtio_blk via virtio:d00000002v*", "rtc_cmos (builtin)", "foo:bar: no module"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), append([]string{"modules"}, tc.args...), &stdout, &stderr); err != nil {
				t.Fatalf("needle modules %q: %v\n%s", tc.args, err, stderr.String())
			}
			out := stdout.String()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(out[at:], w)
				if i < 0 {
					t.Fatalf("output lacks %q after offset %d:\n%s", w, at, out)
				}
				at += i + len(w)
			}
		})
	}
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"modules", "nope", "--kernel-dir", kdir, "--kver", "6.1.0-56-amd64"}, &stdout, &stderr); err == nil {
		t.Error("needle modules nope: no error")
	}
}
