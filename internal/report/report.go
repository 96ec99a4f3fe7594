// Package report carries needle's event stream: one JSON object per step
// start, finish and failure, progress for long steps and a final result.
// Each event is printed to the console as a readable line and kept as JSON
// lines for the report server, the debug shell and the installed system.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Kind says what an event reports.
type Kind string

// Event kinds.
const (
	Start    Kind = "start"
	Finish   Kind = "finish"
	Fail     Kind = "fail"
	Progress Kind = "progress"
	Info     Kind = "info"
	Warn     Kind = "warn"
	Result   Kind = "result"
)

// Event is one line of the stream.
type Event struct {
	Seq      int            `json:"seq"` // 1, 2, … in emit order, so a receiver sees gaps and reordering
	Time     time.Time      `json:"time"`
	Stage    string         `json:"stage,omitempty"`
	Step     string         `json:"step,omitempty"`
	Kind     Kind           `json:"kind"`
	Message  string         `json:"message,omitempty"`
	Duration float64        `json:"duration_s,omitempty"` // of the step, on finish and fail
	Data     map[string]any `json:"data,omitempty"`
}

// Sink receives events. Emit is called with the Reporter's lock held, so
// a sink must not block for long (the HTTP sink queues).
type Sink interface {
	Emit(Event)
}

// Reporter stamps events and hands them to its sinks in order.
type Reporter struct {
	mu    sync.Mutex
	sinks []Sink
	now   func() time.Time
	seq   int
}

// New returns a Reporter writing to sinks.
func New(sinks ...Sink) *Reporter {
	return &Reporter{sinks: sinks, now: time.Now}
}

// Add attaches another sink (the report server's, once the network is up).
func (r *Reporter) Add(s Sink) {
	r.mu.Lock()
	r.sinks = append(r.sinks, s)
	r.mu.Unlock()
}

// Emit stamps e with the time if it has none and sends it to every sink.
func (r *Reporter) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	r.seq++
	e.Seq = r.seq
	for _, s := range r.sinks {
		s.Emit(e)
	}
}

// Infof reports an informational line for a stage.
func (r *Reporter) Infof(stage, format string, args ...any) {
	r.Emit(Event{Stage: stage, Kind: Info, Message: fmt.Sprintf(format, args...)})
}

// Warnf reports a warning for a stage.
func (r *Reporter) Warnf(stage, format string, args ...any) {
	r.Emit(Event{Stage: stage, Kind: Warn, Message: fmt.Sprintf(format, args...)})
}

// Console prints events as readable lines, timed from Boot.
type Console struct {
	W    io.Writer
	Boot time.Time
}

// Emit writes one line, e.g. "[   4.21s] inventory/scan: ok (0.12s)".
func (c Console) Emit(e Event) {
	t := e.Time.Sub(c.Boot).Seconds()
	name := e.Stage
	if e.Step != "" {
		name += "/" + e.Step
	}
	var msg string
	switch e.Kind {
	case Start:
		msg = "started"
		if e.Message != "" {
			msg += ": " + e.Message
		}
	case Finish:
		msg = fmt.Sprintf("ok (%.2fs)", e.Duration)
		if e.Message != "" {
			msg = fmt.Sprintf("ok (%.2fs): %s", e.Duration, e.Message)
		}
	case Fail:
		msg = fmt.Sprintf("FAILED after %.2fs: %s", e.Duration, e.Message)
	case Warn:
		msg = "warning: " + e.Message
	default:
		msg = e.Message
	}
	if name == "" {
		fmt.Fprintf(c.W, "[%8.2fs] needle: %s\n", t, msg)
		return
	}
	fmt.Fprintf(c.W, "[%8.2fs] %s: %s\n", t, name, msg)
}

// JSONLines writes each event as one JSON object per line.
type JSONLines struct {
	W io.Writer
}

// Emit writes e; a write error is dropped, the stream is best-effort.
func (j JSONLines) Emit(e Event) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	j.W.Write(append(b, '\n'))
}

// Memory keeps every event, for tests and for the final report.
type Memory struct {
	mu     sync.Mutex
	events []Event
}

// Emit appends e.
func (m *Memory) Emit(e Event) {
	m.mu.Lock()
	m.events = append(m.events, e)
	m.mu.Unlock()
}

// Events returns a copy of what was emitted.
func (m *Memory) Events() []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Event(nil), m.events...)
}
