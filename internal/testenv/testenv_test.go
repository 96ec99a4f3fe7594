package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKernel(t *testing.T) {
	mk := func(t *testing.T, files ...string) string {
		root := t.TempDir()
		for _, f := range files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("6.1.0-57-amd64\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return root
	}
	good := []string{"out/kernel-release", ".cache/kernel/6.1.0-57-amd64/lib/modules/6.1.0-57-amd64/modules.order", ".cache/kernel/6.1.0-57-amd64/boot/vmlinuz-6.1.0-57-amd64"}
	for _, tc := range []struct {
		name    string
		files   []string
		wantErr string
	}{
		{"built", good, ""},
		// A second cached kernel does not confuse it: out/kernel-release decides.
		{"two cached", append(good, ".cache/kernel/6.1.0-56-amd64/lib/modules/6.1.0-56-amd64/x"), ""},
		{"not built", good[1:], "run ./build.sh"},
		{"no vmlinuz", good[:2], "boot/vmlinuz-6.1.0-57-amd64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := mk(t, tc.files...)
			dir, kver, err := kernel(root, "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("kernel() error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || kver != "6.1.0-57-amd64" || dir != filepath.Join(root, ".cache/kernel/6.1.0-57-amd64") {
				t.Fatalf("kernel() = %q, %q, %v; want the 6.1.0-57-amd64 tree", dir, kver, err)
			}
		})
	}
}
