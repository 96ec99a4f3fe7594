package report

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConsole(t *testing.T) {
	boot := time.Unix(100, 0)
	var b bytes.Buffer
	r := New(Console{W: &b, Boot: boot})
	r.now = func() time.Time { return boot.Add(1500 * time.Millisecond) }
	r.Emit(Event{Stage: "inventory", Step: "scan", Kind: Start})
	r.Emit(Event{Stage: "inventory", Step: "scan", Kind: Finish, Duration: 0.25})
	r.Emit(Event{Stage: "plan", Step: "fetch", Kind: Fail, Duration: 2, Message: "fetch http://x/p: not found (HTTP 404)"})
	r.Warnf("init", "unknown key %s", "needle.x")
	r.Emit(Event{Kind: Result, Message: "all stages done"})
	want := `[    1.50s] inventory/scan: started
[    1.50s] inventory/scan: ok (0.25s)
[    1.50s] plan/fetch: FAILED after 2.00s: fetch http://x/p: not found (HTTP 404)
[    1.50s] init: warning: unknown key needle.x
[    1.50s] needle: all stages done
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
}

func TestJSONLinesSeq(t *testing.T) {
	var b bytes.Buffer
	r := New(JSONLines{W: &b})
	r.Infof("network", "lease %s", "10.0.2.15/24")
	r.Infof("network", "second")
	var seqs []int
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var e Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		seqs = append(seqs, e.Seq)
	}
	if !cmp.Equal(seqs, []int{1, 2}) {
		t.Errorf("seqs %v, want [1 2]", seqs)
	}
}

// TestHTTP: events arrive in order; a server that stalls does not block
// Emit, and what overflows the queue is counted and reported.
func TestHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-gate
		b, _ := io.ReadAll(r.Body)
		var e Event
		if err := json.Unmarshal(b, &e); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		mu.Lock()
		got = append(got, e)
		mu.Unlock()
	}))
	defer srv.Close()
	h := NewHTTP(srv.URL, srv.Client(), 4)
	r := New(h)
	start := time.Now()
	for i := 0; i < 10; i++ {
		r.Infof("image", "progress %d", i)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Emit blocked for %v behind a stalled server", d)
	}
	close(gate)
	r.Emit(Event{Kind: Result, Message: "done"})
	h.Close(5 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	// At most one event in flight plus four queued got through; every
	// other one is counted as dropped.
	if int(h.Dropped())+len(got) != 11 || len(got) > 6 || len(got) < 5 {
		t.Errorf("delivered %d, Dropped() = %d; want 4 or 5 delivered and the rest counted", len(got), h.Dropped())
	}
	var seqs []int
	for _, e := range got {
		seqs = append(seqs, e.Seq)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Errorf("events out of order: %v", seqs)
		}
	}
	last := got[len(got)-1]
	if d, _ := last.Data["dropped"].(float64); last.Kind != Result || int64(d) != h.Dropped() {
		t.Errorf("last event %+v, want the result carrying the drop count %d", last, h.Dropped())
	}
}

func TestSlog(t *testing.T) {
	var mem Memory
	r := New(&mem)
	log := r.Slog("modules", false)
	log.Info("loaded", "module", "virtio_net", "took", "12 ms")
	log.With("device", "0000:00:03.0").Warn("failed")
	log.Debug("hidden")
	var got []string
	for _, e := range mem.Events() {
		got = append(got, string(e.Kind)+" "+e.Stage+": "+e.Message)
	}
	want := []string{`info modules: loaded module=virtio_net took="12 ms"`, `warn modules: failed device=0000:00:03.0`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestTimeline(t *testing.T) {
	console := `needle: stages:
[    3.00s] inventory/scan: started
[    3.10s] inventory/scan: ok (0.10s)
[    3.20s] modules/coldplug: started
[    5.00s] modules/settle: started
[    7.50s] network/up: started
[    9.00s] plan/fetch: started
`
	want := map[string]float64{"boot": 3, "inventory": 0.2, "modules": 4.3, "network": 1.5}
	got := Timeline(console)
	for k, v := range want {
		if d := got[k] - v; d > 1e-9 || d < -1e-9 {
			t.Errorf("Timeline()[%s] = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Timeline() = %v, want %v", got, want)
	}
}
