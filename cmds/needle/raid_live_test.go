package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/raid/fake"
)

// buildFakeSAS2IRCU builds the standalone FAKE sas2ircu once per test.
func buildFakeSAS2IRCU(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH to build the FAKE sas2ircu")
	}
	bin := filepath.Join(t.TempDir(), "sas2ircu")
	cmd := exec.Command(gobin, "build", "-o", bin, "../../internal/raid/fake/cmd/fake-sas2ircu")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build fake sas2ircu: %v\n%s", err, out)
	}
	return bin
}

// TestRaidShowApply runs "needle raid show" and "needle raid apply" on the
// inventory captured in the QEMU C5220 VM (megasas-gen2 at 0000:00:03.0,
// two 64 MiB disks), with the FAKE sas2ircu seeded to pose as a SAS2008
// at that address.
func TestRaidShowApply(t *testing.T) {
	bin := buildFakeSAS2IRCU(t)
	seed := fake.DefaultState()
	seed.Bus, seed.PCIDevice, seed.NextVolumeID = 0, 3, 0
	for i := range seed.Disks {
		seed.Disks[i].Sectors = (64 + 563) << 11 // a 64 MiB RAID1
	}
	js, _ := json.Marshal(seed)
	dir := t.TempDir()
	t.Setenv(fake.StateEnv, filepath.Join(dir, "state.json"))
	t.Setenv(fake.SeedEnv, string(js))
	capture := filepath.Join("..", "..", "internal", "inventory", "testdata", "qemu-c5220-megasas-gen2")
	common := []string{"--binary", bin, "--sysfs", filepath.Join(capture, "sys"), "--proc", filepath.Join(capture, "proc")}
	planFile := filepath.Join(dir, "plan.yaml")
	os.WriteFile(planFile, []byte(`version: 1
raid:
  - controller: {pci: "0000:00:03.0", tool: sas2ircu}
    volumes:
      - {name: os, level: raid1, members: ["1:0", "1:1"]}
disks:
  - id: system
    select: {raid_volume: os}
    wipe: true
    partitions:
      - {name: root, type: linux, size: rest, filesystem: {format: ext4}}
boot: {reboot: {}}
`), 0o644)
	runRaidCmd := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), append([]string{"raid"}, args...), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}

	out, _, err := runRaidCmd(append([]string{"show", "--tool", "sas2ircu"}, common...)...)
	if err != nil || !strings.Contains(out, "controller 0  SAS2008  pci 0000:00:03.0") || !strings.Contains(out, "disk   1:1") {
		t.Fatalf("raid show: %v\n%s", err, out)
	}

	out, _, err = runRaidCmd(append([]string{"apply", "--plan", planFile, "--dry-run"}, common...)...)
	if want := bin + " 0 CREATE RAID1 MAX 1:0 1:1 os noprompt\n"; err != nil || out != want {
		t.Fatalf("raid apply --dry-run = %q, %v; want %q", out, err, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json.tmp")); err == nil {
		t.Errorf("dry run left a temporary state file")
	}

	out, _, err = runRaidCmd(append([]string{"apply", "--plan", planFile}, common...)...)
	if err != nil || !strings.Contains(out, "done: create os on controller 0") || !strings.Contains(out, "volume os is /dev/sda") {
		t.Fatalf("raid apply: %v\n%s", err, out)
	}
	out, _, err = runRaidCmd(append([]string{"apply", "--plan", planFile}, common...)...)
	if err != nil || !strings.Contains(out, "keep os on controller 0 as volume 0") {
		t.Fatalf("second raid apply: %v\n%s", err, out)
	}

	// The seed's failure: DISPLAY segfaults; the report names the
	// controller, its driver and the hwdb rule.
	t.Setenv(fake.SegvEnv, "display")
	_, stderr, err := runRaidCmd(append([]string{"apply", "--plan", planFile}, common...)...)
	if err == nil || !strings.Contains(err.Error(), "killed by signal 11 (segmentation fault)") {
		t.Fatalf("raid apply with a crashing tool: %v", err)
	}
	for _, want := range []string{"controller  0000:00:03.0  1000:0079 subsystem 1000:9261", "driver      megaraid_sas", "hwdb rule   hwdb/rules/megaraid.yaml:", "hint        a patched driver"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("crash report lacks %q:\n%s", want, stderr)
		}
	}
}

func TestRaidApplyRefusesBadPlan(t *testing.T) {
	dir := t.TempDir()
	planFile := filepath.Join(dir, "plan.yaml")
	os.WriteFile(planFile, []byte("version: 1\nraid:\n  - controller: {pci: \"0000:00:09.0\", tool: sas2ircu}\n    volumes:\n      - {name: os, level: raid1, members: [\"1:0\", \"1:1\"]}\nboot: {reboot: {}}\n"), 0o644)
	capture := filepath.Join("..", "..", "internal", "inventory", "testdata", "qemu-c5220-megasas-gen2")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"raid", "apply", "--plan", planFile, "--binary", "/nonexistent", "--sysfs", filepath.Join(capture, "sys"), "--proc", filepath.Join(capture, "proc")}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "nothing was touched") || !strings.Contains(err.Error(), "0000:00:09.0") {
		t.Errorf("apply with a controller that is not there: %v", err)
	}
}
