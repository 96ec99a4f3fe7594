package install

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// flushEvery is how much an image write may run ahead of the disk.
const flushEvery = 32 << 20

// syncedTarget writes through the page cache but pushes each flushEvery
// bytes to the disk with sync_file_range and waits for them. A write
// error then surfaces with the byte range it hit (an fsync at the end only
// says "input/output error"), and the dirty page cache stays bounded, so an
// image larger than RAM streams in steady state.
type syncedTarget struct {
	f        *os.File
	dev      string
	lo, hi   int64 // range written since the last flush
	dirty    int64
	syncFile func(fd int, off, n int64, flags int) error
}

func newSyncedTarget(f *os.File, dev string) *syncedTarget {
	return &syncedTarget{f: f, dev: dev, lo: -1, syncFile: unix.SyncFileRange}
}

func (t *syncedTarget) WriteAt(p []byte, off int64) (int, error) {
	n, err := t.f.WriteAt(p, off)
	if err != nil {
		return n, fmt.Errorf("write to %s at byte %d: %w", t.dev, off, err)
	}
	if t.lo < 0 || off < t.lo {
		t.lo = off
	}
	if end := off + int64(n); end > t.hi {
		t.hi = end
	}
	if t.dirty += int64(n); t.dirty >= flushEvery {
		return n, t.flush()
	}
	return n, nil
}

func (t *syncedTarget) flush() error {
	if t.lo < 0 {
		return nil
	}
	const flags = unix.SYNC_FILE_RANGE_WAIT_BEFORE | unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
	err := t.syncFile(int(t.f.Fd()), t.lo, t.hi-t.lo, flags)
	lo, hi := t.lo, t.hi
	t.lo, t.hi, t.dirty = -1, 0, 0
	if err != nil {
		return fmt.Errorf("write to %s failed between byte %d and %d: %w", t.dev, lo, hi, err)
	}
	return nil
}

// Sync flushes the last range (so its errors keep their offsets), then
// fsyncs the device.
func (t *syncedTarget) Sync() error {
	if err := t.flush(); err != nil {
		return err
	}
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", t.dev, err)
	}
	return nil
}
