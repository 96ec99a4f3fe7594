package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/needle-boot/needle/initramfs"
)

// twoOverlayRules writes a rule file whose rules name overlays out of
// alphabetical order (zz_drv first, then aa_drv), for a 6.1 kernel only.
func twoOverlayRules(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rules := `rules:
  - name: zz-rule
    match:
      pci: {vendor: 0x1af4, device: 0x1001}
      kernel: {min: "6.1", max: "6.2"}
    overlay: zz_drv
  - name: aa-rule
    match:
      pci: {vendor: 0x1af4, device: 0x1002}
      kernel: {min: "6.1", max: "6.2"}
    overlay: aa_drv
`
	if err := os.WriteFile(filepath.Join(dir, "two.yaml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestHwdbOverlays(t *testing.T) {
	two := twoOverlayRules(t)
	proof := "megaraid_sas qemu-c5220-megasas-gen2-overlay-proof " + qemuProofRules + "/qemu-overlay-proof.yaml:11\n"
	for _, tc := range []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{"built-in rules need nothing on 6.1", []string{"--kernel", "6.1.0-57-amd64"}, "", ""},
		{"extra rule applies", []string{"--kernel", "6.1.0-57-amd64", "--hwdb-extra", qemuProofRules}, proof, ""},
		{"extra rule outside its range", []string{"--kernel", "6.2.0-1-amd64", "--hwdb-extra", qemuProofRules}, "", ""},
		{"built-in seed rule on an old kernel", []string{"--kernel", "2.6.32-5-amd64"}, "mpt2sas dell-c5220-sas2008-sas2ircu-segfault hwdb/rules/dell-c5220.yaml:", ""},
		{"built-in rules left out", []string{"--kernel", "2.6.32-5-amd64", "--no-builtin", "--hwdb-extra", qemuProofRules}, "", ""},
		{"sorted by module", []string{"--kernel", "6.1.0-57-amd64", "--no-builtin", "--hwdb-extra", two, "--hwdb-extra", qemuProofRules},
			"aa_drv aa-rule " + two + "/two.yaml:7\n" + proof + "zz_drv zz-rule " + two + "/two.yaml:2\n", ""},
		{"no rules at all", []string{"--kernel", "6.1.0-57-amd64", "--no-builtin"}, "", "--no-builtin needs at least one --hwdb-extra DIR"},
		{"missing extra dir", []string{"--kernel", "6.1.0-57-amd64", "--hwdb-extra", "/nonexistent"}, "", "--hwdb-extra /nonexistent: not a directory"},
		{"bad kernel release", []string{"--kernel", "not-a-kernel"}, "", "kernel release"},
		{"no kernel", []string{}, "", "want --kernel KVER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o, e strings.Builder
			err := run(t.Context(), append([]string{"hwdb", "overlays"}, tc.args...), &o, &e)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("hwdb overlays %q = %v, want an error containing %q", tc.args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("hwdb overlays %q = %v", tc.args, err)
			}
			// The built-in rule's line moves when its file is edited: compare
			// that one case by prefix.
			if got := o.String(); got != tc.want && !(strings.HasSuffix(tc.want, ":") && strings.HasPrefix(got, tc.want) && strings.Count(got, "\n") == 1) {
				t.Errorf("hwdb overlays %q = %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}

// TestBuildRefusesMissingOverlay: an image whose rules name an overlay for
// its kernel must carry it.
func TestBuildRefusesMissingOverlay(t *testing.T) {
	with := initramfs.Spec{KernelRelease: "6.1.0-57-amd64", Files: []initramfs.File{{Dest: "/lib/modules/6.1.0-57-amd64/updates/megaraid_sas.ko"}}}
	without := initramfs.Spec{KernelRelease: "6.1.0-57-amd64"}
	if err := checkOverlays(with, []string{qemuProofRules}); err != nil {
		t.Errorf("checkOverlays(with the overlay) = %v", err)
	}
	if err := checkOverlays(without, nil); err != nil {
		t.Errorf("checkOverlays(built-in rules, 6.1) = %v; the shipped rules need no overlay on 6.1", err)
	}
	err := checkOverlays(without, []string{qemuProofRules})
	for _, want := range []string{"rule qemu-c5220-megasas-gen2-overlay-proof", "qemu-overlay-proof.yaml:11", "names overlay megaraid_sas, which this image does not carry"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("checkOverlays(without the overlay) = %v, want an error containing %q", err, want)
		}
	}
	old := initramfs.Spec{KernelRelease: "2.6.32-5-amd64"}
	if err := checkOverlays(old, nil); err == nil || !strings.Contains(err.Error(), "overlay mpt2sas") {
		t.Errorf("checkOverlays(2.6.32 kernel) = %v, want the seed rule's mpt2sas missing", err)
	}
}

// TestHwdbCheckFlagsOverlayWithoutRecipe: needle hwdb check names a rule
// whose overlay no recipe makes (the shipped seed rule today: its mpt2sas
// patch is for kernels before 2.6.36), and not one whose recipe exists.
func TestHwdbCheckFlagsOverlayWithoutRecipe(t *testing.T) {
	out, err := runNeedle(t, "hwdb", "check", "--recipes", "../../qemu-test/testdata/overlays", qemuProofRules)
	if err != nil {
		t.Fatalf("hwdb check: %v\n%s", err, out)
	}
	if !strings.Contains(out, "warning: rule dell-c5220-sas2008-sas2ircu-segfault (hwdb/rules/dell-c5220.yaml:") || !strings.Contains(out, "names overlay mpt2sas, and no recipe") {
		t.Errorf("hwdb check does not flag the seed rule's missing mpt2sas recipe:\n%s", out)
	}
	if strings.Contains(out, "overlay megaraid_sas, and no recipe") {
		t.Errorf("hwdb check flags megaraid_sas, whose recipe exists:\n%s", out)
	}
	if _, err := runNeedle(t, "hwdb", "check", "--recipes", "/nonexistent"); err == nil {
		t.Errorf("hwdb check --recipes /nonexistent succeeded")
	}
}
