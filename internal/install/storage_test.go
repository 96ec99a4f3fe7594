package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/image"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/report"
)

const testDiskSize = 16 << 20

// garbageDisk is a disk image file full of a non-zero pattern, so that a
// block the writers skip is visible afterwards.
func garbageDisk(t *testing.T) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "disk.img"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xa5}, testDiskSize), 0); err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeKernel records the whole-disk ioctls. Its ZeroOut really zeroes the
// file, as BLKZEROOUT does the device; a non-nil err makes an ioctl fail.
type fakeKernel struct {
	calls                  []string
	discardErr, zeroOutErr error
}

func (k *fakeKernel) kernel() disk.Kernel {
	return disk.Kernel{
		Discard: func(f *os.File, start, n int64) error {
			k.calls = append(k.calls, "discard")
			return k.discardErr
		},
		ZeroOut: func(f *os.File, start, n int64) error {
			k.calls = append(k.calls, "zeroout")
			if k.zeroOutErr != nil {
				return k.zeroOutErr
			}
			_, err := f.WriteAt(make([]byte, n), start)
			return err
		},
	}
}

func testTarget(t *testing.T, w plan.Wipe, f *os.File) *target {
	return &target{id: "os", pd: &plan.Disk{ID: "os", Wipe: w}, f: f, dev: "/dev/vdz",
		disk: inventory.Disk{Name: "vdz", Size: testDiskSize, LogicalSectorSize: 512}}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestTargetWipe: the plan's wipe steps reach disk.Wipe as ioctls, in
// order, and the report line says what was done.
func TestTargetWipe(t *testing.T) {
	tests := []struct {
		name       string
		wipe       plan.Wipe
		discardErr error
		wantCalls  []string
		wantZeroed bool
		wantLine   string
	}{
		{"plain", plan.Wipe{Enabled: true}, nil, nil, false,
			"/dev/vdz wiped (16.0 MiB): no old signature"},
		{"zeroout", plan.Wipe{Enabled: true, ZeroOut: true}, nil, []string{"zeroout"}, true,
			"/dev/vdz wiped (16.0 MiB): zeroed; no old signature"},
		{"discard then zeroout", plan.Wipe{Enabled: true, Discard: true, ZeroOut: true}, nil, []string{"discard", "zeroout"}, true,
			"/dev/vdz wiped (16.0 MiB): discarded, zeroed; no old signature"},
		{"discard unsupported", plan.Wipe{Enabled: true, Discard: true}, errors.New("operation not supported"), []string{"discard"}, false,
			"/dev/vdz wiped (16.0 MiB): discard failed (advisory, continued); no old signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := garbageDisk(t)
			k := &fakeKernel{discardErr: tt.discardErr}
			tg := testTarget(t, tt.wipe, f)
			line, err := tg.wipe(k.kernel(), testLogger(t))
			if err != nil {
				t.Fatalf("wipe: %v", err)
			}
			if diff := cmp.Diff(tt.wantCalls, k.calls); diff != "" {
				t.Errorf("ioctls (-want +got):\n%s", diff)
			}
			if tg.zeroed != tt.wantZeroed {
				t.Errorf("zeroed = %v, want %v", tg.zeroed, tt.wantZeroed)
			}
			if line != tt.wantLine {
				t.Errorf("report line = %q, want %q", line, tt.wantLine)
			}
		})
	}

	t.Run("zeroout fails", func(t *testing.T) {
		f := garbageDisk(t)
		k := &fakeKernel{zeroOutErr: errors.New("input/output error")}
		tg := testTarget(t, plan.Wipe{Enabled: true, ZeroOut: true}, f)
		_, err := tg.wipe(k.kernel(), testLogger(t))
		if err == nil || !strings.HasPrefix(err.Error(), "/dev/vdz: wipe: ") || !strings.Contains(err.Error(), "input/output error") {
			t.Errorf("wipe = %v, want an error naming /dev/vdz and the cause", err)
		}
		if tg.zeroed {
			t.Errorf("zeroed after a failed zero-out")
		}
	})
}

// TestStreamOntoZeroedDisk: a whole-disk image with long zero runs lands
// byte for byte on a disk full of garbage, with and without zero-out; only
// the zeroed disk lets the writer skip the zero blocks, and the image line
// reports how much it skipped.
func TestStreamOntoZeroedDisk(t *testing.T) {
	img := make([]byte, 8<<20)
	for i := range img {
		if (i/(256<<10))%3 == 0 { // 256 KiB of data, 512 KiB of zeros, …
			img[i] = byte(i*7919 + i>>9 | 1)
		}
	}
	sum := sha256.Sum256(img)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "disk.img", time.Time{}, bytes.NewReader(img))
	}))
	defer srv.Close()

	for _, tt := range []struct {
		name        string
		wipe        plan.Wipe
		wantSkipped string
	}{
		{"zeroout", plan.Wipe{Enabled: true, ZeroOut: true}, `[1-9][0-9.]* MiB skipped as zeros`},
		{"plain wipe", plan.Wipe{Enabled: true}, `0 B skipped as zeros`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := garbageDisk(t)
			tg := testTarget(t, tt.wipe, f)
			tg.pd.Image = &plan.Image{URL: srv.URL + "/disk.img", SHA256: hex.EncodeToString(sum[:])}
			mem := &report.Memory{}
			m := &Machine{Config: &cmdline.Config{}, Report: report.New(mem), HTTP: srv.Client()}
			k := &fakeKernel{}
			line, err := tg.wipe(k.kernel(), testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Log(line)
			imgs, err := m.streamImages(context.Background(), &Disks{targets: []*target{tg}})
			if err != nil {
				t.Fatalf("streamImages: %v", err)
			}
			if len(imgs.Written) != 1 || imgs.Written[0].Bytes != int64(len(img)) {
				t.Errorf("streamImages handed on %+v, want one image of %d bytes", imgs.Written, len(img))
			}
			got := make([]byte, testDiskSize)
			if _, err := f.ReadAt(got, 0); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:len(img)], img) {
				i := 0
				for i < len(img) && got[i] == img[i] {
					i++
				}
				t.Errorf("disk differs from the image at byte %d", i)
			}
			var msgs []string
			for _, e := range mem.Events() {
				msgs = append(msgs, e.Message)
			}
			all := strings.Join(msgs, "\n")
			if !regexp.MustCompile(`os: none sha256:[0-9a-f]{64}, 8\.0 MiB written in \S+ \(0 resumes, ` + tt.wantSkipped + `\)`).MatchString(all) {
				t.Errorf("image report lacks %q:\n%s", tt.wantSkipped, all)
			}
		})
	}
}

func TestProgressLine(t *testing.T) {
	p := image.Progress{Written: 900 << 20, Settled: 700 << 20, Estimate: 1000 << 20, Fetched: 300 << 20, Total: 300 << 20,
		Rate: 20e6, ETA: 15 * time.Second}
	want := "root: 900.0 MiB written, 700.0 MiB on disk of ~1000.0 MiB, 20 MB/s, 100% fetched, ETA 15s"
	if got := ProgressLine("root", p); got != want {
		t.Errorf("ProgressLine = %q, want %q", got, want)
	}
}
