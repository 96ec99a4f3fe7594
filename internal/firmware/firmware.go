// Package firmware picks the firmware files an image carries: exactly the
// files its kernel modules declare (MODULE_FIRMWARE, the firmware= lines of
// .modinfo), taken from unpacked firmware packages (Debian's firmware-*,
// `dpkg-deb -x`), never whole packages. A declared name that is a symlink
// in its package comes with the link and the file it points to; a package
// that ships only NAME.zst or NAME.xz (as newer Debian releases do) gives
// the decompressed file, which every kernel's loader reads, with or without
// CONFIG_FW_LOADER_COMPRESS.
package firmware

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Dir is where the kernel's loader looks for firmware (the last entry of
// its fw_path, after the updates/ directories), and where the image keeps it.
const Dir = "lib/firmware"

// packageDirs are where a package holds its firmware, relative to its
// unpacked root: /lib/firmware before the /usr merge, /usr/lib/firmware
// after it.
var packageDirs = []string{"lib/firmware", "usr/lib/firmware"}

// compressed are the suffixes the kernel's loader tries after the plain
// name (drivers/base/firmware_loader/main.c), with their decoders.
var compressed = []struct {
	ext    string
	decode func(io.Reader) (io.Reader, error)
}{
	{".zst", func(r io.Reader) (io.Reader, error) {
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return d.IOReadCloser(), nil
	}},
	{".xz", func(r io.Reader) (io.Reader, error) { return xz.NewReader(r) }},
}

// maxLinks bounds a chain of symlinks inside one package.
const maxLinks = 8

// Declared is one firmware file and the modules that declare it.
type Declared struct {
	Name    string   // relative to /lib/firmware, as the module declares it
	Modules []string // sorted
}

