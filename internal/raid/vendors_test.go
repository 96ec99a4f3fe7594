package raid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid/fake"
	"github.com/needle-boot/needle/internal/toolrun"
)

// vendorCase is one of the tools whose drivers came after the LSI ones,
// run against its FAKE: the controller as the plan names it and two free
// disks, in the tool's own addresses and as the enclosure:slot a plan
// writes.
type vendorCase struct {
	tool    string
	index   int
	members []string
	slots   []string // nil: the tool's disks have no enclosure:slot
	// dryRun is the dry run's command line for a RAID1 named os, size
	// 100 GiB (or max where the tool takes no size).
	dryRun string
	sized  bool
}

var vendorCases = []vendorCase{
	{tool: "arcconf", index: 1, members: []string{"0:0", "0:1"}, sized: true,
		dryRun: "arcconf CREATE 1 LOGICALDRIVE Name os 102400 1 0 0 0 1 noprompt\n"},
	{tool: "tw_cli", index: 0, members: []string{"p0", "p1"}, slots: []string{"0:0", "0:1"},
		dryRun: "tw_cli /c0 add type=raid1 disk=0:1 name=os\n"},
	{tool: "ssacli", index: 2, members: []string{"5I:1:1", "5I:1:2"}, slots: []string{"1:1", "1:2"}, sized: true,
		dryRun: "ssacli ctrl slot=2 create type=ld drives=5I:1:1,5I:1:2 raid=1 size=102400\n"},
}

func (c vendorCase) entry(vols ...plan.Volume) plan.RAID {
	return plan.RAID{Controller: plan.Controller{Index: &c.index, Tool: c.tool}, Volumes: vols}
}

// TestVendorApply runs each driver against its FAKE through the real
// toolrun.Exec: an apply from the empty controller creates the volume and
// reads it back; a second apply changes nothing; a volume that differs
// from the plan is refused with the differences while recreate is not
// set, and deleted and created again once it is.
func TestVendorApply(t *testing.T) {
	for _, c := range vendorCases {
		t.Run(c.tool, func(t *testing.T) {
			ctx := context.Background()
			d, _ := fakeDriver(t, c.tool, 30*time.Second)
			entry := c.entry(vol("os", "raid1", c.members...))
			res, err := Apply(ctx, d, entry, ApplyOptions{})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if len(res.Actions) != 1 || res.Actions[0].Kind != Create {
				t.Errorf("first apply actions %v, want one create", res.Actions)
			}
			got, ok := res.Volumes["os"]
			if !ok || got.Level != "raid1" || !sameSet(got.Members, c.members) || got.SizeBytes == 0 || got.State != VolumeOptimal {
				t.Fatalf("volume read back: %+v (all: %+v)", got, res.After.Volumes)
			}
			if VolumeNames(c.tool) && got.Name != "os" {
				t.Errorf("volume name read back %q, want os", got.Name)
			}
			for _, disk := range res.After.Disks {
				if disk.State != DiskOnline {
					t.Errorf("disk %s is %s after the create, want online", disk.Location, disk.State)
				}
			}

			res, err = Apply(ctx, d, entry, ApplyOptions{})
			if err != nil {
				t.Fatalf("second apply: %v", err)
			}
			if len(res.Actions) != 1 || res.Actions[0].Kind != Keep || res.Volumes["os"].ID != got.ID {
				t.Errorf("second apply actions %v, want keep of volume %s", res.Actions, got.ID)
			}

			entry.Volumes[0].Level = "raid0"
			_, err = Apply(ctx, d, entry, ApplyOptions{})
			var me *MismatchError
			if !errors.As(err, &me) || !cmp.Equal(me.Diffs, []FieldDiff{{"level", "raid0", "raid1"}}) {
				t.Fatalf("raid0 over the raid1 without recreate: %v, want a *MismatchError on the level only", err)
			}
			if !strings.Contains(err.Error(), "level: want raid0, have raid1") || !strings.Contains(err.Error(), "set recreate: true") {
				t.Errorf("refusal %q does not show the difference and the way out", err)
			}
			if after, _ := d.State(ctx); len(after.Volumes) != 1 || after.Volumes[0].Level != "raid1" {
				t.Errorf("a refused apply changed the controller: %+v", after.Volumes)
			}

			entry.Volumes[0].Recreate = true
			res, err = Apply(ctx, d, entry, ApplyOptions{})
			if err != nil {
				t.Fatalf("recreate: %v", err)
			}
			if k := []ActionKind{res.Actions[0].Kind, res.Actions[1].Kind}; !cmp.Equal(k, []ActionKind{Delete, Create}) || res.Actions[0].VolumeID != got.ID {
				t.Errorf("recreate actions %v, want delete of %s then create", res.Actions, got.ID)
			}
			if v := res.Volumes["os"]; v.Level != "raid0" || !sameSet(v.Members, c.members) {
				t.Errorf("after recreate: %+v", v)
			}
			if len(res.After.Volumes) != 1 {
				t.Errorf("after recreate the controller has %d volumes, want 1: %+v", len(res.After.Volumes), res.After.Volumes)
			}
		})
	}
}

