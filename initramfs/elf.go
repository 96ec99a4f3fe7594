package initramfs

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// DefaultLibDirs is where glibc's dynamic loader looks when neither RPATH,
// RUNPATH nor ld.so.cache names a library, for Debian's x86-64 multiarch
// layout (the cache is not consulted here: the image has none).
var DefaultLibDirs = []string{
	"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
	"/lib64", "/usr/lib64", "/lib", "/usr/lib",
}

// maxSymlinks bounds symlink resolution inside a root, as the kernel's
// MAXSYMLINKS does.
const maxSymlinks = 40

// resolveIn resolves the absolute path p as if root were "/": symlinks,
// absolute or relative, never leave root. It returns the host path.
func resolveIn(root, p string) (string, error) {
	links := 0
	rest := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for len(rest) > 0 {
		name := rest[0]
		rest = rest[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxSymlinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, cur), nil
}

// Lib is one file of an ELF closure: Path is where the loader will look for
// it inside the image, Host the file that provides its bytes.
type Lib struct {
	Path string
	Host string
}

// ELFClosure returns the dynamic loader and the shared libraries (DT_NEEDED,
// recursively) that the ELF file src needs, resolved against root the way
// ld.so would resolve them on a system whose "/" is root. A static binary
// has an empty closure. A library that cannot be found is an error that
// names it and the object that needs it.
func ELFClosure(root, src string) ([]Lib, error) {
	found := map[string]Lib{} // by soname or interpreter path
	var walk func(file, logical string) error
	walk = func(file, logical string) error {
		f, err := elf.Open(file)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return fmt.Errorf("%s: reading PT_INTERP: %w", file, err)
			}
			interp := strings.TrimRight(string(b), "\x00")
			if _, ok := found[interp]; !ok {
				host, err := resolveIn(root, interp)
				if err != nil {
					return fmt.Errorf("%s: interpreter %s not found under %s: %w", logical, interp, root, err)
				}
				found[interp] = Lib{Path: interp, Host: host}
			}
		}
		needed, err := f.DynString(elf.DT_NEEDED)
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			// A static binary has no dynamic section: DynString reports
			// nothing, not an error, for it.
			return fmt.Errorf("%s: DT_NEEDED: %w", file, err)
		}
		var dirs []string
		for _, tag := range []elf.DynTag{elf.DT_RPATH, elf.DT_RUNPATH} {
			vals, _ := f.DynString(tag)
			for _, v := range vals {
				for _, d := range strings.Split(v, ":") {
					dirs = append(dirs, strings.ReplaceAll(d, "$ORIGIN", path.Dir(logical)))
				}
			}
		}
		dirs = append(dirs, DefaultLibDirs...)
		for _, soname := range needed {
			if _, ok := found[soname]; ok {
				continue
			}
			lib, err := findLib(root, soname, dirs, f.Machine)
			if err != nil {
				return fmt.Errorf("%s needs %s: %w", logical, soname, err)
			}
			found[soname] = lib
			if err := walk(lib.Host, lib.Path); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(src, src); err != nil {
		return nil, err
	}
	libs := make([]Lib, 0, len(found))
	for _, l := range found {
		libs = append(libs, l)
	}
	sort.Slice(libs, func(i, j int) bool { return libs[i].Path < libs[j].Path })
	return libs, nil
}

// findLib looks for soname in dirs under root, skipping files built for
// another machine (a 32-bit libc in /lib, say), as ld.so does.
func findLib(root, soname string, dirs []string, machine elf.Machine) (Lib, error) {
	for _, d := range dirs {
		logical := path.Join(d, soname)
		host, err := resolveIn(root, logical)
		if err != nil {
			continue
		}
		f, err := elf.Open(host)
		if err != nil {
			continue
		}
		ok := f.Machine == machine
		f.Close()
		if ok {
			return Lib{Path: logical, Host: host}, nil
		}
	}
	return Lib{}, fmt.Errorf("not found in %s under root %s", strings.Join(dirs, ":"), root)
}

// AddELF adds the ELF file src at p together with its ELF closure resolved
// against root. Libraries go where the loader will look for them; a library
// already in the archive from the same host file is shared.
func (a *Archive) AddELF(p, src, root string) error {
	libs, err := ELFClosure(root, src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := a.Copy(p, src); err != nil {
		return err
	}
	for _, l := range libs {
		if err := a.Copy(l.Path, l.Host); err != nil {
			return err
		}
	}
	return nil
}
