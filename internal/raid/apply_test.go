package raid

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid/fake"
	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/needle-boot/needle/internal/toolrun"
)

// TestMain turns the test binary into a FAKE vendor tool when
// NEEDLE_FAKE_TOOL says so, so the drivers run real child processes
// through the real toolrun.Exec.
func TestMain(m *testing.M) {
	switch os.Getenv(fake.ToolEnv) {
	case "sas2ircu":
		os.Exit(fake.SAS2IRCU(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	case "storcli":
		os.Exit(fake.Storcli(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	case "arcconf":
		os.Exit(fake.Arcconf(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	case "tw_cli":
		os.Exit(fake.Twcli(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	case "ssacli":
		os.Exit(fake.Ssacli(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	}
	flag.Parse()
	os.Exit(m.Run())
}

// fakeDriver returns a driver for tool that runs this test binary as the
// FAKE tool, with its state in a fresh directory.
func fakeDriver(t *testing.T, tool string, timeout time.Duration, env ...string) (Driver, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state.json")
	r := toolrun.Exec{
		Timeout: timeout,
		Env:     append(append(os.Environ(), fake.ToolEnv+"="+tool, fake.StateEnv+"="+state), env...),
		Log:     slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	}
	d, err := NewDriver(tool, exe, r)
	if err != nil {
		t.Fatal(err)
	}
	return d, state
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func vol(name, level string, members ...string) plan.Volume {
	return plan.Volume{Name: name, Level: level, Members: members, SizeSpec: plan.Size{Max: true}}
}

// state builds a controller-0 state: disks "E:S" of size GiB each (ready
// unless a volume uses them) and volumes.
func state(diskGiB uint64, locs []string, vols ...Volume) *Result {
	r := &Result{Tool: "sas2ircu", Controllers: []Controller{{Index: 0, PCIAddress: "0000:03:00.0"}}}
	used := map[string]string{}
	for _, v := range vols {
		for _, m := range v.Members {
			used[m] = v.ID
		}
	}
	for _, l := range locs {
		st := DiskReady
		if used[l] != "" {
			st = DiskOnline
		}
		r.Disks = append(r.Disks, PhysicalDisk{Location: l, SizeBytes: diskGiB << 30, Media: "hdd", State: st})
	}
	r.Volumes = vols
	return r
}

func TestPlan(t *testing.T) {
	four := []string{"1:0", "1:1", "1:2", "1:3"}
	os1 := Volume{ID: "79", Name: "os", Level: "raid1", Members: []string{"1:0", "1:1"}, SizeBytes: 100 << 30, State: VolumeOptimal}
	recreate := vol("os", "raid0", "1:0", "1:1")
	recreate.Recreate = true
	byCount := plan.Volume{Name: "data", Level: "raid1", Count: 2, SizeSpec: plan.Size{Bytes: 50 << 30}}
	mixed := state(100, four)
	mixed.Disks[0].SizeBytes, mixed.Disks[3].SizeBytes = 200<<30, 200<<30
	// os1 in the states apply must not act on.
	with := func(f func(v *Volume)) *Result { v := os1; f(&v); return state(100, four, v) }
	pct := 12.0
	rebuilding := with(func(v *Volume) {
		v.State, v.RawState, v.Operation, v.Progress = VolumeRebuilding, "Recovering, 12% complete", "rebuild", &pct
	})
	erasing := with(func(v *Volume) { v.State, v.RawState = Unknown("Erase In Progress"), "Erase In Progress" })
	arrayFailed := with(func(v *Volume) { v.Array, v.ArrayState = "B", VolumeFailed })
	failed := with(func(v *Volume) { v.State, v.RawState = VolumeFailed, "Failed" })
	verifying := with(func(v *Volume) { v.State, v.RawState, v.Operation = VolumeVerifying, "VERIFYING", "verify" })
	oddLevel := with(func(v *Volume) { v.Level = Unknown("RAID 1(ADM)") })
	tests := []struct {
		name    string
		cur     *Result
		want    []plan.Volume
		actions []string
		errHas  []string
	}{
		{"recreate refused while rebuilding", rebuilding, []plan.Volume{recreate}, nil,
			[]string{`raid volume "os"`, "controller 0 volume 79 is rebuilding (Recovering, 12% complete), rebuild running (12%)", "does not delete"}},
		{"recreate refused while verifying", verifying, []plan.Volume{recreate}, nil,
			[]string{"controller 0 volume 79 is verifying (VERIFYING), verify running", "does not delete"}},
		{"recreate refused when failed", failed, []plan.Volume{recreate}, nil,
			[]string{"controller 0 volume 79 is failed (Failed)", "does not delete"}},
		{"unknown state refused", erasing, []plan.Volume{vol("os", "raid1", "1:1", "1:0")}, nil,
			[]string{"controller 0 volume 79 is unknown: Erase In Progress", "does not use"}},
		{"failed array refused", arrayFailed, []plan.Volume{vol("os", "raid1", "1:1", "1:0")}, nil,
			[]string{"controller 0 volume 79 is optimal, array B failed", "does not use"}},
		{"unknown level refused", oddLevel, []plan.Volume{recreate}, nil,
			[]string{"controller 0 volume 79 is optimal, level unknown: RAID 1(ADM)"}},
		{"kept while verifying", verifying, []plan.Volume{vol("os", "raid1", "1:1", "1:0")},
			[]string{"keep os on controller 0 as volume 79 (exists as planned, state verifying)"}, nil},
		{"nothing to do", state(100, four, os1), []plan.Volume{vol("os", "raid1", "1:1", "1:0")},
			[]string{"keep os on controller 0 as volume 79 (exists as planned)"}, nil},
		{"create", state(100, four), []plan.Volume{vol("os", "raid1", "1:0", "1:1")},
			[]string{"create os on controller 0: raid1 of 1:0,1:1, size max (absent)"}, nil},
		{"mismatch refused", state(100, four, os1), []plan.Volume{vol("os", "raid1", "1:2", "1:3")}, nil,
			[]string{`raid volume "os"`, "volume 79 differs", "members: want [1:2 1:3], have [1:0 1:1]", "set recreate: true"}},
		{"level mismatch refused", state(100, four, os1), []plan.Volume{vol("os", "raid0", "1:0", "1:1")}, nil,
			[]string{"level: want raid0, have raid1"}},
		{"name mismatch found by members", state(100, four, Volume{ID: "5", Name: "old", Level: "raid1", Members: []string{"1:0", "1:1"}, State: VolumeOptimal}),
			[]plan.Volume{vol("os", "raid1", "1:0", "1:1")}, nil, []string{`name: want "os", have "old"`}},
		{"recreate", state(100, four, os1), []plan.Volume{recreate},
			[]string{"delete volume 79 on controller 0 for os (recreate: level: want raid0, have raid1)",
				"create os on controller 0: raid0 of 1:0,1:1, size max (recreated)"}, nil},
		{"member in use", state(100, four, Volume{ID: "80", Name: "keep", Level: "raid1", Members: []string{"1:1", "1:2"}, State: VolumeOptimal}),
			[]plan.Volume{vol("os", "raid1", "1:0", "1:1")}, nil, []string{`disk 1:1 is in use by volume 80 ("keep"), which the plan does not recreate`}},
		{"member missing", state(100, four), []plan.Volume{vol("os", "raid1", "1:0", "1:9")}, nil, []string{"no disk at 1:9"}},
		{"member failed", func() *Result {
			r := state(100, four)
			r.Disks[1].State, r.Disks[1].RawState = DiskFailed, "Failed (FLD)"
			return r
		}(),
			[]plan.Volume{vol("os", "raid1", "1:0", "1:1")}, nil, []string{"disk 1:1 is failed (Failed (FLD)), not ready"}},
		{"two volumes claim one disk", state(100, four), []plan.Volume{vol("a", "raid1", "1:0", "1:1"), vol("b", "raid1", "1:1", "1:2")}, nil,
			[]string{`disk 1:1 is already taken by raid volume "a"`}},
		{"count and size", mixed, []plan.Volume{byCount},
			[]string{"create data on controller 0: raid1 of 1:1,1:2, size 50.0 GiB (absent)"}, nil},
		{"count skips used disks", state(100, four, os1), []plan.Volume{vol("os", "raid1", "1:0", "1:1"), byCount},
			[]string{"create data on controller 0: raid1 of 1:2,1:3, size 50.0 GiB (absent)", "keep os on controller 0 as volume 79 (exists as planned)"}, nil},
		{"count too big", state(100, four), []plan.Volume{{Name: "big", Level: "raid1", Count: 2, SizeSpec: plan.Size{Bytes: 500 << 30}}}, nil,
			[]string{"want 2 free disks of one size and media giving 500.0 GiB as raid1; free disks: 4 × 100.0 GiB hdd"}},
		{"count kept", state(100, four, Volume{ID: "3", Name: "data", Level: "raid1", Members: []string{"1:2", "1:3"}, SizeBytes: 50 << 30, State: VolumeDegraded}),
			[]plan.Volume{byCount}, []string{"keep data on controller 0 as volume 3 (exists as planned, state degraded)"}, nil},
		{"count size differs", state(100, four, Volume{ID: "3", Name: "data", Level: "raid1", Members: []string{"1:2", "1:3"}, SizeBytes: 60 << 30, State: VolumeOptimal}),
			[]plan.Volume{byCount}, nil, []string{"size: want 50.0 GiB (53687091200 bytes), have 60.0 GiB (64424509440 bytes)"}},
		{"other controller ignored", func() *Result {
			r := state(100, four)
			r.Volumes = []Volume{{Controller: 1, ID: "1", Name: "os", Level: "raid0", Members: []string{"1:0"}}}
			return r
		}(), []plan.Volume{vol("os", "raid1", "1:0", "1:1")}, []string{"create os on controller 0: raid1 of 1:0,1:1, size max (absent)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts, err := Plan(tt.cur, tt.want, 0)
			if len(tt.errHas) > 0 {
				if err == nil {
					t.Fatalf("Plan = %v, want an error with %q", acts, tt.errHas)
				}
				for _, s := range tt.errHas {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("Plan error %q\nlacks %q", err, s)
					}
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
}

func TestPlanMismatchIsTyped(t *testing.T) {
	cur := state(100, []string{"1:0", "1:1"}, Volume{ID: "79", Name: "os", Level: "raid1", Members: []string{"1:0", "1:1"}, SizeBytes: 100 << 30})
	_, err := Plan(cur, []plan.Volume{vol("os", "raid0", "1:0", "1:1")}, 0)
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Plan error %v is not a *MismatchError", err)
	}
	if want := []FieldDiff{{"level", "raid0", "raid1"}}; !cmp.Equal(want, me.Diffs) {
		t.Errorf("diffs (-want +got):\n%s", cmp.Diff(want, me.Diffs))
	}
}

// TestDryRunGolden: a dry run prints the exact command lines and changes
// nothing (the fake's state still has no volume afterwards).
func TestDryRunGolden(t *testing.T) {
	for _, tool := range []string{"sas2ircu", "storcli"} {
		t.Run(tool, func(t *testing.T) {
			d, _ := fakeDriver(t, tool, 30*time.Second)
			members := []string{"1:0", "1:1"}
			if tool == "storcli" {
				members = []string{"252:0", "252:1"}
			}
			os1 := vol("os", "raid1", members...)
			os1.SizeSpec = plan.Size{Bytes: 100 << 30}
			entry := plan.RAID{Controller: plan.Controller{Index: new(int), Tool: tool}, Volumes: []plan.Volume{os1}}
			var out bytes.Buffer
			res, err := Apply(context.Background(), d, entry, ApplyOptions{DryRun: true, Out: &out})
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			// The binary is this test executable; the golden names the tool.
			got := strings.ReplaceAll(out.String(), d.Binary(), tool)
			golden := filepath.Join("testdata", "apply", tool+"-dry-run.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("dry run output (-want +got):\n%s", diff)
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

// TestApplyAgainstFakes creates a RAID1 through each fake run as a child
// process, verifies it, applies again (nothing to do), then recreates it
// as RAID0.
func TestApplyAgainstFakes(t *testing.T) {
	for _, tc := range []struct {
		tool    string
		members []string
		pci     string
	}{
		{"sas2ircu", []string{"1:0", "1:1"}, "0000:03:00.0"},
		{"storcli", []string{"252:0", "252:1"}, "0000:00:05.0"},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			ctx := context.Background()
			d, _ := fakeDriver(t, tc.tool, 30*time.Second)
			entry := plan.RAID{Controller: plan.Controller{PCI: tc.pci}, Volumes: []plan.Volume{vol("os", "raid1", tc.members...)}}
			res, err := Apply(ctx, d, entry, ApplyOptions{})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if len(res.Actions) != 1 || res.Actions[0].Kind != Create {
				t.Errorf("first apply actions %v, want one create", res.Actions)
			}
			got, ok := res.Volumes["os"]
			if !ok || got.Level != "raid1" || !sameSet(got.Members, tc.members) || got.SizeBytes == 0 {
				t.Errorf("volume read back: %+v", got)
			}
			res, err = Apply(ctx, d, entry, ApplyOptions{})
			if err != nil {
				t.Fatalf("second apply: %v", err)
			}
			if len(res.Actions) != 1 || res.Actions[0].Kind != Keep {
				t.Errorf("second apply actions %v, want keep", res.Actions)
			}
			entry.Volumes[0].Level = "raid0"
			if _, err := Apply(ctx, d, entry, ApplyOptions{}); err == nil || !strings.Contains(err.Error(), "level: want raid0, have raid1") {
				t.Errorf("changed level without recreate: %v, want a refusal", err)
			}
			entry.Volumes[0].Recreate = true
			res, err = Apply(ctx, d, entry, ApplyOptions{})
			if err != nil {
				t.Fatalf("recreate: %v", err)
			}
			if v := res.Volumes["os"]; v.Level != "raid0" {
				t.Errorf("after recreate: %+v", v)
			}
			if k := []ActionKind{res.Actions[0].Kind, res.Actions[1].Kind}; !cmp.Equal(k, []ActionKind{Delete, Create}) {
				t.Errorf("recreate actions %v", res.Actions)
			}
		})
	}
}

// TestSegfaultDiagnosis reproduces the seed's failure: the FAKE sas2ircu
// dies of a real SIGSEGV on DISPLAY (a child process through the real
// toolrun.Exec), and the diagnosis names the controller, its driver module
// with version and srcversion from a fake sysfs, whether it is an overlay,
// and the hwdb rule (the built-in dell-c5220 one) that chose it.
func TestSegfaultDiagnosis(t *testing.T) {
	d, _ := fakeDriver(t, "sas2ircu", 30*time.Second, fake.SegvEnv+"=display")
	sys := t.TempDir()
	for f, v := range map[string]string{"module/mpt2sas/version": "20.102.00.00\n", "module/mpt2sas/srcversion": "8C4C2E6AF0C8A0B2F9DDF52\n"} {
		os.MkdirAll(filepath.Join(sys, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(sys, f), []byte(v), 0o644)
	}
	os.MkdirAll(filepath.Join(sys, "bus/pci/drivers/mpt2sas"), 0o755)
	os.MkdirAll(filepath.Join(sys, "bus/pci/devices/0000:03:00.0"), 0o755)
	os.Symlink("../../../../module/mpt2sas", filepath.Join(sys, "bus/pci/drivers/mpt2sas/module"))
	os.Symlink("../../../bus/pci/drivers/mpt2sas", filepath.Join(sys, "bus/pci/devices/0000:03:00.0/driver"))
	db, err := hwdb.Load(hwdb.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Inventory{Kernel: "2.6.32-5-amd64",
		DMI: inventory.DMI{SysVendor: "Dell Inc.", ProductName: "PowerEdge C5220"},
		PCI: []inventory.PCIDevice{{Addr: "0000:03:00.0", Vendor: 0x1000, Device: 0x0072, SubVendor: 0x1028, SubDevice: 0x1f1e, Class: 0x010700, Driver: "mpt2sas", Name: "SAS2008 PCI-Express Fusion-MPT SAS-2 [Falcon]"}}}
	for _, tc := range []struct {
		name     string
		overlays map[string]string
		overlay  string
	}{
		{"stock module", map[string]string{}, "overlay: no (stock module); the hwdb rule asked for an overlay, which is not what is loaded"},
		{"overlay loaded", map[string]string{"mpt2sas": "lib/modules/2.6.32-5-amd64/updates/mpt2sas.ko"}, "overlay: yes (lib/modules/2.6.32-5-amd64/updates/mpt2sas.ko)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := Diagnoser{Root: sysroot.Root{Sys: sys}, Inventory: inv, DB: db, Overlays: tc.overlays}
			entry := plan.RAID{Controller: plan.Controller{Index: new(int), Tool: "sas2ircu"}, Volumes: []plan.Volume{vol("os", "raid1", "1:0", "1:1")}}
			_, err := Apply(context.Background(), d, entry, ApplyOptions{Diagnose: g.Diagnose})
			var ce *CrashError
			if !errors.As(err, &ce) {
				t.Fatalf("apply with a crashing DISPLAY: %v, want a *CrashError", err)
			}
			var re *toolrun.Error
			if !errors.As(err, &re) || re.Signal != "segmentation fault" || re.TimedOut {
				t.Fatalf("run error %+v, want killed by SIGSEGV", re)
			}
			msg := err.Error()
			for _, want := range []string{
				"DISPLAY: killed by signal 11 (segmentation fault)",
				"controller 0000:03:00.0 [1000:0072 subsystem 1028:1f1e, SAS2008",
				"driver module mpt2sas version 20.102.00.00 srcversion 8C4C2E6AF0C8A0B2F9DDF52",
				tc.overlay,
				"chosen by hwdb rule hwdb/rules/dell-c5220.yaml:",
				"sas2ircu 0 display segfaults with the stock driver",
				OverlayHint,
			} {
				if !strings.Contains(msg, want) {
					t.Errorf("diagnosis lacks %q:\n%s", want, msg)
				}
			}
			t.Logf("report:\n%s", ce.Report())
		})
	}
}

// TestTimeout: a tool that hangs is killed (its whole process group) when
// the per-call timeout expires, and the error says so.
func TestTimeout(t *testing.T) {
	d, _ := fakeDriver(t, "storcli", 300*time.Millisecond, fake.SleepEnv+"=30s")
	start := time.Now()
	_, err := d.State(context.Background())
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("State took %s with a 300ms timeout", took)
	}
	var re *toolrun.Error
	if !errors.As(err, &re) || !re.TimedOut || !re.Crashed() {
		t.Fatalf("State = %v, want a timed-out toolrun.Error", err)
	}
	if !strings.Contains(err.Error(), "timed out after 300ms (process group killed)") || !strings.Contains(err.Error(), "FAKE: sleeping 30s") {
		t.Errorf("timeout error %q lacks the timeout or the stderr tail", err)
	}
	g := Diagnoser{Inventory: &inventory.Inventory{}}
	if _, ok := g.Diagnose(err, "0000:00:05.0").(*CrashError); !ok {
		t.Errorf("a timeout is not diagnosed as a crash")
	}
}

func TestRunErrorExit(t *testing.T) {
	d, _ := fakeDriver(t, "sas2ircu", 30*time.Second)
	err := d.Delete(context.Background(), 0, "5")
	var re *toolrun.Error
	var te *ToolError
	if !errors.As(err, &re) || re.ExitCode != 1 || !errors.As(err, &te) {
		t.Fatalf("deleting a missing volume: %v, want exit status 1 and the tool's message", err)
	}
	if !strings.Contains(err.Error(), "volume 5 not found") {
		t.Errorf("error %q lacks the tool's message", err)
	}
	if _, err := (toolrun.Exec{}).Run(context.Background(), filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Errorf("running a missing binary succeeded")
	}
}

// TestRecorder: the arcconf, tw_cli and ssacli drivers run the expected
// commands and read recorded outputs.
func TestRecorder(t *testing.T) {
	read := func(p string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", p))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r := &Recorder{Replies: map[string]Reply{
		"ssacli ctrl all show config detail": {Stdout: read("ssacli/proliantutils-ctrl-all-show-config-detail-two-lds-raid1.txt")},
	}}
	d, _ := NewDriver("ssacli", "", r)
	st, err := d.State(context.Background())
	if err != nil {
		t.Fatalf("ssacli state: %v", err)
	}
	if len(st.Volumes) != 2 || st.Command != "state" {
		t.Errorf("ssacli state: %d volumes, command %q", len(st.Volumes), st.Command)
	}
	// A volume ssacli cannot make is refused before anything runs.
	if err := d.Create(context.Background(), 2, VolumeSpec{Level: "raid1e", Members: []string{"5I:1:1", "5I:1:2", "5I:1:3"}}); err == nil || !strings.Contains(err.Error(), `level "raid1e" not supported`) {
		t.Errorf("ssacli create raid1e: %v, want a refusal naming the level", err)
	}
	if want := []string{"ssacli ctrl all show config detail"}; !cmp.Equal(want, r.Calls()) {
		t.Errorf("calls (-want +got):\n%s", cmp.Diff(want, r.Calls()))
	}

	// tw_cli: the controller table, then /c0 show, then each unit's name
	// ("/cx/ux show name" as the CLI Guide 10.2 prints it; u1 has none).
	r = &Recorder{Replies: map[string]Reply{
		"tw_cli info":             {Stdout: read("tw_cli/rotek-9750-4i-show.txt")},
		"tw_cli /c0 show":         {Stdout: read("tw_cli/rotek-9750-4i-c0-show-3single.txt")},
		"tw_cli /c0/u0 show name": {Stdout: []byte("/c0/u0 name = os\n")},
		"tw_cli /c0/u1 show name": {Stdout: []byte("/c0/u1 name = \n")},
		"tw_cli /c0/u2 show name": {Stdout: []byte("/c0/u2 name = data\n")},
	}}
	d, _ = NewDriver("tw_cli", "", r)
	st, err = d.State(context.Background())
	if err != nil {
		t.Fatalf("tw_cli state: %v", err)
	}
	if len(st.Controllers) != 1 || st.Controllers[0].Model != "9750-4i" || len(st.Volumes) != 3 {
		t.Errorf("tw_cli state: controllers %+v, %d volumes", st.Controllers, len(st.Volumes))
	} else if names := []string{st.Volumes[0].Name, st.Volumes[1].Name, st.Volumes[2].Name}; !cmp.Equal(names, []string{"os", "", "data"}) {
		t.Errorf("tw_cli unit names %q, want os, \"\", data", names)
	}

	// arcconf: a LIST cut short stops the read with ErrTruncated, before
	// any GETCONFIG.
	r = &Recorder{Replies: map[string]Reply{"arcconf LIST": {Stdout: read("arcconf/inspur-ipa-list-pm8060.txt")}}}
	d, _ = NewDriver("arcconf", "", r)
	if _, err := d.State(context.Background()); !errors.Is(err, ErrTruncated) {
		t.Errorf("arcconf state over a truncated LIST: %v, want ErrTruncated", err)
	}
	if len(r.Calls()) != 1 {
		t.Errorf("arcconf calls %q, want only LIST", r.Calls())
	}

	// A controller with no controller: an empty state, not an error.
	r = &Recorder{Replies: map[string]Reply{"sas2ircu LIST": {Stdout: read("sas2ircu/checkraid-list-no-controller-mptlib2-error1.txt"), Err: &toolrun.Error{Argv: []string{"sas2ircu", "LIST"}, ExitCode: 1, Err: fmt.Errorf("exit status 1")}}}}
	d, _ = NewDriver("sas2ircu", "", r)
	if st, err := d.State(context.Background()); err != nil || len(st.Controllers) != 0 {
		t.Errorf("sas2ircu without a controller: %+v, %v; want an empty state", st, err)
	}
}

// TestDiagnoseWithoutAddress: a tool that crashes before it names a
// controller (LIST) is diagnosed against every controller the hwdb gives
// that tool.
func TestDiagnoseWithoutAddress(t *testing.T) {
	db, err := hwdb.Load(hwdb.Builtin())
	if err != nil {
		t.Fatal(err)
	}
	inv := &inventory.Inventory{Kernel: "2.6.32-5-amd64", DMI: inventory.DMI{SysVendor: "Dell Inc.", ProductName: "PowerEdge C5220"},
		PCI: []inventory.PCIDevice{
			{Addr: "0000:00:1f.2", Vendor: 0x8086, Device: 0x1c02, Class: 0x010601, Driver: "ahci"},
			{Addr: "0000:03:00.0", Vendor: 0x1000, Device: 0x0072, SubVendor: 0x1028, SubDevice: 0x1f1e, Class: 0x010700, Driver: "mpt2sas"},
		}}
	crash := &toolrun.Error{Argv: []string{"/usr/sbin/sas2ircu", "LIST"}, ExitCode: -1, Signal: "segmentation fault", SignalNo: 11}
	err = Diagnoser{Root: sysroot.Root{Sys: t.TempDir()}, Inventory: inv, DB: db}.Diagnose(fmt.Errorf("raid: read state: %w", crash), "")
	var ce *CrashError
	if !errors.As(err, &ce) || len(ce.Controllers) != 1 || ce.Controllers[0].PCIAddress != "0000:03:00.0" || ce.Controllers[0].Module != "mpt2sas" {
		t.Fatalf("Diagnose = %#v, want the SAS2008 at 0000:03:00.0", err)
	}
	if !strings.Contains(ce.Controllers[0].Overlay, "unknown") {
		t.Errorf("overlay without an overlay list = %q, want unknown", ce.Controllers[0].Overlay)
	}
	// A plain failure is not a crash.
	plain := &toolrun.Error{Argv: []string{"sas2ircu"}, ExitCode: 1}
	if got := (Diagnoser{}).Diagnose(plain, ""); got != error(plain) {
		t.Errorf("Diagnose(exit 1) = %v, want it unchanged", got)
	}
}

func TestToolAt(t *testing.T) {
	devs := []inventory.PCIDevice{{Addr: "0000:01:00.0", Vendor: 0x1000, Device: 0x0072}, {Addr: "0000:02:00.0", Vendor: 0x9005, Device: 0x028d}}
	at := ToolAt(devs, func(d inventory.PCIDevice) string {
		if d.Vendor == 0x1000 {
			return "sas2ircu"
		}
		return ""
	})
	if got := at("0000:01:00.0"); got != "sas2ircu" {
		t.Errorf("controller with a rule: %q", got)
	}
	if got := at("0000:02:00.0"); got != "" {
		t.Errorf("controller without a rule: %q", got)
	}
	if got := at("0000:09:00.0"); got != "" {
		t.Errorf("no such controller: %q", got)
	}
	if got := HWDBTool(nil, inventory.DMI{}, "6.1.0")(devs[0]); got != "" {
		t.Errorf("no hwdb: %q", got)
	}
}

// callLog is a toolrun.Runner that records every command line it passes
// on to the FAKE tool.
type callLog struct {
	toolrun.Runner
	calls []string
}

func (c *callLog) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	c.calls = append(c.calls, strings.Join(args, " "))
	return c.Runner.Run(ctx, name, args...)
}

// TestApplyGuardAgainstFakes poses the FAKE storcli's volume as
// recovering (rebuilding) and in a state word no parser knows, and applies
// a plan that would recreate it: Apply must stop naming the controller,
// the volume and its state, and the fake must see no delete or create.
func TestApplyGuardAgainstFakes(t *testing.T) {
	for _, tc := range []struct{ state, want string }{
		{"Rec", "controller 0 volume 0 is rebuilding (Rec)"},
		{"Zzz", "controller 0 volume 0 is unknown: Zzz"},
	} {
		t.Run(tc.state, func(t *testing.T) {
			ctx := context.Background()
			d, statePath := fakeDriver(t, "storcli", 30*time.Second)
			members := []string{"252:0", "252:1"}
			entry := plan.RAID{Controller: plan.Controller{PCI: "0000:00:05.0"}, Volumes: []plan.Volume{vol("os", "raid1", members...)}}
			if _, err := Apply(ctx, d, entry, ApplyOptions{}); err != nil {
				t.Fatalf("first apply: %v", err)
			}
			st := fake.DefaultStorcli()
			data, err := os.ReadFile(statePath)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, st); err != nil {
				t.Fatal(err)
			}
			if len(st.VDs) != 1 {
				t.Fatalf("FAKE storcli has %d VDs after the first apply, want 1", len(st.VDs))
			}
			st.VDs[0].State = tc.state
			if data, err = json.MarshalIndent(st, "", "  "); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(statePath, data, 0o644); err != nil {
				t.Fatal(err)
			}

			// The same FAKE state, read through a driver that logs its calls.
			exe, _ := os.Executable()
			log := &callLog{Runner: toolrun.Exec{
				Timeout: 30 * time.Second,
				Env:     append(os.Environ(), fake.ToolEnv+"=storcli", fake.StateEnv+"="+statePath),
			}}
			d, err = NewDriver("storcli", exe, log)
			if err != nil {
				t.Fatal(err)
			}
			entry.Volumes[0].Level = "raid0"
			entry.Volumes[0].Recreate = true
			_, err = Apply(ctx, d, entry, ApplyOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "needle does not delete") {
				t.Fatalf("apply over a %s volume: %v, want a refusal containing %q", tc.state, err, tc.want)
			}
			t.Logf("refused: %v", err)
			for _, c := range log.calls {
				if strings.Contains(c, " del") || strings.Contains(c, " add ") {
					t.Errorf("FAKE storcli was asked to %q", c)
				}
			}
			if len(log.calls) == 0 {
				t.Errorf("no call reached the FAKE storcli")
			}
			// The fake saves its state after each command it ran; the
			// controller it pretends must be the one posed.
			data, err = os.ReadFile(statePath)
			if err != nil {
				t.Fatal(err)
			}
			after := fake.DefaultStorcli()
			if err := json.Unmarshal(data, after); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(st, after); diff != "" {
				t.Errorf("FAKE storcli state changed (-posed +after):\n%s", diff)
			}
		})
	}
}