// TestVendorDryRun: a dry run prints the exact command line (the binary
// is this test executable; the expected line names the tool) and changes
// nothing.
func TestVendorDryRun(t *testing.T) {
	for _, c := range vendorCases {
		t.Run(c.tool, func(t *testing.T) {
			d, _ := fakeDriver(t, c.tool, 30*time.Second)
			os1 := vol("os", "raid1", c.members...)
			if c.sized {
				os1.SizeSpec = plan.Size{Bytes: 100 << 30}
			}
			var out bytes.Buffer
			res, err := Apply(context.Background(), d, c.entry(os1), ApplyOptions{DryRun: true, Out: &out})
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if got := strings.ReplaceAll(out.String(), d.Binary(), c.tool); got != c.dryRun {
				t.Errorf("dry run printed %q, want %q", got, c.dryRun)
			}
			after, err := d.State(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(after.Volumes) != 0 || res.After != nil {
				t.Errorf("dry run changed the state: %+v", after.Volumes)
			}
		})
	}
}

// TestVendorSlots: a plan names members by enclosure:slot (as plan.Check
// wants them); tw_cli and ssacli disks carry it beside their own address,
// and the volume is created on, and found again by, the right disks.
func TestVendorSlots(t *testing.T) {
	for _, c := range vendorCases {
		if c.slots == nil {
			continue
		}
		t.Run(c.tool, func(t *testing.T) {
			ctx := context.Background()
			d, _ := fakeDriver(t, c.tool, 30*time.Second)
			var out bytes.Buffer
			entry := c.entry(vol("os", "raid1", c.slots...))
			res, err := Apply(ctx, d, entry, ApplyOptions{Out: &out})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if want := fmt.Sprintf("done: create os on controller %d: raid1 of %s, size max (absent)\n", c.index, strings.Join(c.members, ",")); out.String() != want {
				t.Errorf("apply printed %q, want %q", out.String(), want)
			}
			if v := res.Volumes["os"]; !sameSet(v.Members, c.members) {
				t.Errorf("volume members %v, want %v", v.Members, c.members)
			}
			res, err = Apply(ctx, d, entry, ApplyOptions{})
			if err != nil || len(res.Actions) != 1 || res.Actions[0].Kind != Keep {
				t.Errorf("second apply by enclosure:slot: %v, %v; want keep", res.Actions, err)
			}
		})
	}
}

// TestSsacliWithoutNames: ssacli stores no volume names, so a volume given
// by a count is found again by its level, disk count and size, and two
// volumes are told apart by their disks.
func TestSsacliWithoutNames(t *testing.T) {
	ctx := context.Background()
	seed := fake.DefaultSsacli()
	for bay := 3; bay <= 4; bay++ {
		d := seed.Disks[0]
		d.Bay, d.Serial = bay, fmt.Sprintf("FAKE-BAY%d", bay)
		seed.Disks = append(seed.Disks, d)
	}
	js, _ := json.Marshal(seed)
	d, _ := fakeDriver(t, "ssacli", 30*time.Second, fake.SeedEnv+"="+string(js))
	two := plan.Size{Bytes: 200 << 30}
	entry := plan.RAID{Controller: plan.Controller{Index: &vendorCases[2].index, Tool: "ssacli"}, Volumes: []plan.Volume{
		{Name: "os", Level: "raid1", Count: 2, SizeSpec: two},
		{Name: "data", Level: "raid0", Count: 2, SizeSpec: plan.Size{Max: true}},
	}}
	res, err := Apply(ctx, d, entry, ApplyOptions{})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	osv, data := res.Volumes["os"], res.Volumes["data"]
	if !sameSet(osv.Members, []string{"5I:1:1", "5I:1:2"}) || osv.Level != "raid1" || !sameSet(data.Members, []string{"5I:1:3", "5I:1:4"}) || data.Level != "raid0" {
		t.Fatalf("volumes read back: os %+v, data %+v", osv, data)
	}
	res, err = Apply(ctx, d, entry, ApplyOptions{})
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, a := range res.Actions {
		if a.Kind != Keep || !strings.Contains(a.Reason, "ssacli stores no volume names") {
			t.Errorf("second apply action %v, want a keep that says how it was found", a)
		}
	}
	if res.Volumes["os"].ID != osv.ID || res.Volumes["data"].ID != data.ID {
		t.Errorf("second apply matched os to %s and data to %s, want %s and %s", res.Volumes["os"].ID, res.Volumes["data"].ID, osv.ID, data.ID)
	}
}

// dropRunner passes every call to the real runner except the ones whose
// argv contains drop, which it answers with the tool's success output
// without running them: a tool that says "done" and did nothing.
type dropRunner struct {
	toolrun.Runner
	drop string
	out  []byte
}

func (r dropRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	for _, a := range args {
		if a == r.drop {
			return r.out, nil
		}
	}
	return r.Runner.Run(ctx, name, args...)
}

// TestVendorVerify: the read-back catches a tool that reported success
// without creating the volume.
func TestVendorVerify(t *testing.T) {
	lies := map[string]dropRunner{
		"arcconf": {drop: "CREATE", out: []byte("Controllers found: 1\n\nCreating logical device: os\n\nCommand completed successfully.\n")},
		"tw_cli":  {drop: "add", out: []byte("Creating new unit on controller /c0 ... Done. The new unit is /c0/u0.\n")},
		"ssacli":  {drop: "create", out: nil},
	}
	for _, c := range vendorCases {
		t.Run(c.tool, func(t *testing.T) {
			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			r := lies[c.tool]
			r.Runner = toolrun.Exec{Timeout: 30 * time.Second, Env: append(os.Environ(), fake.ToolEnv+"="+c.tool, fake.StateEnv+"="+filepath.Join(t.TempDir(), "state.json"))}
			d, err := NewDriver(c.tool, exe, r)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Apply(context.Background(), d, c.entry(vol("os", "raid1", c.members...)), ApplyOptions{})
			if err == nil || !strings.Contains(err.Error(), `verify after apply: raid volume "os": not on controller`) {
				t.Errorf("apply with a create that did nothing: %v, want the read-back to find no volume", err)
			}
		})
	}
}

// TestVendorToolErrors: what the tools refuse comes back with their words.
func TestVendorToolErrors(t *testing.T) {
	for _, c := range vendorCases {
		t.Run(c.tool, func(t *testing.T) {
			d, _ := fakeDriver(t, c.tool, 30*time.Second)
			err := d.Delete(context.Background(), c.index, map[string]string{"arcconf": "7", "tw_cli": "u7", "ssacli": "7"}[c.tool])
			var te *ToolError
			var re *toolrun.Error
			if !errors.As(err, &te) || !errors.As(err, &re) || re.ExitCode != 1 {
				t.Fatalf("deleting a volume that does not exist: %v, want the tool's error and its exit status", err)
			}
			if !strings.Contains(te.Message, "7") {
				t.Errorf("tool error %q does not name the volume", te.Message)
			}
		})
	}
}

// TestApplyPlan: the raid section of a plan applied entry by entry, each
// through its own tool, the hwdb's choice standing in where the plan names
// none.
func TestApplyPlan(t *testing.T) {
	ctx := context.Background()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// One fake per tool: the runner picks the fake from the tool name the
	// driver was made for, which ApplyPlan passes as the binary's name.
	r := fakeByName{dir: dir, exe: exe}
	// The second entry names its controller by PCI address, which the
	// FAKE sas2ircu reports (tw_cli, arcconf and ssacli print none).
	entries := []plan.RAID{
		vendorCases[0].entry(vol("os", "raid1", vendorCases[0].members...)),
		{Controller: plan.Controller{PCI: "0000:03:00.0"}, Volumes: []plan.Volume{vol("data", "raid1", "1:0", "1:1")}},
	}
	var done []string
	applied, err := ApplyPlan(ctx, entries, func(pci string) string {
		if pci == "0000:03:00.0" {
			return "sas2ircu"
		}
		return ""
	}, r, PlanOptions{Done: func(a *Applied) { done = append(done, a.Before.Tool) }})
	if err != nil {
		t.Fatalf("ApplyPlan: %v", err)
	}
	if len(applied) != 2 || applied[0].Volumes["os"].Level != "raid1" || applied[1].Volumes["data"].Name != "data" {
		t.Errorf("applied %+v", applied)
	}
	if !cmp.Equal(done, []string{"arcconf", "sas2ircu"}) {
		t.Errorf("Done called for %q, want arcconf then sas2ircu", done)
	}

	entries = append(entries, plan.RAID{Controller: plan.Controller{PCI: "0000:09:00.0"}, Volumes: []plan.Volume{vol("x", "raid1", "1:0", "1:1")}})
	applied, err = ApplyPlan(ctx, entries, func(string) string { return "" }, r, PlanOptions{})
	if !errors.Is(err, ErrNoTool) || !strings.Contains(err.Error(), "raid controller 0000:03:00.0: no tool named") || len(applied) != 1 {
		t.Errorf("ApplyPlan with a controller no tool is named for: %d applied, %v", len(applied), err)
	}
}

// fakeByName runs this test binary as the FAKE tool the driver names
// (NewDriver with an empty binary runs the tool's name).
type fakeByName struct{ dir, exe string }

func (f fakeByName) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	r := toolrun.Exec{Timeout: 30 * time.Second, Env: append(os.Environ(), fake.ToolEnv+"="+name, fake.StateEnv+"="+filepath.Join(f.dir, name+".json"))}
	return r.Run(ctx, f.exe, args...)
}

