package initramfs

import (
	"fmt"
	"io"
	"os"
)

// newc ("070701") is the only cpio format the kernel's initramfs unpacker
// reads: see the kernel's Documentation/driver-api/early-userspace/buffer-format.rst
// and init/initramfs.c. Every header field is 8 hex digits; the name and the
// data are each padded to a multiple of 4 bytes.
const (
	newcMagic   = "070701"
	trailerName = "TRAILER!!!"
)

// Mode bits of a cpio entry (they are the st_mode bits of the kernel).
const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
	modeChar    = 0o020000
	modeBlock   = 0o060000
	modeType    = 0o170000
)

// cpioWriter writes newc records with inode numbers assigned in write order,
// so the same entries in the same order give the same bytes.
type cpioWriter struct {
	w   io.Writer
	n   int64
	ino uint32
	buf []byte
}

// cpioHeader holds the fields needle sets; uid, gid, mtime and the device
// of the archive itself are always 0, which is what makes the output
// reproducible.
type cpioHeader struct {
	mode      uint32
	nlink     uint32
	size      uint32
	rdevMajor uint32
	rdevMinor uint32
	name      string
	zeroInode bool // the trailer carries inode 0
}

func (c *cpioWriter) write(p []byte) error {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return err
}

func (c *cpioWriter) pad() error {
	if r := c.n % 4; r != 0 {
		return c.write(make([]byte, 4-r))
	}
	return nil
}

func (c *cpioWriter) header(h cpioHeader) error {
	ino := uint32(0)
	if !h.zeroInode {
		c.ino++
		ino = c.ino
	}
	// ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor
	// rdevminor namesize check
	s := fmt.Sprintf("%s%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		newcMagic, ino, h.mode, 0, 0, h.nlink, 0, h.size,
		0, 0, h.rdevMajor, h.rdevMinor, len(h.name)+1, 0)
	c.buf = append(c.buf[:0], s...)
	c.buf = append(c.buf, h.name...)
	c.buf = append(c.buf, 0)
	if err := c.write(c.buf); err != nil {
		return err
	}
	return c.pad()
}

// entry writes one record; data comes from e.data or e.src.
func (c *cpioWriter) entry(e *Entry) error {
	h := cpioHeader{mode: e.Mode, nlink: 1, name: e.Path}
	var data []byte
	switch e.Mode & modeType {
	case modeDir:
		h.nlink = 2
	case modeSymlink:
		data = []byte(e.Link)
	case modeChar, modeBlock:
		h.rdevMajor, h.rdevMinor = e.Major, e.Minor
	case modeFile:
		if e.src != "" {
			b, err := os.ReadFile(e.src)
			if err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			}
			data = b
		} else {
			data = e.data
		}
	}
	if uint64(len(data)) > 0xffffffff {
		return fmt.Errorf("%s: %d bytes is too large for newc cpio", e.Path, len(data))
	}
	h.size = uint32(len(data))
	if err := c.header(h); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	if err := c.write(data); err != nil {
		return err
	}
	return c.pad()
}

func (c *cpioWriter) trailer() error {
	return c.header(cpioHeader{name: trailerName, nlink: 1, zeroInode: true})
}
