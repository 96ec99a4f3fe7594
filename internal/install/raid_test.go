package install

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/report"
)

type eventLog []report.Event

func (l *eventLog) Emit(e report.Event) { *l = append(*l, e) }

// TestReportLines: what an apply prints, written in pieces, becomes one
// raid event per non-empty line, as soon as the line is complete.
func TestReportLines(t *testing.T) {
	var events eventLog
	w := &reportLines{m: &Machine{Report: report.New(&events)}}
	fmt.Fprint(w, "done: delete volume 79 on controller 0 for os (recreate)\ndone: cre")
	if len(events) != 1 {
		t.Fatalf("%d events after one whole line, want 1", len(events))
	}
	fmt.Fprint(w, "ate os on controller 0\n\n")
	var got []string
	for _, e := range events {
		if e.Stage != "raid" || e.Kind != report.Info {
			t.Errorf("event %+v, want a raid info", e)
		}
		got = append(got, e.Message)
	}
	want := []string{"done: delete volume 79 on controller 0 for os (recreate)", "done: create os on controller 0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
