package image

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// hasher computes the digest named by a Source.Hash.
type hasher struct {
	hash.Hash
	algo string
	sum  []byte
}

func newHasher(spec string) (*hasher, error) {
	algo, hexSum, ok := strings.Cut(spec, ":")
	if !ok {
		algo, hexSum = "", spec
	}
	sum, err := hex.DecodeString(hexSum)
	if err != nil {
		return nil, fmt.Errorf("hash %q: %w", spec, err)
	}
	if algo == "" {
		switch len(sum) {
		case sha256.Size:
			algo = "sha256"
		case sha512.Size:
			algo = "sha512"
		}
	}
	var h hash.Hash
	switch algo {
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		return nil, fmt.Errorf("hash %q: want sha256:HEX or sha512:HEX (every fetched image is verified)", spec)
	}
	if len(sum) != h.Size() {
		return nil, fmt.Errorf("hash %q: %s digest has %d bytes, want %d", spec, algo, len(sum), h.Size())
	}
	return &hasher{Hash: h, algo: algo, sum: sum}, nil
}

func (h *hasher) digest() string { return h.algo + ":" + hex.EncodeToString(h.Sum(nil)) }
func (h *hasher) want() string   { return h.algo + ":" + hex.EncodeToString(h.sum) }
func (h *hasher) matches() bool  { return subtle.ConstantTimeCompare(h.Sum(nil), h.sum) == 1 }

// stream is the compressed byte stream with its position.
type stream interface {
	io.ReadCloser
	Offset() int64 // bytes delivered so far
	Total() int64  // size if known, else -1
	Resumes() int
}

func open(ctx context.Context, src Source, opts *Options, log *slog.Logger) (stream, error) {
	switch {
	case src.URL != "" && src.Path != "":
		return nil, errors.New("source has both a URL and a path")
	case src.Path != "":
		f, err := os.Open(src.Path)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		return &fileStream{f: f, total: st.Size()}, nil
	case strings.HasPrefix(src.URL, "http://") || strings.HasPrefix(src.URL, "https://"):
		c := src.Client
		if c == nil {
			c = defaultClient()
		}
		r := &httpStream{ctx: ctx, client: c, url: src.URL, opts: opts, log: log, total: -1}
		if err := r.connect(); err != nil {
			return nil, err
		}
		return r, nil
	default:
		return nil, fmt.Errorf("source %q: want an http(s) URL or a file path", src)
	}
}

// defaultClient has connect and header timeouts but no overall timeout: a
// large image takes as long as it takes. The transport has no read
// deadline on a body: a server that stops sending mid-body is caught by
// httpStream's watchdog (Options.StallTimeout) and resumed.
func defaultClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		// Compression is the image's business: a transparent gzip layer
		// would change the bytes that are hashed.
		DisableCompression: true,
	}
	return &http.Client{Transport: tr}
}

type fileStream struct {
	f     *os.File
	off   int64
	total int64
}

func (s *fileStream) Read(p []byte) (int, error) {
	n, err := s.f.Read(p)
	s.off += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("read %s at offset %d: %w", s.f.Name(), s.off, err)
	}
	return n, err
}
func (s *fileStream) Close() error  { return s.f.Close() }
func (s *fileStream) Offset() int64 { return s.off }
func (s *fileStream) Total() int64  { return s.total }
func (s *fileStream) Resumes() int  { return 0 }

// httpStream reads a URL and, when the connection drops, reconnects with
// "Range: bytes=OFF-" guarded by If-Range (RFC 9110 §13.1.5), so a file
// replaced on the server is never spliced onto the bytes already hashed.
type httpStream struct {
	ctx     context.Context
	client  *http.Client
	url     string
	opts    *Options
	log     *slog.Logger
	body    io.ReadCloser
	off     int64
	total   int64
	ifRange string
	fails   int // consecutive failures without progress
	drops   int // connections lost, progress or not
	resumes int
	// The watchdog: each request runs under its own context, cancelled
	// with errStalled when no byte arrives for Options.StallTimeout.
	watch  *time.Timer
	cancel context.CancelCauseFunc
	reqCtx context.Context
}

// errStalled is the cause a request's context is cancelled with by the
// watchdog.
var errStalled = errors.New("stalled")

// stalled turns the error of a request the watchdog ended into one that
// names the URL, the silence and the offset.
func (s *httpStream) stalled(err error) error {
	if s.reqCtx != nil && errors.Is(context.Cause(s.reqCtx), errStalled) && s.ctx.Err() == nil {
		return fmt.Errorf("GET %s: no data for %v at offset %d (server stalled)", s.url, s.opts.StallTimeout, s.off)
	}
	return err
}

// endRequest stops the watchdog and releases the request's context.
func (s *httpStream) endRequest() {
	if s.watch != nil {
		s.watch.Stop()
		s.watch = nil
	}
	if s.cancel != nil {
		s.cancel(nil)
		s.cancel = nil
	}
}

