package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/needle-boot/needle/internal/testenv"
	"github.com/ulikunitz/xz"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// makeDiskImage builds a whole-disk image of size bytes: a GPT with one
// partition made by go-diskfs, then data regions of text and random bytes
// separated by zero runs (some shorter than a 4 KiB block, some longer than
// the 4 MiB write size), ending in zeros.
func makeDiskImage(t *testing.T, size int64) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src.img")
	b, err := file.CreateFromPath(p, size)
	if err != nil {
		t.Fatal(err)
	}
	d, err := diskfs.OpenBackend(b)
	if err != nil {
		t.Fatal(err)
	}
	tbl := &gpt.Table{
		LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true,
		GUID: "0f4ee2d1-8c2f-4d8b-9a55-6b1e4f0a1c01",
		Partitions: []*gpt.Partition{{
			Index: 1, Start: 2048, End: uint64(size/512) - 2048 - 1, Type: gpt.LinuxFilesystem,
			Name: "root", GUID: "6a1f3b2e-1111-4a4a-8b8b-0123456789ab",
		}},
	}
	if err := d.Partition(tbl); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	text := []byte("needle writes disks for a living; ")
	for off := int64(1 << 20); off < size*3/4; {
		n := int64(rng.IntN(6<<20) + 100)
		end := min(off+n, size*3/4)
		if rng.IntN(2) == 0 {
			for i := off; i < end; i++ {
				img[i] = text[i%int64(len(text))]
			}
		} else {
			for i := off; i < end; i++ {
				img[i] = byte(rng.Uint32())
			}
		}
		off = end + int64(rng.IntN(5<<20)) + int64(rng.IntN(3000))
	}
	return img
}

