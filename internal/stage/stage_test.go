package stage

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/report"
)

// trace builds a sequence whose steps record their names in *log.
func trace(log *[]string, steps ...Step) Sequence {
	var q Sequence
	for _, s := range steps {
		s := s
		name := string(s.Stage) + "/" + s.Name
		inner := s.Run
		s.Run = func(ctx context.Context) error {
			*log = append(*log, name)
			if inner != nil {
				return inner(ctx)
			}
			return nil
		}
		q = append(q, s)
	}
	return q
}

var errBoom = errors.New("boom")

func TestRun(t *testing.T) {
	fail := func(context.Context) error { return errBoom }
	steps := []Step{
		{Stage: "inventory", Name: "scan", Fatal: true},
		{Stage: "modules", Name: "coldplug", Fatal: true},
		{Stage: "network", Name: "dhcp", Fatal: true},
		{Stage: "plan", Name: "fetch", Fatal: true},
	}
	for _, tc := range []struct {
		name    string
		steps   []Step
		opt     Options
		want    []string
		wantErr string
	}{
		{name: "all", steps: steps, want: []string{"inventory/scan", "modules/coldplug", "network/dhcp", "plan/fetch"}},
		{name: "break after modules", steps: steps, opt: Options{Break: "modules"},
			want: []string{"inventory/scan", "modules/coldplug", "BREAK modules", "network/dhcp", "plan/fetch"}},
		{name: "break on a stage without steps", steps: steps, opt: Options{Break: "raid"},
			want: []string{"inventory/scan", "modules/coldplug", "network/dhcp", "plan/fetch", "BREAK raid"}},
		{name: "break before the first step", steps: steps[1:], opt: Options{Break: "inventory"},
			want: []string{"BREAK inventory", "modules/coldplug", "network/dhcp", "plan/fetch"}},
		{name: "fatal stops", steps: []Step{steps[0], {Stage: "modules", Name: "coldplug", Fatal: true, Run: fail}, steps[2]},
			want: []string{"inventory/scan", "modules/coldplug"}, wantErr: "stage modules, step coldplug: boom"},
		{name: "best-effort goes on", steps: []Step{steps[0], {Stage: "modules", Name: "coldplug", Run: fail}, steps[2]},
			want: []string{"inventory/scan", "modules/coldplug", "network/dhcp"}},
		{name: "not needed goes on", steps: []Step{steps[0], {Stage: "network", Name: "up", Fatal: true, Needed: func() bool { return false }, NeededWhen: "a URL", Run: fail}, steps[3]},
			want: []string{"inventory/scan", "network/up", "plan/fetch"}},
		{name: "needed stops", steps: []Step{steps[0], {Stage: "network", Name: "up", Fatal: true, Needed: func() bool { return true }, NeededWhen: "a URL", Run: fail}, steps[3]},
			want: []string{"inventory/scan", "network/up"}, wantErr: "stage network, step up: boom"},
		{name: "injected", steps: steps, opt: Options{Fail: "modules"},
			want: []string{"inventory/scan"}, wantErr: "stage modules, step coldplug: failure injected by needle.fail=modules"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log []string
			q := trace(&log, tc.steps...)
			tc.opt.OnBreak = func(_ context.Context, st string) error {
				log = append(log, "BREAK "+st)
				return nil
			}
			err := q.Run(context.Background(), tc.opt)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Errorf("Run() error = %v, want %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, log); diff != "" {
				t.Errorf("steps run (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunEvents(t *testing.T) {
	var mem report.Memory
	clock := time.Unix(0, 0)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	q := Sequence{
		{Stage: "inventory", Name: "scan", Fatal: true, Run: func(context.Context) error { return nil }},
		{Stage: "modules", Name: "load", Run: func(context.Context) error { return errBoom }},
	}
	if err := q.Run(context.Background(), Options{Report: report.New(&mem), Now: now}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range mem.Events() {
		got = append(got, string(e.Kind)+" "+e.Stage+"/"+e.Step+" "+e.Message)
	}
	want := []string{"start inventory/scan ", "finish inventory/scan ", "start modules/load ", "fail modules/load boom"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if d := mem.Events()[1].Duration; d != 1 {
		t.Errorf("duration of inventory/scan = %v, want 1s from the injected clock", d)
	}
}

func TestCheck(t *testing.T) {
	run := func(context.Context) error { return nil }
	ok := Sequence{{Stage: "plan", Name: "x", Makes: []string{"plan"}, Run: run},
		{Stage: "disks", Name: "y", Uses: []string{"plan", "volumes?"}, Run: run}}
	if err := ok.Check(); err != nil {
		t.Errorf("an optional use left unmade: Check() = %v, want nil", err)
	}
	for _, tc := range []struct {
		q    Sequence
		want string
	}{
		{Sequence{{Stage: "disk", Name: "x", Run: run}}, `unknown stage "disk"`},
		{Sequence{{Stage: "plan", Name: "x", Run: run}, {Stage: "network", Name: "y", Run: run}}, "stage network after plan"},
		{Sequence{{Stage: "plan", Name: "x", Run: run}, {Stage: "plan", Name: "x", Run: run}}, `step name "x" repeated`},
		{Sequence{{Stage: "plan", Name: "x"}}, "nothing to run"},
		{Sequence{{Stage: "plan", Name: "x", Makes: []string{"plan"}, Run: run}, {Stage: "image", Name: "y", Uses: []string{"plan", "disks"}, Run: run}},
			"step image/y uses disks, which no step before it makes"},
		{Sequence{{Stage: "image", Name: "y", Uses: []string{"disks"}, Run: run}, {Stage: "image", Name: "z", Makes: []string{"disks"}, Run: run}},
			"step image/y uses disks, which no step before it makes"},
	} {
		if err := tc.q.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%v) = %v, want %q", tc.q, err, tc.want)
		}
	}
}

func TestString(t *testing.T) {
	q := Sequence{{Stage: "inventory", Name: "scan", Fatal: true}, {Stage: "modules", Name: "coldplug"},
		{Stage: "network", Name: "up", Fatal: true, Needed: func() bool { return true }, NeededWhen: "a URL must be reached"},
		{Stage: "raid", Name: "apply", Fatal: true, Uses: []string{"plan", "inventory"}, Makes: []string{"volumes", "inventory"}},
		{Stage: "handoff", Name: "boot", Fatal: true, Uses: []string{"plan"}}}
	want := "  1. inventory/scan (fatal)\n  2. modules/coldplug (best-effort)\n  3. network/up (fatal when a URL must be reached, else best-effort)\n" +
		"  4. raid/apply (fatal): plan, inventory → volumes, inventory\n  5. handoff/boot (fatal): plan →\n"
	if got := q.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestSkip: a step whose Skip says so does not run, says why, and the
// printed sequence tells when that happens.
func TestSkip(t *testing.T) {
	var mem report.Memory
	ran := false
	done := true
	q := Sequence{
		{Stage: "plan", Name: "installed", Fatal: true, Run: func(context.Context) error { return nil }},
		{Stage: "disks", Name: "wipe", Fatal: true, Skip: func() bool { return done }, SkipWhen: "the disk holds this plan's install",
			Run: func(context.Context) error { ran = true; return nil }},
	}
	if err := q.Run(context.Background(), Options{Report: report.New(&mem)}); err != nil {
		t.Fatal(err)
	}
	ev := mem.Events()
	if ran || ev[len(ev)-1].Message != "skipped: the disk holds this plan's install" {
		t.Errorf("skipped step ran=%v, last event %+v", ran, ev[len(ev)-1])
	}
	if want := "disks/wipe (fatal; skipped when the disk holds this plan's install)"; !strings.Contains(q.String(), want) {
		t.Errorf("sequence %q lacks %q", q.String(), want)
	}
	done = false
	if err := q.Run(context.Background(), Options{}); err != nil || !ran {
		t.Errorf("not skipped: ran=%v err=%v", ran, err)
	}
	if err := (Sequence{{Stage: "disks", Name: "x", Skip: func() bool { return true }, Run: q[0].Run}}).Check(); err == nil {
		t.Error("a Skip without SkipWhen passed Check")
	}
}
