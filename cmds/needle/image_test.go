package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// imagePayload is a 6 MiB image (zeros and random data) and its zstd
// compression with its sha256.
func imagePayload(t *testing.T) (raw, comp []byte, sum string) {
	t.Helper()
	raw = make([]byte, 6<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 2 << 20; i < 4<<20; i++ {
		raw[i] = byte(rng.Uint32())
	}
	copy(raw, "not a partition table")
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	comp = enc.EncodeAll(raw, nil)
	s := sha256.Sum256(comp)
	return raw, comp, hex.EncodeToString(s[:])
}

// imageServer serves comp at /img.zst with a strong ETag and Range; with
// cut, the first response stops after half the file by closing the
// connection, as a restarted server does.
func imageServer(t *testing.T, comp []byte, cut bool) (*httptest.Server, *atomic.Int32) {
	var reqs atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := reqs.Add(1)
		if r.URL.Path != "/img.zst" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		if cut && n == 1 {
			w.Header().Set("Content-Length", strconv.Itoa(len(comp)))
			w.WriteHeader(http.StatusOK)
			w.Write(comp[:len(comp)/2])
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		http.ServeContent(w, r, "img.zst", time.Unix(1e9, 0), bytes.NewReader(comp))
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs
}

func TestImageWrite(t *testing.T) {
	raw, comp, sum := imagePayload(t)
	for _, tc := range []struct {
		name        string
		cut         bool
		wantResumes string
	}{
		{"whole", false, "(0 resumes"},
		{"resumed after the server dropped the connection", true, "(1 resumes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := imageServer(t, comp, tc.cut)
			out := filepath.Join(t.TempDir(), "disk.img")
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), []string{"image", "write", "--url", srv.URL + "/img.zst", "--sha256", sum, "--to", out, "--ca", ""}, &stdout, &stderr)
			t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
			if err != nil {
				t.Fatalf("needle image write: %v", err)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw) {
				t.Fatalf("%s: %d bytes differ from the %d-byte image", out, len(got), len(raw))
			}
			lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
			if len(lines) < 3 {
				t.Fatalf("stdout has %d lines, want the source line, progress and the result", len(lines))
			}
			if want := srv.URL + "/img.zst → " + out; lines[0] != want {
				t.Errorf("first line %q, want %q", lines[0], want)
			}
			if !strings.Contains(stdout.String(), out+": 6.0 MiB written, ") {
				t.Errorf("no progress line naming the target and the bytes written")
			}
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, out+": zstd sha256:"+sum+", 6.0 MiB written in ") || !strings.Contains(last, tc.wantResumes) {
				t.Errorf("last line %q, want the result with the digest and %q", last, tc.wantResumes)
			}
		})
	}
}

func TestImageWriteErrors(t *testing.T) {
	_, comp, sum := imagePayload(t)
	srv, _ := imageServer(t, comp, false)
	dir := t.TempDir()
	out := filepath.Join(dir, "disk.img")
	other := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no hash", []string{"--url", srv.URL + "/img.zst", "--to", out}, "--sha256 or --sha512 is required"},
		{"two hashes", []string{"--url", srv.URL + "/img.zst", "--sha256", sum, "--sha512", sum, "--to", out}, "not both"},
		{"no target", []string{"--url", srv.URL + "/img.zst", "--sha256", sum}, "--url and --to are required"},
		{"not http", []string{"--url", "ftp://x/img", "--sha256", sum, "--to", out}, "want an http:// or https:// URL"},
		{"short hash", []string{"--url", srv.URL + "/img.zst", "--sha256", "abcd", "--to", out}, "digest has 2 bytes, want 32"},
		{"wrong hash", []string{"--url", srv.URL + "/img.zst", "--sha256", other, "--to", out}, "hash mismatch: got sha256:" + sum + ", want sha256:" + other},
		{"missing", []string{"--url", srv.URL + "/nope.zst", "--sha256", sum, "--to", out}, "404 Not Found"},
		{"directory", []string{"--url", srv.URL + "/img.zst", "--sha256", sum, "--to", dir}, "is a directory"},
		{"too small", []string{"--url", srv.URL + "/img.zst", "--sha256", sum, "--to", out, "--size", "1MiB"}, "runs past the end of the 1048576-byte target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"image", "write", "--ca", ""}, tc.args...), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("needle image write %q = %v, want an error with %q", tc.args, err, tc.want)
			}
		})
	}
	if err := run(context.Background(), []string{"image"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "needle image write --url") {
		t.Errorf("needle image = %v, want the usage", err)
	}
}
