package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/sysroot"
)

// capturedTree is a sysfs tree captured in QEMU with the reference kernel
// and a Dell PowerEdge C5220 SMBIOS (internal/inventory/testdata/README.md).
const capturedTree = "../../internal/inventory/testdata/qemu-c5220-megasas-gen2"

func runNeedle(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var o, e strings.Builder
	err := run(context.Background(), args, &o, &e)
	return o.String() + e.String(), err
}

func TestInventoryJSONOfCapture(t *testing.T) {
	out, err := runNeedle(t, "inventory", "--json", "--pci-ids", "none", "--sysfs", capturedTree)
	if err != nil {
		t.Fatalf("needle inventory: %v\n%s", err, out)
	}
	var got inventory.Inventory
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not inventory JSON: %v\n%s", err, out)
	}
	want, err := inventory.Read(sysroot.Capture(capturedTree))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*want, got); diff != "" {
		t.Errorf("needle inventory --json (-want +got):\n%s", diff)
	}
}

func TestInventoryTableAndCapture(t *testing.T) {
	dir := t.TempDir()
	out, err := runNeedle(t, "inventory", "--pci-ids", "none", "--sysfs", capturedTree, "--capture", dir)
	if err != nil {
		t.Fatalf("needle inventory --capture: %v\n%s", err, out)
	}
	for _, want := range []string{"Dell Inc. PowerEdge C5220", "pci-0000:00:03.0-scsi-0:2:0:0", "MEGADISK1", "megaraid_sas"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if _, err := inventory.Read(sysroot.Capture(dir)); err != nil {
		t.Errorf("capture is not readable: %v", err)
	}
}

func TestHwdbCheck(t *testing.T) {
	out, err := runNeedle(t, "hwdb", "check")
	if err != nil || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("needle hwdb check = %v\n%s", err, out)
	}
	// An extra directory that contradicts a built-in rule at equal
	// specificity is refused, naming both places.
	dir := t.TempDir()
	site := "rules:\n  - match: {pci: {vendor: 0x1000, device: [0x0079, 0x0073, 0x005d, 0x10e2]}}\n    module: megaraid_sas\n    raid_tool: perccli\n"
	if err := os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runNeedle(t, "hwdb", "check", dir)
	if err == nil || !strings.Contains(err.Error(), "hwdb/rules/megaraid.yaml:11: rule conflicts with "+filepath.Join(dir, "site.yaml")+":2") {
		t.Errorf("needle hwdb check DIR = %v, want a conflict naming both files\n%s", err, out)
	}
	out, err = runNeedle(t, "hwdb", "check", "--no-builtin", dir)
	if err != nil {
		t.Errorf("needle hwdb check --no-builtin DIR = %v\n%s", err, out)
	}
}

// qemuProofRules is the QEMU tests' overlay proof rule directory.
const qemuProofRules = "../../qemu-test/testdata/hwdb"