func compress(t *testing.T, codec string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch codec {
	case "none":
		return data
	case "zstd":
		w, err = zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	case "gzip":
		w, err = gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	case "xz":
		w, err = xz.NewWriter(&buf)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha256Of(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// serve serves data with a strong ETag and Range support (ServeContent).
// cut, if > 0, makes the first cuts full-body responses drop the connection
// after cut bytes.
func serve(t *testing.T, data []byte, cut int64, cuts int) (*httptest.Server, *atomic.Int32) {
	var requests atomic.Int32
	var mu sync.Mutex
	left := cuts
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("ETag", `"img-v1"`)
		mu.Lock()
		doCut := cut > 0 && left > 0
		if doCut {
			left--
		}
		mu.Unlock()
		if doCut {
			w = &cutter{ResponseWriter: w, left: cut}
		}
		http.ServeContent(w, r, "img", time.Unix(1700000000, 0), bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

// cutter drops the connection after left bytes of body.
type cutter struct {
	http.ResponseWriter
	left int64
}

func (c *cutter) Write(p []byte) (int, error) {
	if int64(len(p)) >= c.left {
		n, _ := c.ResponseWriter.Write(p[:c.left])
		c.ResponseWriter.(http.Flusher).Flush()
		_ = n
		panic(http.ErrAbortHandler)
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}

func newTarget(t *testing.T, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "target.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readAll(t *testing.T, f *os.File) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func noSleep(context.Context, time.Duration) error { return nil }

func TestWriteCodecsSparse(t *testing.T) {
	const size = 24 << 20
	img := makeDiskImage(t, size)
	for _, codec := range []string{"none", "zstd", "xz", "gzip"} {
		t.Run(codec, func(t *testing.T) {
			payload := compress(t, codec, img)
			srv, _ := serve(t, payload, 0, 0)
			var got [2][]byte
			for i, sparse := range []bool{false, true} {
				dst := newTarget(t, size)
				var reports int
				res, err := Write(context.Background(), dst, Source{URL: srv.URL + "/img", Hash: sha256Of(payload)},
					Options{Zeroed: sparse, Size: size, Logger: testLogger(t), ProgressInterval: time.Nanosecond,
						Progress: func(Progress) { reports++ }})
				if err != nil {
					t.Fatalf("Write(sparse=%v) = %v", sparse, err)
				}
				if res.Codec != codec || res.Written != size || res.Fetched != int64(len(payload)) {
					t.Errorf("Write(sparse=%v) result %+v, want codec %s, %d written, %d fetched", sparse, res, codec, size, len(payload))
				}
				if sparse && res.Skipped < size/4 {
					t.Errorf("sparse write skipped %d bytes, want at least %d", res.Skipped, size/4)
				}
				if !sparse && res.Skipped != 0 {
					t.Errorf("non-sparse write skipped %d bytes", res.Skipped)
				}
				if reports < 2 {
					t.Errorf("progress called %d times, want several", reports)
				}
				got[i] = readAll(t, dst)
				if !bytes.Equal(got[i], img) {
					t.Errorf("sparse=%v: target differs from the image", sparse)
				}
			}
			if !bytes.Equal(got[0], got[1]) {
				t.Error("sparse and non-sparse writes differ")
			}
		})
	}
}

func TestWriteLocalFileSHA512(t *testing.T) {
	img := makeDiskImage(t, 8<<20)
	payload := compress(t, "zstd", img)
	p := filepath.Join(t.TempDir(), "img.zst")
	if err := os.WriteFile(p, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(payload)
	dst := newTarget(t, 8<<20)
	res, err := Write(context.Background(), dst, Source{Path: p, Hash: "sha512:" + hex.EncodeToString(sum[:])}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Digest, "sha512:") || !bytes.Equal(readAll(t, dst), img) {
		t.Errorf("Write(file, sha512) digest %s, content equal %v", res.Digest, bytes.Equal(readAll(t, dst), img))
	}
}

func TestWriteResumes(t *testing.T) {
	const size = 16 << 20
	img := makeDiskImage(t, size)
	payload := compress(t, "gzip", img)
	for _, tc := range []struct {
		name string
		cuts int
	}{{"one cut", 1}, {"three cuts", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, reqs := serve(t, payload, int64(len(payload))/3, tc.cuts)
			dst := newTarget(t, size)
			var slept []time.Duration
			res, err := Write(context.Background(), dst, Source{URL: srv.URL, Hash: sha256Of(payload)},
				Options{Logger: testLogger(t), Sleep: func(_ context.Context, d time.Duration) error {
					slept = append(slept, d)
					return nil
				}})
			if err != nil {
				t.Fatalf("Write with %d cuts = %v", tc.cuts, err)
			}
			if res.Resumes < 1 || int(reqs.Load()) != tc.cuts+1 {
				t.Errorf("resumes %d, requests %d, want >=1 and %d", res.Resumes, reqs.Load(), tc.cuts+1)
			}
			if res.Digest != sha256Of(payload) {
				t.Errorf("digest %s, want %s", res.Digest, sha256Of(payload))
			}
			if !bytes.Equal(readAll(t, dst), img) {
				t.Error("target differs from the image after resuming")
			}
		})
	}
}

func TestWriteResumeRefusedWhenFileChanged(t *testing.T) {
	img := makeDiskImage(t, 8<<20)
	payload := compress(t, "zstd", img)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Each answer carries a new ETag, as if the file were replaced: the
		// If-Range check must fail and the server sends 200.
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, n.Add(1)))
		var cw http.ResponseWriter = w
		if r.Header.Get("Range") == "" {
			cw = &cutter{ResponseWriter: w, left: int64(len(payload)) / 2}
		}
		http.ServeContent(cw, r, "img", time.Time{}, bytes.NewReader(payload))
	}))
	defer srv.Close()
	dst := newTarget(t, 8<<20)
	_, err := Write(context.Background(), dst, Source{URL: srv.URL, Hash: sha256Of(payload)}, Options{Sleep: noSleep})
	if err == nil || !strings.Contains(err.Error(), "changed or ignores Range") {
		t.Fatalf("Write against a replaced file = %v, want a refusal to resume", err)
	}
	if head := readAll(t, dst)[:1<<20]; !isZero(head) {
		t.Error("first MiB written despite the failure")
	}
}

func TestWriteRetriesBounded(t *testing.T) {
	var reqs atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.Add(1)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	var slept []time.Duration
	_, err := Write(context.Background(), newTarget(t, 1<<20), Source{URL: srv.URL, Hash: sha256Of(nil)},
		Options{Retries: 3, Backoff: time.Second, Sleep: func(_ context.Context, d time.Duration) error {
			slept = append(slept, d)
			return nil
		}})
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Write against a 503 server = %v, want an error naming 503", err)
	}
	if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, slept); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
	if reqs.Load() != 4 {
		t.Errorf("%d requests, want 4 (1 + 3 retries)", reqs.Load())
	}
}

