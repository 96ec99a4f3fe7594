package fetch

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fast(hc *http.Client) *Client {
	c := New(hc)
	c.Backoff, c.MaxBackoff, c.Deadline = time.Millisecond, 5*time.Millisecond, 3*time.Second
	return c
}

func TestGet(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch r.URL.Path {
		case "/flaky":
			if n < 3 {
				http.Error(w, "warming up", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte("plan"))
		case "/missing":
			http.NotFound(w, r)
		case "/forbidden":
			http.Error(w, "no", http.StatusForbidden)
		case "/down":
			http.Error(w, "down", http.StatusBadGateway)
		case "/big":
			w.Write([]byte(strings.Repeat("x", 100)))
		}
	}))
	defer srv.Close()

	c := fast(srv.Client())
	b, err := c.Get(context.Background(), srv.URL+"/flaky")
	if err != nil || string(b) != "plan" {
		t.Fatalf("Get(/flaky) = %q, %v; want the body after two 503s", b, err)
	}
	for _, tc := range []struct {
		path     string
		kind     Kind
		want     string
		attempts int // 0: more than one
	}{
		{"/missing", NotFound, "not found (HTTP 404)", 1},
		{"/forbidden", ClientError, "refused by the server (HTTP 403)", 1},
		{"/down", ServerError, "server error (HTTP 502)", 0},
	} {
		calls.Store(0)
		_, err := c.Get(context.Background(), srv.URL+tc.path)
		var fe *Error
		if !errors.As(err, &fe) || fe.Kind != tc.kind || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Get(%s) = %v, want kind %q with %q", tc.path, err, tc.kind, tc.want)
			continue
		}
		if tc.attempts == 1 && fe.Attempts != 1 {
			t.Errorf("Get(%s) tried %d times, want 1 (not worth retrying)", tc.path, fe.Attempts)
		}
		if tc.attempts == 0 && fe.Attempts < 2 {
			t.Errorf("Get(%s) tried %d times, want retries", tc.path, fe.Attempts)
		}
	}
	c.MaxBytes = 10
	if _, err := c.Get(context.Background(), srv.URL+"/big"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Get(/big) with a 10-byte limit = %v", err)
	}
}

func TestGetTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer srv.Close()
	hc, err := HTTPClient() // system roots only: the test CA is unknown
	if err != nil {
		t.Fatal(err)
	}
	_, err = fast(hc).Get(context.Background(), srv.URL)
	var fe *Error
	if !errors.As(err, &fe) || fe.Kind != TLS || fe.Attempts != 1 {
		t.Fatalf("Get over TLS with an unknown CA = %v, want a TLS failure, not retried", err)
	}
	if b, err := fast(srv.Client()).Get(context.Background(), srv.URL); err != nil || string(b) != "ok" {
		t.Errorf("Get with the server's CA = %q, %v", b, err)
	}
}

func TestGetTimeoutAndConnection(t *testing.T) {
	// A listener that accepts and never answers: every attempt times out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	hc := &http.Client{Timeout: 100 * time.Millisecond}
	c := fast(hc)
	c.Deadline = 500 * time.Millisecond
	_, err = c.Get(context.Background(), "http://"+ln.Addr().String()+"/plan")
	var fe *Error
	if !errors.As(err, &fe) || fe.Kind != Timeout || fe.Attempts < 2 {
		t.Errorf("silent server: %v, want a timeout after retries", err)
	}

	// A closed port: connection refused, retried until the deadline.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := dead.Addr().String()
	dead.Close()
	_, err = c.Get(context.Background(), "http://"+addr+"/plan")
	if !errors.As(err, &fe) || fe.Kind != Connection || !strings.Contains(err.Error(), "gave up after 500ms") {
		t.Errorf("closed port: %v, want a connection failure that says it gave up", err)
	}
}

func TestExplainClock(t *testing.T) {
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "plans.example"},
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}
	err := fmt.Errorf("tls: %w", x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired})
	got := ExplainClock(err, time.Date(2001, 1, 1, 0, 0, 5, 0, time.UTC)).Error()
	want := `system clock is 2001-01-01T00:00:05Z, certificate "plans.example" valid from 2026-01-01T00:00:00Z to 2027-01-01T00:00:00Z`
	if !strings.HasPrefix(got, want) {
		t.Errorf("ExplainClock = %q, want it to start %q", got, want)
	}
	other := errors.New("connection refused")
	if ExplainClock(other, time.Now()) != other {
		t.Error("ExplainClock changed an error that is not about validity")
	}
}

func TestJitter(t *testing.T) {
	const d = time.Second
	seen := map[time.Duration]bool{}
	for range 1000 {
		w := Jitter(d)
		if w < d/2 || w >= 3*d/2 {
			t.Fatalf("Jitter(%v) = %v, want within [%v, %v)", d, w, d/2, 3*d/2)
		}
		seen[w] = true
	}
	if len(seen) < 900 {
		t.Errorf("Jitter(%v) gave %d distinct waits in 1000 draws, want them spread", d, len(seen))
	}
	if w := Jitter(0); w != 0 {
		t.Errorf("Jitter(0) = %v, want 0", w)
	}
}

// TestGetBackoffIsJittered checks that the pauses double up to MaxBackoff
// before jitter, and that clients failing at the same instant come back
// spread out rather than in one wave.
func TestGetBackoffIsJittered(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 5 {
			http.Error(w, "deploying", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("plan"))
	}))
	defer srv.Close()
	c := fast(srv.Client())
	c.Backoff, c.MaxBackoff = time.Millisecond, 5*time.Millisecond
	var pauses []time.Duration
	c.Jitter = func(d time.Duration) time.Duration { pauses = append(pauses, d); return d }
	if _, err := c.Get(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond}
	if len(pauses) != len(want) {
		t.Fatalf("pauses = %v, want %v", pauses, want)
	}
	for i := range want {
		if pauses[i] != want[i] {
			t.Errorf("pause %d = %v, want %v (all: %v)", i+1, pauses[i], want[i], pauses)
		}
	}

	// 32 clients whose first attempt fails together: their second
	// attempts spread over the jitter window (100 ms of a 100 ms pause).
	const n = 32
	var mu sync.Mutex
	var second []time.Time
	tries := map[string]int{}
	storm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tries[r.URL.RawQuery]++
		if tries[r.URL.RawQuery] == 2 {
			second = append(second, time.Now())
		}
		first := tries[r.URL.RawQuery] == 1
		mu.Unlock()
		if first {
			http.Error(w, "deploying", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("plan"))
	}))
	defer storm.Close()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := New(storm.Client())
			c.Backoff = 100 * time.Millisecond
			if _, err := c.Get(context.Background(), fmt.Sprintf("%s/plan?c=%d", storm.URL, i)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(second) != n {
		t.Fatalf("%d second attempts, want %d", len(second), n)
	}
	lo, hi := second[0], second[0]
	for _, s := range second {
		if s.Before(lo) {
			lo = s
		}
		if s.After(hi) {
			hi = s
		}
	}
	if spread := hi.Sub(lo); spread < 40*time.Millisecond {
		t.Errorf("second attempts of %d clients spread over %v, want them jittered over most of 100 ms", n, spread)
	}
}