// Declare turns each module's declared names into one sorted list of
// files, each with the modules that declare it.
func Declare(byModule map[string][]string) []Declared {
	mods := map[string][]string{}
	for m, names := range byModule {
		for _, n := range names {
			if n = strings.TrimSpace(n); n != "" && !slices.Contains(mods[n], m) {
				mods[n] = append(mods[n], m)
			}
		}
	}
	out := make([]Declared, 0, len(mods))
	for n, ms := range mods {
		sort.Strings(ms)
		out = append(out, Declared{Name: n, Modules: ms})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Source is one unpacked firmware package.
type Source struct {
	Package string // the package's name, for the report and the manifest
	Dir     string // its unpacked root (holding lib/firmware or usr/lib/firmware)
}

// File is one entry the image gets under /lib/firmware.
type File struct {
	Name    string // relative to /lib/firmware
	Package string // the package it comes from
	Src     string // the package's file, for a plain file
	Data    []byte // the decompressed bytes, for a file the package ships compressed
	Link    string // the symlink's target, as the package has it, for a link
	Size    int64  // bytes of a regular file (0 for a link)
}

// Selection is what an image carries and what it cannot.
type Selection struct {
	// Files are the declared files and the link targets they need, sorted
	// by name.
	Files []File
	// Missing are the declared files that no source carries.
	Missing []Declared
}

// Bytes is the size of the selection's regular files.
func (s Selection) Bytes() int64 {
	var n int64
	for _, f := range s.Files {
		n += f.Size
	}
	return n
}

// Packages maps each package the selection takes files from to the names
// of the files it gives (in name order).
func (s Selection) Packages() map[string][]string {
	out := map[string][]string{}
	for _, f := range s.Files {
		out[f.Package] = append(out[f.Package], f.Name)
	}
	return out
}

// Select finds each declared file in the sources, the first source that
// carries it winning, and returns the files to add. A link that leaves the
// firmware directory, a loop of links, or a link to nothing is an error
// naming the package: it would put a broken file into the image.
func Select(declared []Declared, sources []Source) (Selection, error) {
	var sel Selection
	got := map[string]bool{}
	var errs []error
	for _, d := range declared {
		found := false
		for _, src := range sources {
			files, ok, err := resolve(src, d.Name)
			if err != nil {
				errs = append(errs, fmt.Errorf("firmware %s (declared by %s): %w", d.Name, strings.Join(d.Modules, ", "), err))
				found = true
				break
			}
			if !ok {
				continue
			}
			for _, f := range files {
				if !got[f.Name] {
					got[f.Name] = true
					sel.Files = append(sel.Files, f)
				}
			}
			found = true
			break
		}
		if !found {
			sel.Missing = append(sel.Missing, d)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Selection{}, err
	}
	sort.Slice(sel.Files, func(i, j int) bool { return sel.Files[i].Name < sel.Files[j].Name })
	return sel, nil
}

// resolve looks name up in one package: the plain file, a chain of links
// ending in one, or failing both the compressed file. ok is false when the
// package carries none of them.
func resolve(src Source, name string) (files []File, ok bool, err error) {
	if !valid(name) {
		return nil, false, fmt.Errorf("not a relative path under /%s", Dir)
	}
	for _, dir := range packageDirs {
		root := filepath.Join(src.Dir, dir)
		files, ok, err := follow(src.Package, root, name, "")
		if ok || err != nil {
			return files, ok, err
		}
	}
	for _, c := range compressed {
		for _, dir := range packageDirs {
			root := filepath.Join(src.Dir, dir)
			files, ok, err := follow(src.Package, root, name+c.ext, "")
			if err != nil {
				return nil, false, err
			}
			if !ok {
				continue
			}
			// The chain ends in the compressed file: the image gets the
			// declared name holding its decompressed bytes.
			last := files[len(files)-1]
			f, err := os.Open(last.Src)
			if err != nil {
				return nil, false, err
			}
			r, err := c.decode(f)
			var data []byte
			if err == nil {
				data, err = io.ReadAll(r)
			}
			f.Close()
			if err != nil {
				return nil, false, fmt.Errorf("%s: %s%s: %w", src.Package, name, c.ext, err)
			}
			return []File{{Name: name, Package: src.Package, Data: data, Size: int64(len(data))}}, true, nil
		}
	}
	return nil, false, nil
}

// follow resolves name under root, following links inside root; the first
// file is name itself. chain carries the names seen, to refuse loops.
func follow(pkg, root, name, chain string) ([]File, bool, error) {
	p := filepath.Join(root, filepath.FromSlash(name))
	fi, err := os.Lstat(p)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		if chain != "" {
			return nil, false, fmt.Errorf("%s: %s links to %s, which the package does not carry", pkg, chainStart(chain), name)
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	switch {
	case fi.Mode().IsRegular():
		return []File{{Name: name, Package: pkg, Src: p, Size: fi.Size()}}, true, nil
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return nil, false, err
		}
		next := path.Clean(path.Join(path.Dir(name), target))
		if path.IsAbs(target) {
			// An absolute link names the firmware directory itself.
			next = ""
			for _, dir := range packageDirs {
				if rest, ok := strings.CutPrefix(path.Clean(target), "/"+dir+"/"); ok {
					next = rest
				}
			}
		}
		if next == "" || !valid(next) {
			return nil, false, fmt.Errorf("%s: %s links to %s, outside /%s", pkg, name, target, Dir)
		}
		if strings.Count(chain, "\x00") >= maxLinks || slices.Contains(strings.Split(chain, "\x00"), next) {
			return nil, false, fmt.Errorf("%s: %s: too many levels of links", pkg, chainStart(chain+name))
		}
		link := target
		if path.IsAbs(target) {
			// Relative, so that it holds in the image whatever the
			// package's root was.
			if link, err = filepath.Rel(path.Dir("/"+name), "/"+next); err != nil {
				return nil, false, err
			}
		}
		rest, _, err := follow(pkg, root, next, chain+name+"\x00")
		if err != nil {
			return nil, false, err
		}
		return append([]File{{Name: name, Package: pkg, Link: link}}, rest...), true, nil
	}
	return nil, false, fmt.Errorf("%s: %s is a %s, not a file", pkg, name, fi.Mode().Type())
}

func chainStart(chain string) string {
	first, _, _ := strings.Cut(chain, "\x00")
	return first
}

// valid reports whether name is a clean relative path that stays under
// the firmware directory.
func valid(name string) bool {
	return name != "" && !path.IsAbs(name) && path.Clean(name) == name && name != "." && name != ".." &&
		!strings.HasPrefix(name, "../") && !strings.ContainsRune(name, 0)
}
