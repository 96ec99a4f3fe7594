// Package stage runs needle's install as data: an ordered list of named
// steps, each fatal or best-effort, that the init prints at boot, the tests
// read, and needle.break= cuts short.
package stage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/report"
)

// Step is one unit of work of a stage.
type Step struct {
	Stage cmdline.Stage
	Name  string
	// Fatal steps stop the install when they fail; best-effort steps are
	// reported and the sequence goes on.
	Fatal bool
	// Needed, when set, decides at run time whether a Fatal step's failure
	// stops the install (a network that nothing in this install needs is
	// best-effort); NeededWhen says when, for the printed sequence. The
	// decision is data the sequence shows, not a downgrade inside the step.
	Needed     func() bool
	NeededWhen string
	// Uses names the results of earlier steps this step reads, Makes the
	// ones it hands on (install.Sequence wires them as typed values). A
	// use ending in "?" is optional: the step copes with the zero value
	// when no step before it made it (a cut of the sequence). Check
	// verifies the flow; the printed sequence shows it.
	Uses, Makes []string
	// Skip, when set, decides at run time that the step has nothing to
	// do (the disk already holds this plan's install); SkipWhen says when,
	// for the printed sequence.
	Skip     func() bool
	SkipWhen string
	Run      func(ctx context.Context) error
}

func (s Step) String() string {
	mode := "best-effort"
	switch {
	case s.Fatal && s.Needed != nil:
		mode = "fatal when " + s.NeededWhen + ", else best-effort"
	case s.Fatal:
		mode = "fatal"
	}
	if s.Skip != nil {
		mode += "; skipped when " + s.SkipWhen
	}
	line := fmt.Sprintf("%s/%s (%s)", s.Stage, s.Name, mode)
	if len(s.Uses)+len(s.Makes) == 0 {
		return line
	}
	// "raid/apply (fatal): plan, inventory, modules → volumes, inventory"
	flow := strings.TrimSpace(strings.Join(s.Uses, ", ") + " → " + strings.Join(s.Makes, ", "))
	return line + ": " + flow
}

// fatal says whether a failure of s stops the sequence now.
func (s Step) fatal() bool { return s.Fatal && (s.Needed == nil || s.Needed()) }

// Sequence is the ordered list of steps.
type Sequence []Step

// String prints the sequence one step per line, as the init shows it at boot.
func (q Sequence) String() string {
	var b strings.Builder
	for i, s := range q {
		fmt.Fprintf(&b, "%3d. %s\n", i+1, s)
	}
	return b.String()
}

// Check verifies that every step names a known stage, that stages come in
// the canonical order, and that step names are unique within a stage.
func (q Sequence) Check() error {
	last := -1
	seen, made := map[string]bool{}, map[string]bool{}
	for i, s := range q {
		idx := slices.Index(cmdline.Stages, s.Stage)
		if idx < 0 {
			return fmt.Errorf("step %d %s/%s: unknown stage %q", i+1, s.Stage, s.Name, s.Stage)
		}
		if idx < last {
			return fmt.Errorf("step %d %s/%s: stage %s after %s", i+1, s.Stage, s.Name, s.Stage, cmdline.Stages[last])
		}
		last = idx
		key := string(s.Stage) + "/" + s.Name
		if seen[key] || s.Name == "" {
			return fmt.Errorf("step %d: step name %q repeated or empty in stage %s", i+1, s.Name, s.Stage)
		}
		seen[key] = true
		if s.Run == nil {
			return fmt.Errorf("step %s has nothing to run", key)
		}
		if s.Needed != nil && (!s.Fatal || s.NeededWhen == "") {
			return fmt.Errorf("step %s: Needed wants Fatal and a NeededWhen to print", key)
		}
		if s.Skip != nil && s.SkipWhen == "" {
			return fmt.Errorf("step %s: Skip wants a SkipWhen to print", key)
		}
		for _, u := range s.Uses {
			if !strings.HasSuffix(u, "?") && !made[u] {
				return fmt.Errorf("step %s uses %s, which no step before it makes (was the step that makes it cut off?)", key, u)
			}
		}
		for _, o := range s.Makes {
			made[o] = true
		}
	}
	return nil
}

// Error is a fatal step's failure: the diagnosis names the stage, the step
// and the cause.
type Error struct {
	Stage, Step string
	Err         error
}

func (e *Error) Error() string {
	return fmt.Sprintf("stage %s, step %s: %v", e.Stage, e.Step, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrInjected is the cause of a failure asked for by needle.fail=STAGE.
var ErrInjected = errors.New("failure injected by needle.fail")

// Options steer a run.
type Options struct {
	Report *report.Reporter
	// Break is needle.break=STAGE: after the last step of STAGE (or of the
	// last stage before it that has steps) OnBreak runs, then the sequence
	// goes on.
	Break   string
	OnBreak func(ctx context.Context, stage string) error
	// Fail is needle.fail=STAGE: the first step of that stage fails with
	// ErrInjected instead of running, as a fatal step.
	Fail string
	Now  func() time.Time
}

func order(stage string) int { return cmdline.StageIndex(stage) }

// Run runs the steps in order. It returns the first fatal failure as an
// *Error; best-effort failures are reported and skipped.
func (q Sequence) Run(ctx context.Context, o Options) error {
	if err := q.Check(); err != nil {
		return err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	rep := o.Report
	if rep == nil {
		rep = report.New()
	}
	broken := o.Break == ""
	doBreak := func(ctx context.Context) error {
		broken = true
		if o.OnBreak == nil {
			return nil
		}
		rep.Infof(o.Break, "needle.break=%s reached", o.Break)
		return o.OnBreak(ctx, o.Break)
	}
	injected := false
	for _, s := range q {
		// The break comes after the last step of its stage, that is before
		// the first step of a later stage (or at the end).
		if !broken && order(string(s.Stage)) > order(o.Break) {
			if err := doBreak(ctx); err != nil {
				return &Error{Stage: o.Break, Step: "break", Err: err}
			}
		}
		if err := ctx.Err(); err != nil {
			return &Error{Stage: string(s.Stage), Step: s.Name, Err: err}
		}
		if s.Skip != nil && s.Skip() && o.Fail != string(s.Stage) {
			rep.Emit(report.Event{Stage: string(s.Stage), Step: s.Name, Kind: report.Info, Message: "skipped: " + s.SkipWhen})
			continue
		}
		start := now()
		rep.Emit(report.Event{Stage: string(s.Stage), Step: s.Name, Kind: report.Start})
		var err error
		fatal := s.fatal()
		if o.Fail == string(s.Stage) && !injected {
			injected, fatal = true, true
			err = fmt.Errorf("%w=%s", ErrInjected, s.Stage)
		} else {
			err = s.Run(ctx)
		}
		d := now().Sub(start).Seconds()
		if err != nil {
			rep.Emit(report.Event{Stage: string(s.Stage), Step: s.Name, Kind: report.Fail, Duration: d, Message: err.Error(),
				Data: map[string]any{"fatal": fatal}})
			if fatal {
				return &Error{Stage: string(s.Stage), Step: s.Name, Err: err}
			}
			continue
		}
		rep.Emit(report.Event{Stage: string(s.Stage), Step: s.Name, Kind: report.Finish, Duration: d})
	}
	if !broken {
		if err := doBreak(ctx); err != nil {
			return &Error{Stage: o.Break, Step: "break", Err: err}
		}
	}
	return nil
}
