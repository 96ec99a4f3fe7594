package image

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

type syncCall struct {
	off, n int64
	wait   bool
}

func newTestSynced(t *testing.T) (*SyncedFile, *[]syncCall, *func(syncCall) error) {
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var calls []syncCall
	failOn := func(syncCall) error { return nil }
	st := NewSyncedFile(f, "/dev/vdz")
	st.syncFile = func(fd int, off, n int64, flags int) error {
		c := syncCall{off, n, flags&unix.SYNC_FILE_RANGE_WAIT_AFTER != 0}
		calls = append(calls, c)
		return failOn(c)
	}
	return st, &calls, &failOn
}

// TestSyncedFileWindows: each full window is started without waiting and
// waited for one window later; Sync waits for the rest; the bytes land.
func TestSyncedFileWindows(t *testing.T) {
	st, calls, _ := newTestSynced(t)
	block := bytes.Repeat([]byte{0xa5}, 8<<20)
	for i := int64(0); i < 9; i++ { // 72 MiB from 1 MiB: windows at 32 and 64 MiB
		if _, err := st.WriteAt(block, (1<<20)+i*int64(len(block))); err != nil {
			t.Fatal(err)
		}
	}
	const M = 1 << 20
	want := []syncCall{
		{1 * M, 32 * M, false},                         // window 1 started
		{33 * M, 32 * M, false}, {1 * M, 32 * M, true}, // window 2 started, 1 waited for
	}
	if !equalCalls(*calls, want) {
		t.Fatalf("sync_file_range calls %v, want %v", *calls, want)
	}
	// The held-back head, written last, widens the last range down to 0.
	if _, err := st.WriteAt(make([]byte, M), 0); err != nil {
		t.Fatal(err)
	}
	if err := st.Sync(); err != nil {
		t.Fatal(err)
	}
	want = append(want, syncCall{0, 73 * M, true}, syncCall{33 * M, 32 * M, true})
	if !equalCalls(*calls, want) {
		t.Fatalf("sync_file_range calls %v, want %v", *calls, want)
	}
	got, err := os.ReadFile(st.f.Name())
	if err != nil || len(got) != 73*M || got[M] != 0xa5 || got[0] != 0 {
		t.Fatalf("file: %d bytes, err %v", len(got), err)
	}
}

// TestSyncedFileErrors: a failure names the window it hit, whether it
// surfaced when the window was started or when it was waited for.
func TestSyncedFileErrors(t *testing.T) {
	const M = 1 << 20
	block := make([]byte, 8*M)
	for _, tc := range []struct {
		name   string
		failOn func(syncCall) error
		want   string
	}{
		{"on wait", func(c syncCall) error {
			if c.wait && c.off == 0 {
				return unix.EIO
			}
			return nil
		}, "/dev/vdz failed between byte 0 and 33554432"},
		{"on start", func(c syncCall) error {
			if !c.wait && c.off == 32*M {
				return unix.EIO
			}
			return nil
		}, "/dev/vdz failed between byte 33554432 and 67108864"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, failOn := newTestSynced(t)
			*failOn = tc.failOn
			var err error
			for i := int64(0); i < 12 && err == nil; i++ {
				_, err = st.WriteAt(block, i*int64(len(block)))
			}
			if err == nil {
				err = st.Sync()
			}
			if !errors.Is(err, unix.EIO) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want EIO naming %q", err, tc.want)
			}
		})
	}
}

func equalCalls(a, b []syncCall) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
