package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModulesColdplugDecidesLikeTheBoot: `needle modules coldplug` in the
// debug shell takes the boot's decisions (install.LoadHWDB with the
// image's hwdb.d, install.NewDecider with its overlays): on the captured
// "PowerEdge C5220" with a megasas-gen2, the overlay when the image's
// hwdb.d holds the rule that names it, the stock driver otherwise.
func TestModulesColdplugDecidesLikeTheBoot(t *testing.T) {
	const kver = "6.1.0-56-amd64" // the capture's kernel
	kdir := t.TempDir()
	mods := filepath.Join(kdir, "lib/modules", kver)
	if err := os.MkdirAll(filepath.Join(mods, "updates"), 0o755); err != nil {
		t.Fatal(err)
	}
	idx, _ := filepath.Glob("../../modules/testdata/index/modules.*")
	for _, f := range idx {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(mods, filepath.Base(f)), b, 0o644)
	}
	os.WriteFile(filepath.Join(mods, "updates/megaraid_sas.ko"), []byte("FAKE overlay: dry run only"), 0o644)
	withRule := t.TempDir()
	os.MkdirAll(filepath.Join(withRule, "hwdb.d"), 0o755)
	rule, err := os.ReadFile(filepath.Join(qemuProofRules, "qemu-overlay-proof.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(withRule, "hwdb.d/proof.yaml"), rule, 0o644)

	for _, tc := range []struct {
		name, configDir, want, notWant string
	}{
		{"image with the rule", withRule, "would load updates/megaraid_sas.ko", "kernel/drivers/scsi/megaraid/megaraid_sas.ko"},
		{"image without it", t.TempDir(), "would load kernel/drivers/scsi/megaraid/megaraid_sas.ko", "updates/megaraid_sas.ko"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runNeedle(t, "modules", "coldplug", "--dry-run", "--kernel-dir", kdir, "--kver", kver,
				"--sysfs", capturedTree, "--config-dir", tc.configDir)
			if err != nil {
				t.Fatalf("needle modules coldplug: %v\n%s", err, out)
			}
			if !strings.Contains(out, tc.want) || strings.Contains(out, tc.notWant) {
				t.Errorf("coldplug --dry-run output lacks %q or has %q:\n%s", tc.want, tc.notWant, out)
			}
		})
	}
}