func TestHwdbMatch(t *testing.T) {
	tests := []struct {
		kernel string
		want   []string
	}{
		{"", []string{
			"machine: Dell Inc. PowerEdge C5220 (board Dell Inc. 0NJ3VW), kernel 6.1.0-56-amd64",
			"-> overlay megaraid_sas raid_tool storcli  by " + qemuProofRules + "/qemu-overlay-proof.yaml:11",
			"WIN " + qemuProofRules + "/qemu-overlay-proof.yaml:11 (dmi 4, pci 8, kernel 2)",
			"yes hwdb/rules/megaraid.yaml:11",
			"0000:00:04.0 1af4:1000 sub 1af4:0001",
			"-> stock modalias match (no rule for this vendor/class)",
		}},
		{"5.10.0-28-amd64", []string{
			"-> module megaraid_sas raid_tool storcli  by hwdb/rules/megaraid.yaml:11",
			"no  " + qemuProofRules + "/qemu-overlay-proof.yaml:11 (dmi 4, pci 8, kernel 2): kernel 5.10.0-28-amd64 is outside 6.1 <= kernel < 6.2",
		}},
	}
	for _, tt := range tests {
		t.Run("kernel="+tt.kernel, func(t *testing.T) {
			// The overlay rule is the QEMU tests' proof rule, loaded as an
			// extra directory: the built-in rules ship none for this box.
			args := []string{"hwdb", "match", "--sysfs", capturedTree, "--hwdb-extra", qemuProofRules}
			if tt.kernel != "" {
				args = append(args, "--kernel", tt.kernel)
			}
			out, err := runNeedle(t, args...)
			if err != nil {
				t.Fatalf("needle %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// fakeModulesTree writes DIR/lib/modules/KVER with a modules.alias (and,
// when overlay is set, updates/megaraid_sas.ko): an image's module tree
// as far as `hwdb check|match --kernel-dir` reads it.
func fakeModulesTree(t *testing.T, kver, aliases string, overlay bool) string {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "lib", "modules", kver)
	if err := os.MkdirAll(filepath.Join(root, "updates"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "modules.alias"), []byte(aliases), 0o644); err != nil {
		t.Fatal(err)
	}
	if overlay {
		if err := os.WriteFile(filepath.Join(root, "updates", "megaraid_sas.ko"), []byte("FAKE overlay: never loaded"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestHwdbCheckKernelDir(t *testing.T) {
	covered := "# Aliases extracted from modules themselves.\n" +
		"alias pci:v00001000d0000005Bsv*sd*bc*sc*i* megaraid_sas\n" +
		"alias pci:v00009005d0000028Fsv00001590sd00000294bc*sc*i* smartpqi\n" +
		"alias pci:v0000103Cd*sv*sd*bc01sc04i* hpsa\n" +
		"alias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_pci\n"
	out, err := runNeedle(t, "hwdb", "check", "--kernel-dir", fakeModulesTree(t, "6.1.0-57-amd64", covered, false))
	if err != nil {
		t.Fatalf("needle hwdb check --kernel-dir = %v\n%s", err, out)
	}
	for _, w := range []string{"coverage of kernel 6.1.0-57-amd64", "megaraid_sas 1/1", "smartpqi 1/1", "total 2/2"} {
		if !strings.Contains(squeeze(out), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	uncovered := covered + "alias pci:v00001000d0000FFFFsv*sd*bc*sc*i* mpt3sas\n"
	out, err = runNeedle(t, "hwdb", "check", "--kernel-dir", fakeModulesTree(t, "6.1.0-57-amd64", uncovered, false))
	if err == nil || !strings.Contains(err.Error(), "1 of the 3 PCI ids") {
		t.Errorf("needle hwdb check --kernel-dir with an unknown id = %v, want 1 of 3 uncovered\n%s", err, out)
	}
	for _, w := range []string{"mpt3sas 0/1", "uncovered: 1000:ffff sub *:* (alias pci:v00001000d0000FFFFsv*sd*bc*sc*i*): no rule decides a RAID tool"} {
		if !strings.Contains(squeeze(out), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestHwdbMatchImage: match names the stock alias match and the tool, and
// whether the image carries the overlay the deciding rule names.
func TestHwdbMatchImage(t *testing.T) {
	aliases := "alias pci:v00001000d00000079sv*sd*bc*sc*i* megaraid_sas\n"
	for _, tt := range []struct {
		name    string
		overlay bool
		want    string
	}{
		{"carried", true, "overlay megaraid_sas: carried by this image ("},
		{"missing", false, "overlay megaraid_sas: NOT carried by this image (no "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := fakeModulesTree(t, "6.1.0-56-amd64", aliases, tt.overlay)
			out, err := runNeedle(t, "hwdb", "match", "--sysfs", capturedTree, "--hwdb-extra", qemuProofRules, "--kernel-dir", dir)
			if err != nil {
				t.Fatalf("needle hwdb match: %v\n%s", err, out)
			}
			for _, w := range []string{
				"modules: " + filepath.Join(dir, "lib/modules/6.1.0-56-amd64") + " (aliases from ",
				"     stock alias match: megaraid_sas\n     raid tool: storcli\n     " + tt.want,
				"0000:00:04.0 1af4:1000 sub 1af4:0001",
				"     stock alias match: none (no module alias matches pci:v00001AF4d00001000",
				"     raid tool: none known (no rule decides this device)",
			} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// squeeze turns every run of spaces into one, so checks do not depend on
// column widths.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

// TestHwdbMissingDirs: a mistyped rule directory is an error naming it,
// never "ok" on no rules.
func TestHwdbMissingDirs(t *testing.T) {
	empty := t.TempDir()
	for _, args := range [][]string{
		{"hwdb", "check", "/nonexistent"},
		{"hwdb", "check", empty},
		{"hwdb", "match", "--sysfs", capturedTree, "--hwdb-extra", "/nonexistent"},
		{"hwdb", "match", "--sysfs", capturedTree, "--hwdb-extra", empty},
	} {
		out, err := runNeedle(t, args...)
		if err == nil || !strings.Contains(err.Error(), args[len(args)-1]) {
			t.Errorf("needle %v = %v (%s), want an error naming the directory", args, err, out)
		}
	}
}
