package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Capture reads the inventory from root and copies every sysfs and procfs
// path the reader touched into dir/sys and dir/proc: attribute files with
// their contents, directories it listed (their symlinks and subdirectories,
// not their other files) and every symlink on the way, with its target as
// the kernel wrote it, so the /sys/devices topology the reader derives
// transports and bus paths from survives. Read(sysroot.Capture(dir)) then gives
// the same inventory. It needs nothing but /sys and /proc, so it runs inside
// the ramdisk.
func Capture(root Root, dir string) (*Inventory, error) {
	root = root.WithDefaults()
	type op struct {
		fs, rel string
		a       access
	}
	var ops []op
	seen := map[op]bool{}
	rd := newReader(root, func(fsName, rel string, a access) {
		o := op{fsName, rel, a}
		if !seen[o] {
			seen[o] = true
			ops = append(ops, o)
		}
	})
	inv, err := rd.inventory()
	if err != nil {
		return nil, err
	}
	sys := copier{src: root.Sys, dst: filepath.Join(dir, "sys")}
	proc := copier{src: root.Proc, dst: filepath.Join(dir, "proc")}
	for _, d := range []string{sys.dst, proc.dst} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
	}
	for _, o := range ops {
		c := &sys
		if o.fs == "proc" {
			c = &proc
		}
		if err := c.ensure(o.rel, o.a, 0); err != nil {
			return nil, fmt.Errorf("capture %s/%s: %w", c.src, o.rel, err)
		}
	}
	return inv, nil
}

// copier replicates paths of the tree at src under dst.
type copier struct{ src, dst string }

// maxLinks bounds symlink chains as the kernel's own MAXSYMLINKS does.
const maxLinks = 40

// ensure copies rel (slash separated, relative to the root) with what the
// reader did to it; a path that does not exist on the source is skipped,
// because the reader saw it absent too.
func (c *copier) ensure(rel string, a access, depth int) error {
	if depth > maxLinks {
		return errors.New("too many levels of symbolic links")
	}
	comps := strings.Split(path.Clean(rel), "/")
	cur := ""
	for i, comp := range comps {
		next := path.Join(cur, comp)
		last := i == len(comps)-1
		src := filepath.Join(c.src, filepath.FromSlash(next))
		fi, err := os.Lstat(src)
		if err != nil {
			return nil
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return nil
			}
			if err := c.symlink(next, target); err != nil {
				return err
			}
			if last && a == accLink {
				return nil
			}
			resolved, ok := c.inside(path.Dir(next), target)
			if !ok {
				return nil
			}
			rest := append([]string{resolved}, comps[i+1:]...)
			return c.ensure(path.Join(rest...), a, depth+1)
		case fi.IsDir():
			if err := os.MkdirAll(filepath.Join(c.dst, filepath.FromSlash(next)), 0o755); err != nil {
				return err
			}
			if last && a == accDir {
				return c.entries(next)
			}
		default:
			if !last {
				return nil
			}
			if a == accFile || a == accResolve {
				// A resolved regular file is an existence test (a
				// partition's "partition" file): copy it so the test
				// answers the same on the capture.
				return c.file(next)
			}
			return nil
		}
		cur = next
	}
	return nil
}

// inside resolves a symlink target found in dir; targets leaving the root
// (none in sysfs) are not followed.
func (c *copier) inside(dir, target string) (string, bool) {
	var p string
	if filepath.IsAbs(target) {
		r, err := filepath.Rel(c.src, target)
		if err != nil {
			return "", false
		}
		p = path.Clean(filepath.ToSlash(r))
	} else {
		p = path.Clean(path.Join(dir, filepath.ToSlash(target)))
	}
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", false
	}
	return p, true
}

func (c *copier) symlink(rel, target string) error {
	dst := filepath.Join(c.dst, filepath.FromSlash(rel))
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.Symlink(target, dst)
}

// entries recreates a listed directory's symlinks and subdirectories.
func (c *copier) entries(rel string) error {
	ents, err := os.ReadDir(filepath.Join(c.src, filepath.FromSlash(rel)))
	if err != nil {
		return nil
	}
	for _, e := range ents {
		p := path.Join(rel, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			t, err := os.Readlink(filepath.Join(c.src, filepath.FromSlash(p)))
			if err != nil {
				continue
			}
			if err := c.symlink(p, t); err != nil {
				return err
			}
		case e.IsDir():
			if err := os.MkdirAll(filepath.Join(c.dst, filepath.FromSlash(p)), 0o755); err != nil {
				return err
			}
		}
	}
	return nil
}

// file copies an attribute's content; one the kernel refuses to read (EIO,
// EINVAL from carrier on a down link) is left out, as the reader treats it.
func (c *copier) file(rel string) error {
	b, err := os.ReadFile(filepath.Join(c.src, filepath.FromSlash(rel)))
	if err != nil {
		return nil
	}
	dst := filepath.Join(c.dst, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