func TestWriteNotFoundIsPermanent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, err := Write(context.Background(), newTarget(t, 1<<20), Source{URL: srv.URL, Hash: sha256Of(nil)},
		Options{Sleep: func(context.Context, time.Duration) error { t.Error("slept for a 404"); return nil }})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Write against 404 = %v", err)
	}
}

func TestWriteWrongHashLeavesHeadZero(t *testing.T) {
	const size = 8 << 20
	img := makeDiskImage(t, size)
	for _, codec := range []string{"zstd", "none"} {
		t.Run(codec, func(t *testing.T) {
			payload := compress(t, codec, img)
			srv, _ := serve(t, payload, 0, 0)
			dst := newTarget(t, size)
			// A stale partition table from an earlier install.
			if _, err := dst.WriteAt(img[:1<<20], 0); err != nil {
				t.Fatal(err)
			}
			wrong := sha256Of([]byte("something else"))
			_, err := Write(context.Background(), dst, Source{URL: srv.URL, Hash: wrong}, Options{})
			if err == nil || !strings.Contains(err.Error(), "hash mismatch") {
				t.Fatalf("Write with a wrong hash = %v, want hash mismatch", err)
			}
			got := readAll(t, dst)
			if !isZero(got[:1<<20]) {
				t.Error("first MiB of the target is not zero after a hash mismatch")
			}
			if !bytes.Equal(got[1<<20:], img[1<<20:]) {
				t.Error("the rest of the image was not streamed before the hash was known")
			}
		})
	}
}

// failAt is a Target whose writes fail from offset bad on.
type failAt struct {
	bad    int64
	writes int
}

func (f *failAt) WriteAt(p []byte, off int64) (int, error) {
	f.writes++
	if off+int64(len(p)) > f.bad {
		n := max(0, int(f.bad-off))
		return n, errors.New("input/output error")
	}
	return len(p), nil
}
func (f *failAt) Sync() error { return nil }

func TestWriteTargetErrorNamesOffset(t *testing.T) {
	img := makeDiskImage(t, 16<<20)
	payload := compress(t, "zstd", img)
	srv, _ := serve(t, payload, 0, 0)
	const bad = 9<<20 + 4096
	_, err := Write(context.Background(), &failAt{bad: bad}, Source{URL: srv.URL, Hash: sha256Of(payload)}, Options{})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("at offset %d", bad)) {
		t.Fatalf("Write onto a target failing at %d = %v, want the offset named", bad, err)
	}
}

func TestWriteImageLargerThanTarget(t *testing.T) {
	img := makeDiskImage(t, 8<<20)
	dst := newTarget(t, 4<<20)
	_, err := Write(context.Background(), dst, Source{Path: writeTemp(t, img), Hash: sha256Of(img)}, Options{Size: 4 << 20})
	if err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Fatalf("Write of 8 MiB onto 4 MiB = %v, want past the end", err)
	}
}

