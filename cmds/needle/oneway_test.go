package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/install"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/stage"
	"github.com/needle-boot/needle/internal/sysroot"
)

// oneWayPlan asks for a volume on the captured megasas-gen2 without naming
// a tool: only the hwdb can name it.
const oneWayPlan = `version: 1
name: oneway
raid:
  - controller: {pci: "0000:00:03.0"}
    volumes:
      - {name: os, level: raid1, count: 2}
disks:
  - id: root
    select: {raid_volume: os}
    wipe: true
boot: {reboot: {}}
`

// TestPlanCheckDecidesLikeTheBoot runs `needle plan check` and the boot's
// own steps (inventory/scan, modules/hwdb, plan/fetch, plan/validate, cut
// from install.Sequence) on the same captured machine and the same image
// config, and compares what they decide: the same validation report, with
// the controller's tool from the built-in rules, or from the image's
// hwdb.d when a site rule there names another.
func TestPlanCheckDecidesLikeTheBoot(t *testing.T) {
	// A site rule in the image's hwdb.d: this Dell's controller is run with
	// perccli (the built-in rules name storcli for a 1000:0079 that is not
	// Dell-branded).
	const rule = `rules:
  - name: site-c5220-perccli
    match:
      pci: {vendor: 0x1000, device: 0x0079}
      dmi: {sys_vendor: "Dell Inc."}
    raid_tool: perccli
    reference: a site rule (test)
`
	invJSON, err := runNeedle(t, "inventory", "--json", "--pci-ids", "none", "--sysfs", capturedTree)
	if err != nil {
		t.Fatalf("needle inventory: %v\n%s", err, invJSON)
	}
	invFile := filepath.Join(t.TempDir(), "inventory.json")
	os.WriteFile(invFile, []byte(invJSON), 0o644)

	for _, tc := range []struct {
		name     string
		withRule bool
		want     string
	}{
		{"the built-in rules name the tool", false, "raid tools needed: storcli"},
		{"the image's hwdb.d names another", true, "raid tools needed: perccli"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := t.TempDir()
			os.WriteFile(filepath.Join(cfg, install.PlanFile), []byte(oneWayPlan), 0o644)
			if tc.withRule {
				os.MkdirAll(filepath.Join(cfg, "hwdb.d"), 0o755)
				os.WriteFile(filepath.Join(cfg, "hwdb.d/site.yaml"), []byte(rule), 0o644)
			}
			shell, shellErr := runNeedle(t, "plan", "check", "--inventory", invFile, "--tools", "storcli,perccli",
				"--config-dir", cfg, filepath.Join(cfg, install.PlanFile))
			boot, bootErr := bootValidates(t, cfg)
			if (shellErr == nil) != (bootErr == nil) {
				t.Fatalf("plan check: %v, boot: %v; they must agree\nshell:\n%s\nboot:\n%s", shellErr, bootErr, shell, boot)
			}
			if bootErr != nil {
				t.Fatalf("both refused: %v", bootErr)
			}
			if !strings.Contains(boot, tc.want) {
				t.Errorf("the boot's validation does not name %s:\n%s", tc.want, boot)
			}
			if strings.TrimSpace(shell) != strings.TrimSpace(boot) {
				t.Errorf("plan check and the boot differ\nshell:\n%s\nboot:\n%s", shell, boot)
			}
		})
	}
}

// bootValidates runs the boot's looking steps that decide a plan on the
// captured machine, with the image config in cfg, and returns the plan
// stage's report lines.
func bootValidates(t *testing.T, cfg string) (string, error) {
	t.Helper()
	mem := &report.Memory{}
	m := &install.Machine{Config: &cmdline.Config{}, Report: report.New(mem), Root: sysroot.Capture(capturedTree),
		ConfigDir: cfg, RunDir: t.TempDir(), KernelRelease: "6.1.0-56-amd64", Tools: []string{"storcli", "perccli"}}
	var steps stage.Sequence
	for _, s := range install.Sequence(m) {
		switch string(s.Stage) + "/" + s.Name {
		case "inventory/scan", "modules/hwdb", "plan/fetch", "plan/validate":
			steps = append(steps, s)
		}
	}
	err := steps.Run(context.Background(), stage.Options{Report: report.New()})
	var lines []string
	for _, e := range mem.Events() {
		if e.Stage == "plan" && e.Kind == report.Info {
			lines = append(lines, e.Message)
		}
	}
	return strings.Join(lines, "\n"), err
}
