// Package initramfs builds needle's initramfs: a deterministic newc cpio
// archive (mtime 0, uid/gid 0, sorted, inode numbers in order), compressed
// with zstd, xz (CRC32 check) or gzip, holding the init, the debug tools,
// kernel modules and arbitrary files with their ELF shared-library closure.
//
// Same inputs give byte-identical output: nothing from the build host (time,
// owner, inode, directory order) reaches the archive.
//
// It is public on purpose: a reproducible initramfs builder other
// projects can use (`needle build` is its command line).
package initramfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// Entry is one file, directory, symlink or device node of the archive.
type Entry struct {
	Path         string // relative, cleaned, no leading slash: "bin/sh"
	Mode         uint32 // type and permission bits, as st_mode
	Link         string // symlink target
	Major, Minor uint32 // device numbers of a node
	data         []byte
	src          string // host file read when the archive is written
	size         int64
}

// Size is the number of data bytes the entry adds to the archive.
func (e *Entry) Size() int64 {
	switch e.Mode & modeType {
	case modeFile:
		if e.src != "" {
			return e.size
		}
		return int64(len(e.data))
	case modeSymlink:
		return int64(len(e.Link))
	}
	return 0
}

// Archive is the set of entries of an initramfs, keyed by path.
type Archive struct {
	entries map[string]*Entry
}

// NewArchive returns an archive holding only the root directory.
func NewArchive() *Archive {
	return &Archive{entries: map[string]*Entry{}}
}

// clean turns "/bin/sh" or "bin//sh" into "bin/sh" and refuses paths that
// leave the root.
func clean(p string) (string, error) {
	c := strings.TrimPrefix(path.Clean("/"+p), "/")
	if c == "" || c == "." {
		return "", fmt.Errorf("initramfs path %q names the root", p)
	}
	return c, nil
}

// add inserts e and its missing parent directories. Adding the same path
// twice is allowed only when both entries are identical, so that two inputs
// never silently shadow each other.
func (a *Archive) add(e *Entry) error {
	p, err := clean(e.Path)
	if err != nil {
		return err
	}
	e.Path = p
	for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
		if old, ok := a.entries[dir]; ok {
			if old.Mode&modeType != modeDir {
				return fmt.Errorf("initramfs: %s needs directory %s, which is already a %s", p, dir, kind(old.Mode))
			}
			continue
		}
		a.entries[dir] = &Entry{Path: dir, Mode: modeDir | 0o755}
	}
	if old, ok := a.entries[p]; ok {
		if same(old, e) {
			return nil
		}
		if old.Mode&modeType == modeDir && e.Mode&modeType == modeDir {
			old.Mode = e.Mode
			return nil
		}
		return fmt.Errorf("initramfs: %s added twice with different content (%s, then %s)", p, describe(old), describe(e))
	}
	a.entries[p] = e
	return nil
}

func same(a, b *Entry) bool {
	if a.Mode != b.Mode || a.Link != b.Link || a.Major != b.Major || a.Minor != b.Minor {
		return false
	}
	if a.src != "" && a.src == b.src {
		return true
	}
	ad, err1 := a.bytes()
	bd, err2 := b.bytes()
	return err1 == nil && err2 == nil && bytes.Equal(ad, bd)
}

// Data returns a regular file's bytes (read from its source file when it
// has one), for digests over the finished archive.
func (e *Entry) Data() ([]byte, error) { return e.bytes() }

func (e *Entry) bytes() ([]byte, error) {
	if e.src != "" {
		return os.ReadFile(e.src)
	}
	return e.data, nil
}

func kind(mode uint32) string {
	switch mode & modeType {
	case modeDir:
		return "directory"
	case modeSymlink:
		return "symlink"
	case modeChar:
		return "character device"
	case modeBlock:
		return "block device"
	}
	return "file"
}

func describe(e *Entry) string {
	switch {
	case e.src != "":
		return "file from " + e.src
	case e.Mode&modeType == modeSymlink:
		return "symlink to " + e.Link
	}
	return kind(e.Mode)
}

// Dir adds a directory.
func (a *Archive) Dir(p string, perm os.FileMode) error {
	return a.add(&Entry{Path: p, Mode: modeDir | uint32(perm.Perm())})
}

// Bytes adds a regular file with the given content.
func (a *Archive) Bytes(p string, perm os.FileMode, data []byte) error {
	return a.add(&Entry{Path: p, Mode: modeFile | uint32(perm.Perm()), data: data})
}

// Copy adds the host file src at p. Its content is read when the archive is
// written; its permission bits are kept, its owner and times are not. A
// symlink is followed: the archive holds the file it points to.
func (a *Archive) Copy(p, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s is not a regular file", src)
	}
	return a.add(&Entry{Path: p, Mode: modeFile | uint32(fi.Mode().Perm()), src: src, size: fi.Size()})
}

// Symlink adds a symbolic link p → target.
func (a *Archive) Symlink(p, target string) error {
	return a.add(&Entry{Path: p, Mode: modeSymlink | 0o777, Link: target})
}

// CharDev adds a character device node; no root is needed to write one into
// an archive.
func (a *Archive) CharDev(p string, perm os.FileMode, major, minor uint32) error {
	return a.add(&Entry{Path: p, Mode: modeChar | uint32(perm.Perm()), Major: major, Minor: minor})
}

// Has reports whether p is in the archive.
func (a *Archive) Has(p string) bool {
	c, err := clean(p)
	if err != nil {
		return false
	}
	_, ok := a.entries[c]
	return ok
}

// Entries returns the entries sorted by path; a parent always sorts before
// its children because it is a prefix of their paths.
func (a *Archive) Entries() []*Entry {
	out := make([]*Entry, 0, len(a.entries))
	for _, e := range a.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// WriteTo writes the uncompressed newc archive.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	cw := &cpioWriter{w: w}
	for _, e := range a.Entries() {
		if err := cw.entry(e); err != nil {
			return cw.n, fmt.Errorf("initramfs: %w", err)
		}
	}
	if err := cw.trailer(); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}
