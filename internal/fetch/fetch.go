// Package fetch gets needle's small artifacts (the plan, its signature,
// hwdb rules, files) over HTTP(S) with retries and exponential backoff
// under an overall deadline, and says precisely why a fetch failed: not
// found, a server error, TLS, a timeout or no connection.
package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"time"
)

// Kind classifies a failed fetch.
type Kind string

// Kinds of failure.
const (
	NotFound    Kind = "not found"
	ClientError Kind = "refused by the server"
	ServerError Kind = "server error"
	TLS         Kind = "TLS failure"
	Timeout     Kind = "timeout"
	Connection  Kind = "connection failure"
	TooLarge    Kind = "too large"
)

// Error is a fetch that gave up.
type Error struct {
	URL      string
	Kind     Kind
	Status   int // HTTP status when there was one
	Attempts int
	Err      error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("fetch %s: %s", e.URL, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Attempts > 1 {
		s += fmt.Sprintf(", after %d attempts", e.Attempts)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

func (e *Error) gaveUp(after time.Duration) {
	if e.Err == nil {
		e.Err = fmt.Errorf("gave up after %v", after)
		return
	}
	e.Err = fmt.Errorf("%w (gave up after %v)", e.Err, after)
}

// retryable says whether another attempt can help: a missing plan (404)
// or a certificate problem will not fix itself in seconds; a 503 from a
// provisioning server being deployed, a refused connection while a switch
// port comes up, or a timeout may.
func (e *Error) retryable() bool {
	switch e.Kind {
	case ServerError, Timeout, Connection:
		return true
	case ClientError:
		return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests
	}
	return false
}

// Client fetches with retries.
type Client struct {
	HTTP *http.Client
	// Deadline bounds all attempts together; Backoff is the first pause,
	// doubled after every failure up to MaxBackoff, each pause jittered.
	Deadline   time.Duration
	Backoff    time.Duration
	MaxBackoff time.Duration
	MaxBytes   int64
	// Jitter turns a pause into the wait actually taken; nil means the
	// package's Jitter. Tests fix it.
	Jitter func(time.Duration) time.Duration
	// Log, when set, hears about every failed attempt.
	Log func(format string, args ...any)
}

// New returns a Client with needle's defaults: a minute in all, pauses from
// half a second to ten seconds, 64 MiB at most.
func New(hc *http.Client) *Client {
	return &Client{HTTP: hc, Deadline: time.Minute, Backoff: 500 * time.Millisecond, MaxBackoff: 10 * time.Second, MaxBytes: 64 << 20}
}

// Get returns the body of url.
func (c *Client) Get(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Deadline)
	defer cancel()
	pause := c.Backoff
	var prev *Error
	for attempt := 1; ; attempt++ {
		body, ferr := c.once(ctx, url)
		if ferr == nil {
			return body, nil
		}
		if ctx.Err() != nil && prev != nil {
			// The overall deadline cut this attempt short: the previous
			// attempt's failure is the one worth reporting.
			prev.Attempts = attempt
			prev.gaveUp(c.Deadline)
			return nil, prev
		}
		ferr.Attempts = attempt
		if !ferr.retryable() {
			return nil, ferr
		}
		prev = ferr
		jitter := c.Jitter
		if jitter == nil {
			jitter = Jitter
		}
		wait := jitter(pause)
		if c.Log != nil {
			c.Log("%v; retrying in %v", ferr, wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			if ferr.Kind != Timeout && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				ferr.gaveUp(c.Deadline)
			}
			return nil, ferr
		case <-time.After(wait):
		}
		if pause *= 2; pause > c.MaxBackoff {
			pause = c.MaxBackoff
		}
	}
}

// Jitter draws a wait uniformly from [d/2, 3d/2): on average the pause
// itself, but never in step with another box that failed at the same
// instant. Without it a rack that lost its plan server together (a
// power-on, a deploy answering 503) retries together, every wave N
// requests in the same millisecond, as long as the backoff doubles
// ("Exponential Backoff And Jitter", AWS Architecture Blog, 2015,
// compares the variants; this is its "equal jitter" widened to keep the
// mean). Also used for the image writer's reconnects (internal/image).
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d/2 + rand.N(d)
}

func (c *Client) once(ctx context.Context, url string) ([]byte, *Error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &Error{URL: url, Kind: ClientError, Err: err}
	}
	req.Header.Set("User-Agent", "needle")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, &Error{URL: url, Kind: classify(err), Err: ExplainClock(err, time.Now())}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, &Error{URL: url, Kind: NotFound, Status: resp.StatusCode}
	case resp.StatusCode >= 500:
		return nil, &Error{URL: url, Kind: ServerError, Status: resp.StatusCode}
	default:
		return nil, &Error{URL: url, Kind: ClientError, Status: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.MaxBytes+1))
	if err != nil {
		return nil, &Error{URL: url, Kind: classify(err), Err: fmt.Errorf("reading the body: %w", err)}
	}
	if int64(len(body)) > c.MaxBytes {
		return nil, &Error{URL: url, Kind: TooLarge, Err: fmt.Errorf("more than %d bytes", c.MaxBytes)}
	}
	return body, nil
}

// ExplainClock adds the clock to a certificate refused as expired or not
// yet valid: on a box whose RTC lost its time that is the real cause, and
// "certificate has expired or is not yet valid" alone does not say it.
func ExplainClock(err error, now time.Time) error {
	var inv x509.CertificateInvalidError
	if !errors.As(err, &inv) || inv.Reason != x509.Expired || inv.Cert == nil {
		return err
	}
	c := inv.Cert
	name := c.Subject.CommonName
	if name == "" && len(c.DNSNames) > 0 {
		name = c.DNSNames[0]
	}
	return fmt.Errorf("system clock is %s, certificate %q valid from %s to %s: %w",
		now.UTC().Format(time.RFC3339), name, c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339), err)
}

func classify(err error) Kind {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recErr tls.RecordHeaderError
	var ne net.Error
	switch {
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &recErr):
		return TLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return Timeout
	}
	return Connection
}

// HTTPClient returns a client trusting the system roots plus the PEM
// certificates in caFiles (needle build --ca bakes them into the image).
// Missing CA files are skipped; a file that holds no certificate is an
// error.
func HTTPClient(caFiles ...string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range caFiles {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no PEM certificate in it", f)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.Proxy = nil // a provisioning network has no proxy; never read one from the environment
	tr.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{Transport: tr}, nil
}