func writeTemp(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "payload")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type sfdiskDump struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		FirstLBA   int64  `json:"firstlba"`
		LastLBA    int64  `json:"lastlba"`
		Partitions []struct {
			Start int64  `json:"start"`
			Size  int64  `json:"size"`
			Type  string `json:"type"`
			UUID  string `json:"uuid"`
			Name  string `json:"name"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	return testenv.HostTool(t, name)
}

func TestWriteMovesBackupGPT(t *testing.T) {
	sfdisk := needTool(t, "sfdisk")
	const imgSize, diskSize = 24 << 20, 64 << 20
	img := makeDiskImage(t, imgSize)
	for _, sparse := range []bool{false, true} {
		t.Run(fmt.Sprintf("sparse=%v", sparse), func(t *testing.T) {
			dst := newTarget(t, diskSize)
			payload := compress(t, "zstd", img)
			res, err := Write(context.Background(), dst, Source{Path: writeTemp(t, payload), Hash: sha256Of(payload)},
				Options{Size: diskSize, Zeroed: sparse, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			if !res.GPTMoved || res.SectorSize != 512 {
				t.Errorf("result %+v, want GPT moved with 512-byte sectors", res)
			}
			out, err := exec.Command(sfdisk, "--verify", dst.Name()).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "No errors detected") {
				t.Errorf("sfdisk --verify: %v\n%s", err, out)
			}
			js, err := exec.Command(sfdisk, "--json", dst.Name()).Output()
			if err != nil {
				t.Fatalf("sfdisk --json: %v", err)
			}
			var d sfdiskDump
			if err := json.Unmarshal(js, &d); err != nil {
				t.Fatal(err)
			}
			if want := int64(diskSize/512 - 34); d.PartitionTable.LastLBA != want {
				t.Errorf("sfdisk lastlba = %d, want %d", d.PartitionTable.LastLBA, want)
			}
			if len(d.PartitionTable.Partitions) != 1 || d.PartitionTable.Partitions[0].Start != 2048 {
				t.Errorf("partitions %+v, want one at 2048", d.PartitionTable.Partitions)
			}
			// Everything past the partition table is the image byte for
			// byte, except the image's old backup header.
			got := readAll(t, dst)
			if !bytes.Equal(got[1<<20:imgSize-512], img[1<<20:imgSize-512]) {
				t.Error("image body changed by the GPT move")
			}
		})
	}
}

func TestWriteNoGPTNotMoved(t *testing.T) {
	img := bytes.Repeat([]byte("x"), 3<<20)
	dst := newTarget(t, 8<<20)
	res, err := Write(context.Background(), dst, Source{Path: writeTemp(t, img), Hash: sha256Of(img)}, Options{Size: 8 << 20})
	if err != nil || res.GPTMoved {
		t.Fatalf("Write(plain image) = %+v, %v; want no GPT move", res, err)
	}
	if got := readAll(t, dst); !bytes.Equal(got[:len(img)], img) || !isZero(got[len(img):]) {
		t.Error("target content wrong")
	}
}

func TestWriteCancelled(t *testing.T) {
	img := makeDiskImage(t, 16<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Write(ctx, newTarget(t, 16<<20), Source{Path: writeTemp(t, img), Hash: sha256Of(img)}, Options{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Write(cancelled) = %v, want context.Canceled", err)
	}
}

func TestNewHasher(t *testing.T) {
	h64 := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		spec, algo, err string
	}{
		{"sha256:" + h64, "sha256", ""},
		{h64, "sha256", ""},
		{strings.Repeat("cd", 64), "sha512", ""},
		{"sha512:" + h64, "", "digest has 32 bytes, want 64"},
		{"md5:" + h64[:32], "", "want sha256:HEX or sha512:HEX"},
		{"", "", "want sha256:HEX or sha512:HEX"},
		{"sha256:zz", "", "invalid byte"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			h, err := newHasher(tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("newHasher(%q) = %v, want error containing %q", tc.spec, err, tc.err)
				}
				return
			}
			if err != nil || h.algo != tc.algo {
				t.Fatalf("newHasher(%q) = %v, %v; want %s", tc.spec, h, err, tc.algo)
			}
		})
	}
}

func TestContentRange(t *testing.T) {
	for _, tc := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/*", 0, -1, true},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes 5-9", 0, 0, false},
	} {
		s, tot, err := contentRange(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (s != tc.start || tot != tc.total)) {
			t.Errorf("contentRange(%q) = %d, %d, %v; want %d, %d, ok=%v", tc.in, s, tot, err, tc.start, tc.total, tc.ok)
		}
	}
}

func TestDetect(t *testing.T) {
	for _, codec := range []string{"zstd", "xz", "gzip"} {
		if got := Detect(compress(t, codec, []byte("hello"))); got != codec {
			t.Errorf("Detect(%s output) = %q", codec, got)
		}
	}
	if got := Detect([]byte{0xeb, 0x63, 0x90}); got != "none" {
		t.Errorf("Detect(MBR) = %q, want none", got)
	}
}

func FuzzContentRange(f *testing.F) {
	f.Add("bytes 100-199/200")
	f.Add("bytes 0-0/*")
	f.Fuzz(func(t *testing.T, s string) {
		start, total, err := contentRange(s)
		if err == nil && (total < -1) {
			t.Errorf("contentRange(%q) = %d, %d", s, start, total)
		}
	})
}

// FuzzRelocateGPT feeds arbitrary heads: relocateGPT must never panic and
// must not write when it reports no move.
func FuzzRelocateGPT(f *testing.F) {
	seed := make([]byte, 64<<10)
	copy(seed[512:], gptSig)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, head []byte) {
		w := &failAt{bad: 1 << 62}
		moved, _, _ := relocateGPT(w, head, 1<<20, 1<<30)
		if !moved && w.writes > 0 {
			t.Errorf("relocateGPT wrote %d times without moving", w.writes)
		}
	})
}

func TestWriteSection(t *testing.T) {
	img := bytes.Repeat([]byte("partition image "), 1<<16) // 1 MiB
	disk := newTarget(t, 8<<20)
	const off = 2 << 20
	sec := Section(disk, off, 2<<20)
	if _, err := Write(context.Background(), sec, Source{Path: writeTemp(t, img), Hash: sha256Of(img)}, Options{Size: 2 << 20}); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, disk)
	if !bytes.Equal(got[off:off+len(img)], img) || !isZero(got[:off]) || !isZero(got[off+len(img):]) {
		t.Error("partition image not exactly at its section")
	}
	big := make([]byte, 3<<20)
	big[len(big)-1] = 1
	_, err := Write(context.Background(), Section(disk, off, 2<<20), Source{Path: writeTemp(t, big), Hash: sha256Of(big)}, Options{})
	if err == nil || !strings.Contains(err.Error(), "outside the 2097152-byte section") {
		t.Errorf("Write of 3 MiB into a 2 MiB section = %v, want refused", err)
	}
}

// TestWriteMovesBackupGPT4K checks the move on a 4096-byte-sector GPT
// (sfdisk 2.38 cannot read those from a file, so go-diskfs verifies).
func TestWriteMovesBackupGPT4K(t *testing.T) {
	const imgSize, diskSize = 16 << 20, 48 << 20
	p := filepath.Join(t.TempDir(), "src4k.img")
	b, err := file.CreateFromPath(p, imgSize)
	if err != nil {
		t.Fatal(err)
	}
	d, err := diskfs.OpenBackend(b, diskfs.WithSectorSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	tbl := &gpt.Table{LogicalSectorSize: 4096, PhysicalSectorSize: 4096, ProtectiveMBR: true,
		GUID: "0f4ee2d1-8c2f-4d8b-9a55-6b1e4f0a1c02",
		Partitions: []*gpt.Partition{{Index: 1, Start: 256, End: imgSize/4096 - 256 - 1,
			Type: gpt.LinuxFilesystem, Name: "root", GUID: "6a1f3b2e-1111-4a4a-8b8b-0123456789ac"}}}
	if err := d.Partition(tbl); err != nil {
		t.Fatal(err)
	}
	b.Close()
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	dst := newTarget(t, diskSize)
	res, err := Write(context.Background(), dst, Source{Path: p, Hash: sha256Of(img)}, Options{Size: diskSize})
	if err != nil {
		t.Fatal(err)
	}
	if !res.GPTMoved || res.SectorSize != 4096 {
		t.Fatalf("result %+v, want the GPT moved with 4096-byte sectors", res)
	}
	rb, err := file.OpenFromPath(dst.Name(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	rd, err := diskfs.OpenBackend(rb, diskfs.WithSectorSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := rd.GetPartitionTable()
	if err != nil {
		t.Fatal(err)
	}
	g := pt.(*gpt.Table)
	if g.RecoveredFromBackup {
		t.Error("primary GPT invalid after the move")
	}
	if err := g.Verify(rb, diskSize); err != nil {
		t.Errorf("go-diskfs Verify after the move: %v", err)
	}
	// The backup header is in the last sector and names LBA 1 as its twin.
	last := readAll(t, dst)[diskSize-4096:]
	if string(last[:8]) != "EFI PART" || last[32] != 1 {
		t.Errorf("last sector is not a backup GPT header pointing at LBA 1: % x", last[:40])
	}
}

func TestWriteTruncatedStream(t *testing.T) {
	img := makeDiskImage(t, 8<<20)
	for _, codec := range []string{"zstd", "gzip", "xz"} {
		t.Run(codec, func(t *testing.T) {
			payload := compress(t, codec, img)
			cut := payload[:len(payload)*2/3]
			// The hash given is that of the truncated file, so only the
			// decoder can notice.
			_, err := Write(context.Background(), newTarget(t, 8<<20), Source{Path: writeTemp(t, cut), Hash: sha256Of(cut)}, Options{})
			if err == nil || !strings.Contains(err.Error(), "decompress "+codec) {
				t.Fatalf("Write(truncated %s) = %v, want a decompression error", codec, err)
			}
		})
	}
}

// slowDisk is a target that takes writes at once (the page cache) but
// settles them on the "disk" at a fixed rate, like a throttled drive.
type slowDisk struct {
	*os.File
	start time.Time
	bps   float64
	taken atomic.Int64
}

// WriteAt blocks while 8 MiB are dirty, as SyncedFile waits for the
// window before.
func (d *slowDisk) WriteAt(p []byte, off int64) (int, error) {
	for d.taken.Load()-d.Durable() > 8<<20 {
		time.Sleep(2 * time.Millisecond)
	}
	n, err := d.File.WriteAt(p, off)
	d.taken.Add(int64(n))
	return n, err
}

func (d *slowDisk) Durable() int64 {
	return min(d.taken.Load(), int64(time.Since(d.start).Seconds()*d.bps))
}

func (d *slowDisk) Sync() error {
	for d.Durable() < d.taken.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	return d.File.Sync()
}

// TestProgressOnASlowDisk: once the whole image is fetched, a slow disk
// still has bytes to settle. The progress tells the disk's own rate and a
// non-zero ETA from what is left to write, not "100% fetched, ETA 0s".
func TestProgressOnASlowDisk(t *testing.T) {
	const size = 32 << 20
	img := makeDiskImage(t, size)
	payload := compress(t, "zstd", img)
	p := writeTemp(t, payload)
	disk := &slowDisk{File: newTarget(t, size), start: time.Now(), bps: 40 << 20}
	var reports []Progress
	_, err := Write(context.Background(), disk, Source{Path: p, Hash: sha256Of(payload)},
		Options{Size: size, ProgressInterval: 50 * time.Millisecond, Logger: testLogger(t),
			Progress: func(p Progress) { reports = append(reports, p) }})
	if err != nil {
		t.Fatal(err)
	}
	var lagging []Progress
	for _, r := range reports {
		if r.Fetched == r.Total && r.Settled < r.Written && !r.Finishing {
			lagging = append(lagging, r)
		}
	}
	if len(lagging) == 0 {
		t.Fatalf("no report after the fetch ended while the disk lagged: %+v", reports)
	}
	for _, r := range lagging {
		if r.ETA <= 0 || r.Estimate < r.Written || r.Rate <= 0 || r.Rate > 2*disk.bps {
			t.Errorf("fetched %d/%d, settled %d of ~%d: rate %.0f B/s (the disk takes %.0f), ETA %s; want the disk's rate and an ETA > 0",
				r.Fetched, r.Total, r.Settled, r.Estimate, r.Rate, disk.bps, r.ETA)
		}
	}
}

// TestDefaultSleepIsJittered: the default wait between reconnects is
// never shorter than half the backoff and not the same every time.
func TestDefaultSleepIsJittered(t *testing.T) {
	var o Options
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	const d = 20 * time.Millisecond
	lo, hi := time.Hour, time.Duration(0)
	for range 20 {
		start := time.Now()
		if err := o.Sleep(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		el := time.Since(start)
		lo, hi = min(lo, el), max(hi, el)
	}
	if lo < d/2 {
		t.Errorf("shortest wait %v for a backoff of %v, want at least %v", lo, d, d/2)
	}
	if hi-lo < 2*time.Millisecond {
		t.Errorf("waits between %v and %v for a backoff of %v: not jittered", lo, hi, d)
	}
}

// stallServer serves data (strong ETag, Range) but, for the first stalls
// requests, sends the headers and the first 64 KiB of the answer and then
// goes quiet until the client gives up or 5 s pass: the handler always ends
// by itself, so the test server closes.
func stallServer(t *testing.T, data []byte, stalls int) (*httptest.Server, *atomic.Int32) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := requests.Add(1)
		w.Header().Set("ETag", `"img-v1"`)
		if int(n) > stalls {
			http.ServeContent(w, r, "img", time.Unix(1700000000, 0), bytes.NewReader(data))
			return
		}
		start := int64(0)
		if rng := r.Header.Get("Range"); rng != "" {
			fmt.Sscanf(rng, "bytes=%d-", &start)
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
			w.Header().Set("Content-Length", strconv.Itoa(len(data)-int(start)))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		}
		w.Write(data[start:min(start+64<<10, int64(len(data)))])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func TestWriteStalledServerResumes(t *testing.T) {
	const size = 8 << 20
	img := makeDiskImage(t, size)
	payload := compress(t, "none", img)
	srv, reqs := stallServer(t, payload, 2)
	dst := newTarget(t, size)
	// Without a watchdog the read blocks until this deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Write(ctx, dst, Source{URL: srv.URL + "/img", Hash: sha256Of(payload)},
		Options{Logger: testLogger(t), Sleep: noSleep, StallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Write from a server that stalls twice = %v, want it resumed", err)
	}
	if res.Resumes != 2 || reqs.Load() != 3 {
		t.Errorf("resumes %d, requests %d, want 2 and 3", res.Resumes, reqs.Load())
	}
	if !bytes.Equal(readAll(t, dst), img) {
		t.Error("target differs from the image after resuming stalls")
	}
}

func TestWriteStalledServerGivesUp(t *testing.T) {
	const size = 8 << 20
	img := makeDiskImage(t, size)
	payload := compress(t, "none", img)
	srv, reqs := stallServer(t, payload, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := srv.URL + "/img"
	_, err := Write(ctx, newTarget(t, size), Source{URL: url, Hash: sha256Of(payload)},
		Options{Logger: testLogger(t), Sleep: noSleep, StallTimeout: 100 * time.Millisecond, Retries: 2, MaxReconnects: 5})
	if err == nil {
		t.Fatal("Write from a server that always stalls succeeded")
	}
	for _, want := range []string{url, "no data for 100ms", "at offset"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Write error %q does not contain %q", err, want)
		}
	}
	if ctx.Err() != nil {
		t.Errorf("Write ran until the test's deadline: %v", err)
	}
	// Each connection brings 64 KiB, so the consecutive-failure bound
	// alone never trips; the total bound does: 1 + 5 reconnects.
	if reqs.Load() != 6 {
		t.Errorf("%d requests, want 6 (1 + MaxReconnects 5)", reqs.Load())
	}
}
