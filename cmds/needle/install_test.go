package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInstallPrintsCmdlineWarnings: `needle install` says what the init
// says about the command line, a mistyped needle.* key included.
func TestInstallPrintsCmdlineWarnings(t *testing.T) {
	line := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(line, []byte("console=ttyS0 needle.plam=http://x/p.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCLI(t, "install", "--list", "--cmdline", line)
	if err != nil {
		t.Fatalf("install --list: %v", err)
	}
	if !strings.Contains(out, "unknown key needle.plam ignored") {
		t.Errorf("install --list output lacks the unknown-key warning:\n%s", out)
	}
}