// TestPlanSlotsAndNames: the pure diff with enclosure:slot members and a
// tool that stores no names.
func TestPlanSlotsAndNames(t *testing.T) {
	tw := &Result{Tool: "tw_cli", Controllers: []Controller{{Index: 0}}, Disks: []PhysicalDisk{
		{Location: "p0", Slot: "0:0", SizeBytes: 1 << 40, State: DiskReady},
		{Location: "p1", Slot: "0:1", SizeBytes: 1 << 40, State: DiskReady},
		{Location: "p2", SizeBytes: 1 << 40, State: DiskReady},
	}}
	ssa := &Result{Tool: "ssacli", Controllers: []Controller{{Index: 2}}, Disks: []PhysicalDisk{
		{Controller: 2, Location: "1I:1:1", Slot: "1:1", SizeBytes: 6e11, State: DiskOnline},
		{Controller: 2, Location: "1I:1:2", Slot: "1:2", SizeBytes: 6e11, State: DiskOnline},
		{Controller: 2, Location: "2I:1:1", Slot: "1:1", SizeBytes: 6e11, State: DiskReady},
	}, Volumes: []Volume{{Controller: 2, ID: "1", Level: "raid1", Members: []string{"1I:1:1", "1I:1:2"}, SizeBytes: 558 << 30, State: VolumeOptimal}}}
	tests := []struct {
		name    string
		cur     *Result
		ctrl    int
		want    []plan.Volume
		actions []string
		errHas  string
	}{
		{"tw_cli by enclosure:slot", tw, 0, []plan.Volume{vol("os", "raid1", "0:0", "0:1")},
			[]string{"create os on controller 0: raid1 of p0,p1, size max (absent)"}, ""},
		{"tw_cli own and enclosure:slot mixed", tw, 0, []plan.Volume{vol("os", "raid1", "p2", "0:1")},
			[]string{"create os on controller 0: raid1 of p2,p1, size max (absent)"}, ""},
		{"tw_cli unknown slot", tw, 0, []plan.Volume{vol("os", "raid1", "0:0", "0:7")}, nil, "no disk at 0:7 on controller 0"},
		{"ssacli unnamed volume kept by its disks", ssa, 2, []plan.Volume{vol("os", "raid1", "1I:1:2", "1I:1:1")},
			[]string{"keep os on controller 2 as volume 1 (exists as planned; ssacli stores no volume names, so it is found by its disks)"}, ""},
		{"ssacli kept by count", ssa, 2, []plan.Volume{{Name: "os", Level: "raid1", Count: 2}},
			[]string{"keep os on controller 2 as volume 1 (exists as planned; ssacli stores no volume names, so it is found by its disks)"}, ""},
		{"ssacli ambiguous enclosure:slot", ssa, 2, []plan.Volume{vol("os", "raid1", "1:1", "1:2")}, nil,
			`raid volume "os": member 1:1 is the enclosure:slot of 2 disks (1I:1:1, 2I:1:1): name them by the tool's own address`},
		{"ssacli level differs", ssa, 2, []plan.Volume{vol("os", "raid0", "1I:1:1", "1I:1:2")}, nil, "level: want raid0, have raid1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts, err := Plan(tt.cur, tt.want, tt.ctrl)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("Plan = %v, %v; want an error with %q", acts, err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("Plan: %v", err)
			}
			var got []string
			for _, a := range acts {
				got = append(got, a.String())
			}
			if diff := cmp.Diff(tt.actions, got); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
	// A tool that keeps names does not take an unnamed volume for the
	// plan's, even on the same disks.
	named := *ssa
	named.Tool = "sas2ircu"
	if _, err := Plan(&named, []plan.Volume{vol("os", "raid1", "1I:1:1", "1I:1:2")}, 2); err == nil || !strings.Contains(err.Error(), `name: want "os", have ""`) {
		t.Errorf("named tool over an unnamed volume: %v, want the name difference", err)
	}
}
