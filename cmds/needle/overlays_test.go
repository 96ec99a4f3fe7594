package main

import (
	"strings"
	"testing"

	"github.com/needle-boot/needle/initramfs"
)

func TestHwdbOverlays(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    string
		wantErr string
	}{
		{[]string{"--kernel", "6.1.0-57-amd64"}, "", ""},
		{[]string{"--kernel", "6.1.0-57-amd64", "--hwdb-extra", qemuProofRules}, "megaraid_sas qemu-c5220-megasas-gen2-overlay-proof " + qemuProofRules + "/qemu-overlay-proof.yaml:11\n", ""},
		{[]string{"--kernel", "3.2.0-4-amd64"}, "mpt2sas dell-c5220-sas2008-sas2ircu-segfault hwdb/rules/dell-c5220.yaml:14\n", ""},
		{[]string{"--kernel", "6.1.0-57-amd64", "--hwdb-extra", "/nonexistent"}, "", "--hwdb-extra /nonexistent: not a directory"},
		{[]string{}, "", "want --kernel KVER"},
	} {
		var o, e strings.Builder
		err := run(t.Context(), append([]string{"hwdb", "overlays"}, tc.args...), &o, &e)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("hwdb overlays %q = %v, want an error containing %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || o.String() != tc.want {
			t.Errorf("hwdb overlays %q = %q, %v; want %q", tc.args, o.String(), err, tc.want)
		}
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
	old := initramfs.Spec{KernelRelease: "3.2.0-4-amd64"}
	if err := checkOverlays(old, nil); err == nil || !strings.Contains(err.Error(), "overlay mpt2sas") {
		t.Errorf("checkOverlays(3.2 kernel) = %v, want the seed rule's mpt2sas missing", err)
	}
}