func (s *httpStream) Offset() int64 { return s.off }
func (s *httpStream) Total() int64  { return s.total }
func (s *httpStream) Resumes() int  { return s.resumes }

func (s *httpStream) Close() error {
	defer s.endRequest()
	if s.body != nil {
		return s.body.Close()
	}
	return nil
}

// permanentError is an HTTP answer that retrying cannot fix.
type permanentError struct{ error }

func (s *httpStream) connect() error {
	for {
		err := s.request()
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) || s.ctx.Err() != nil {
			return err
		}
		if err := s.backoff(err); err != nil {
			return err
		}
	}
}

// backoff counts a failure and waits, or gives up after Options.Retries.
func (s *httpStream) backoff(cause error) error {
	s.fails++
	if s.fails > s.opts.Retries {
		return fmt.Errorf("giving up after %d attempts at offset %d: %w", s.fails, s.off, cause)
	}
	d := s.opts.Backoff << (s.fails - 1)
	d = min(d, 30*time.Second)
	s.log.Warn("image fetch failed, retrying", "offset", s.off, "attempt", s.fails, "wait", d, "err", cause)
	if err := s.opts.Sleep(s.ctx, d); err != nil {
		return fmt.Errorf("at offset %d: %w (after %v)", s.off, err, cause)
	}
	return nil
}

func (s *httpStream) request() error {
	s.endRequest()
	ctx, cancel := context.WithCancelCause(s.ctx)
	s.reqCtx, s.cancel = ctx, cancel
	s.watch = time.AfterFunc(s.opts.StallTimeout, func() { cancel(errStalled) })
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return permanentError{err}
	}
	resuming := s.off > 0
	if resuming {
		if s.ifRange == "" {
			return permanentError{fmt.Errorf("connection lost at offset %d and the server gave no strong ETag or Last-Modified to resume safely", s.off)}
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", s.off))
		req.Header.Set("If-Range", s.ifRange)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return s.stalled(err)
	}
	ok := func() error {
		switch {
		case !resuming && resp.StatusCode == http.StatusOK:
			s.total = resp.ContentLength
			s.ifRange = validator(resp.Header)
			return nil
		case resuming && resp.StatusCode == http.StatusPartialContent:
			start, total, err := contentRange(resp.Header.Get("Content-Range"))
			if err != nil {
				return permanentError{err}
			}
			if start != s.off {
				return permanentError{fmt.Errorf("asked to resume at %d, server sent from %d", s.off, start)}
			}
			if total >= 0 && s.total >= 0 && total != s.total {
				return permanentError{fmt.Errorf("size changed from %d to %d while resuming", s.total, total)}
			}
			return nil
		case resuming && resp.StatusCode == http.StatusOK:
			return permanentError{fmt.Errorf("server answered the resume at offset %d with the whole file: it changed or ignores Range", s.off)}
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout:
			return fmt.Errorf("GET: %s", resp.Status)
		default:
			return permanentError{fmt.Errorf("GET: %s", resp.Status)}
		}
	}()
	if ok != nil {
		resp.Body.Close()
		return ok
	}
	if resuming {
		s.resumes++
		s.log.Info("resumed image download", "offset", s.off, "total", s.total)
	}
	s.body = resp.Body
	return nil
}

// validator picks the If-Range value: a strong ETag, else Last-Modified.
// A weak ETag must not be used with If-Range (RFC 9110 §13.1.5).
func validator(h http.Header) string {
	if et := h.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et
	}
	return h.Get("Last-Modified")
}

// contentRange parses "bytes START-END/TOTAL" (TOTAL may be "*").
func contentRange(v string) (start, total int64, err error) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: want bytes START-END/TOTAL", v)
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: no total", v)
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: no range", v)
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("content-range %q: %w", v, err)
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, fmt.Errorf("content-range %q: %w", v, err)
		}
	}
	return start, total, nil
}

func (s *httpStream) Read(p []byte) (int, error) {
	for {
		if s.body == nil {
			if err := s.connect(); err != nil {
				return 0, err
			}
		}
		n, err := s.body.Read(p)
		s.off += int64(n)
		if n > 0 {
			s.fails = 0
			s.watch.Reset(s.opts.StallTimeout)
		}
		if errors.Is(err, io.EOF) {
			if s.total < 0 || s.off >= s.total {
				return n, io.EOF
			}
			err = io.ErrUnexpectedEOF
		}
		if err == nil {
			return n, nil
		}
		if s.ctx.Err() != nil {
			return n, s.ctx.Err()
		}
		err = s.stalled(err)
		s.body.Close()
		s.body = nil
		s.endRequest()
		if s.drops++; s.drops > s.opts.MaxReconnects {
			return n, fmt.Errorf("giving up after %d lost connections: %w", s.drops, err)
		}
		if n > 0 {
			// Hand over what arrived; the next Read reconnects.
			s.log.Warn("image connection dropped", "offset", s.off, "err", err)
			return n, nil
		}
		if berr := s.backoff(err); berr != nil {
			return 0, berr
		}
	}
}
