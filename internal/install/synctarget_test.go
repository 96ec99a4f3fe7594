package install

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestSyncedTarget(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var flushed [][2]int64
	fail := false
	st := newSyncedTarget(f, "/dev/vdz")
	st.syncFile = func(fd int, off, n int64, flags int) error {
		flushed = append(flushed, [2]int64{off, n})
		if fail {
			return unix.EIO
		}
		return nil
	}
	block := make([]byte, 8<<20)
	for i := int64(0); i < 5; i++ { // 40 MiB: one flush at 32 MiB
		if _, err := st.WriteAt(block, (1<<20)+i*int64(len(block))); err != nil {
			t.Fatal(err)
		}
	}
	if len(flushed) != 1 || flushed[0] != [2]int64{1 << 20, 32 << 20} {
		t.Fatalf("flushes %v, want one of 32 MiB from 1 MiB", flushed)
	}
	// The held-back head, written last, widens the range down to 0.
	st.WriteAt(make([]byte, 1<<20), 0)
	fail = true
	err = st.Sync()
	if !errors.Is(err, unix.EIO) || !strings.Contains(err.Error(), "/dev/vdz failed between byte 0 and 42991616") {
		t.Errorf("Sync after a failing flush = %v", err)
	}
}
