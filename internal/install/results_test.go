package install

import (
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/stage"
)

// TestSequenceWiring: every result a step of the install reads is made by
// a step before it, the printed sequence shows the flow, and a cut that
// leaves a step without its input is refused before anything runs.
func TestSequenceWiring(t *testing.T) {
	seq := Sequence(&Machine{Config: &cmdline.Config{}})
	if err := seq.Check(); err != nil {
		t.Fatalf("the install sequence is miswired: %v", err)
	}
	printed := seq.String()
	for _, want := range []string{
		"1. inventory/scan (fatal): → inventory\n",
		"modules/hwdb (fatal): → hwdb\n",
		"modules/coldplug (fatal): inventory, hwdb → modules\n",
		"network/up (fatal when a plan, report, hwdb or bisect URL must be reached, else best-effort): modules, medium → network\n",
		"plan/installed (fatal): plan → installed\n",
		"raid/apply (fatal; skipped when the disk already holds this plan's install): plan, inventory, hwdb, modules, medium? → volumes, inventory\n",
		"disks/release (fatal; skipped when the disk already holds this plan's install): plan, volumes? → disks\n",
		"image/stream (fatal; skipped when the disk already holds this plan's install): disks → images\n",
		"handoff/boot (fatal): plan, disks →\n",
	} {
		if !strings.Contains(printed, want) {
			t.Errorf("printed sequence lacks %q:\n%s", want, printed)
		}
	}
	// What the shell's `needle install --from STAGE` runs: every stage that
	// only looks, then the destructive ones from STAGE on.
	cut := func(from cmdline.Stage) stage.Sequence {
		var out stage.Sequence
		for _, s := range seq {
			if !Destructive(s.Stage) || cmdline.StageIndex(string(s.Stage)) >= cmdline.StageIndex(string(from)) {
				out = append(out, s)
			}
		}
		return out
	}
	for _, from := range []cmdline.Stage{cmdline.RAID, cmdline.Disks} {
		if err := cut(from).Check(); err != nil {
			t.Errorf("--from %s: %v, want a runnable sequence", from, err)
		}
	}
	for from, want := range map[cmdline.Stage]string{
		cmdline.Image:   "step image/stream uses disks, which no step before it makes",
		cmdline.Files:   "step files/write uses disks, which no step before it makes",
		cmdline.Handoff: "step handoff/boot uses disks, which no step before it makes",
	} {
		if err := cut(from).Check(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--from %s: Check() = %v, want %q", from, err, want)
		}
	}
}
