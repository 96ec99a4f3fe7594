package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP POSTs each event as a JSON object to the report server. The install
// never waits for it: Emit only queues, a full queue drops the event and
// counts it, and the count rides along in every later event's data
// ("dropped") so the server knows what it missed. Only the final result
// event may wait (a few seconds) for room in the queue.
type HTTP struct {
	url     string
	client  *http.Client
	queue   chan Event
	dropped atomic.Int64
	failed  atomic.Int64 // events given up after retries
	wg      sync.WaitGroup
	once    sync.Once
	retries int
	pause   time.Duration
}

// NewHTTP starts the sender. queue bounds the events held in memory.
func NewHTTP(url string, client *http.Client, queue int) *HTTP {
	h := &HTTP{url: url, client: client, queue: make(chan Event, queue), retries: 3, pause: 500 * time.Millisecond}
	h.wg.Add(1)
	go h.run()
	return h
}

// Emit queues e, or drops it when the queue is full.
func (h *HTTP) Emit(e Event) {
	if d := h.dropped.Load() + h.failed.Load(); d > 0 {
		data := make(map[string]any, len(e.Data)+1)
		for k, v := range e.Data {
			data[k] = v
		}
		data["dropped"] = d
		e.Data = data
	}
	if e.Kind == Result {
		// The final result is what the provisioning server waits for: it
		// may wait a little for room rather than be dropped.
		select {
		case h.queue <- e:
		case <-time.After(5 * time.Second):
			h.dropped.Add(1)
		}
		return
	}
	select {
	case h.queue <- e:
	default:
		h.dropped.Add(1)
	}
}

// Dropped is how many events never reached the server (queue full or
// retries exhausted).
func (h *HTTP) Dropped() int64 { return h.dropped.Load() + h.failed.Load() }

// Close sends what is queued for at most timeout, then gives up.
func (h *HTTP) Close(timeout time.Duration) {
	h.once.Do(func() { close(h.queue) })
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

func (h *HTTP) run() {
	defer h.wg.Done()
	for e := range h.queue {
		b, err := json.Marshal(e)
		if err != nil {
			h.failed.Add(1)
			continue
		}
		if err := h.post(b); err != nil {
			h.failed.Add(1)
		}
	}
}

func (h *HTTP) post(body []byte) error {
	var last error
	pause := h.pause
	for i := 0; i < h.retries; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
		if err != nil {
			cancel()
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := h.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				cancel()
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		cancel()
		last = err
		time.Sleep(pause)
		pause *= 2
	}
	return last
}
