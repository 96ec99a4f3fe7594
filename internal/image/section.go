package image

import (
	"fmt"
	"io"
)

// Section is the part [off, off+size) of a disk, for per-partition images:
// writes are shifted by off and refused past size, so a partition image can
// never spill into its neighbour.
func Section(t Target, off, size int64) Target {
	return &section{t: t, w: io.NewOffsetWriter(t, off), off: off, size: size}
}

type section struct {
	t         Target
	w         *io.OffsetWriter
	off, size int64
}

func (s *section) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.size {
		return 0, fmt.Errorf("write of %d bytes at %d is outside the %d-byte section at disk offset %d", len(p), off, s.size, s.off)
	}
	return s.w.WriteAt(p, off)
}

func (s *section) Sync() error { return s.t.Sync() }

// Durable passes the disk's count through (Write measures from its start).
func (s *section) Durable() int64 {
	if d, ok := s.t.(durable); ok {
		return d.Durable()
	}
	return -1
}
