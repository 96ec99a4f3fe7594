// Package modules holds needle's kernel-module machinery: an index built from
// the .ko files themselves (ELF .modinfo and symbol tables, as depmod reads
// them), writers for kmod's text indexes (modules.dep, modules.alias,
// modules.softdep, modules.builtin), alias matching with kmod's fnmatch
// semantics, a resolver that turns a wanted name or alias into an ordered load
// list (depends, softdeps, blacklist, options), a loader using finit_module /
// init_module with diagnoses of the kernel's refusals, and coldplug of every
// device that carries a modalias.
//
// References: kmod's tools/depmod.c and libkmod (the formats and the ordering
// reproduced here), the kernel's include/linux/module.h (MODULE_INFO, the
// .modinfo section) and kernel/module/main.c (load errors).
//
// It is public on purpose: a depmod-compatible index, resolver and
// loader in Go, with no cgo, is useful to other ramdisks and tools.
package modules

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Info is the content of a module's .modinfo section (MODULE_INFO key=value
// strings), with the keys needle uses split out. Repeated keys keep the
// order of the section, which is the order depmod writes them.
type Info struct {
	Name       string   `json:"name,omitempty"`
	Vermagic   string   `json:"vermagic,omitempty"`
	Version    string   `json:"version,omitempty"`
	Srcversion string   `json:"srcversion,omitempty"`
	License    string   `json:"license,omitempty"`
	Alias      []string `json:"alias,omitempty"`
	Depends    []string `json:"depends,omitempty"`
	Softdep    []string `json:"softdep,omitempty"`
	Firmware   []string `json:"firmware,omitempty"`
	Parm       []string `json:"parm,omitempty"`
}

// add records one key=value pair.
func (in *Info) add(key, value string) {
	switch key {
	case "name":
		in.Name = value
	case "vermagic":
		in.Vermagic = value
	case "version":
		in.Version = value
	case "srcversion":
		in.Srcversion = value
	case "license":
		in.License = value
	case "alias":
		in.Alias = append(in.Alias, value)
	case "depends":
		// depends= is one comma separated value, empty for no dependency.
		for d := range strings.SplitSeq(value, ",") {
			if d != "" {
				in.Depends = append(in.Depends, d)
			}
		}
	case "softdep":
		in.Softdep = append(in.Softdep, value)
	case "firmware":
		in.Firmware = append(in.Firmware, value)
	case "parm":
		in.Parm = append(in.Parm, value)
	}
}

// ParseModinfo parses the raw .modinfo section: NUL separated key=value
// strings, possibly with NUL padding between them.
func ParseModinfo(section []byte) Info {
	var in Info
	for kv := range bytes.SplitSeq(section, []byte{0}) {
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if !ok || len(k) == 0 {
			continue
		}
		in.add(string(k), string(v))
	}
	return in
}

// object is what the index needs from one module's ELF file.
type object struct {
	info Info
	// exports are the symbols the module exports (EXPORT_SYMBOL*).
	exports []string
	// undefined are the symbols the module needs, in .symtab order: depmod
	// adds dependencies in this order, and the order shows in modules.dep.
	undefined []string
}

// objectFromELF reads the sections the index needs from a module's ELF.
func objectFromELF(f *elf.File) (object, error) {
	var o object
	if s := f.Section(".modinfo"); s != nil {
		data, err := s.Data()
		if err != nil {
			return object{}, fmt.Errorf("section .modinfo: %w", err)
		}
		o.info = ParseModinfo(data)
	}
	if err := scanSymbols(f, &o); err != nil {
		return object{}, err
	}
	if len(o.exports) == 0 {
		if s := f.Section("__ksymtab_strings"); s != nil {
			data, err := s.Data()
			if err != nil {
				return object{}, fmt.Errorf("section __ksymtab_strings: %w", err)
			}
			for name := range bytes.SplitSeq(data, []byte{0}) {
				if len(name) > 0 {
					o.exports = append(o.exports, string(name))
				}
			}
		}
	}
	return o, nil
}

// scanSymbols walks .symtab for the exported (__crc_NAME, as kmod's
// kmod_elf_get_symbols) and undefined symbols. It reads the raw table
// instead of debug/elf's Symbols, which would allocate a string for each of
// the thousands of local symbols of every module.
func scanSymbols(f *elf.File, o *object) error {
	symtab := f.Section(".symtab")
	if symtab == nil {
		return nil
	}
	syms, err := symtab.Data()
	if err != nil {
		return fmt.Errorf("section .symtab: %w", err)
	}
	if symtab.Link == 0 || int(symtab.Link) >= len(f.Sections) {
		return fmt.Errorf("section .symtab: bad string table link %d", symtab.Link)
	}
	strs, err := f.Sections[symtab.Link].Data()
	if err != nil {
		return fmt.Errorf("section .strtab: %w", err)
	}
	size, nameOff, shndxOff := 24, 0, 6 // Elf64_Sym
	if f.Class == elf.ELFCLASS32 {
		size, nameOff, shndxOff = 16, 0, 14 // Elf32_Sym
	}
	bo := f.ByteOrder
	// Entry 0 is the reserved null symbol.
	for off := size; off+size <= len(syms); off += size {
		e := syms[off : off+size]
		name := bo.Uint32(e[nameOff:])
		if int(name) >= len(strs) {
			return fmt.Errorf("section .symtab: symbol name offset %d beyond .strtab (%d bytes)", name, len(strs))
		}
		raw := strs[name:]
		if end := bytes.IndexByte(raw, 0); end >= 0 {
			raw = raw[:end]
		}
		if len(raw) == 0 {
			continue
		}
		if rest, ok := bytes.CutPrefix(raw, []byte("__crc_")); ok {
			o.exports = append(o.exports, string(rest))
		}
		if elf.SectionIndex(bo.Uint16(e[shndxOff:])) == elf.SHN_UNDEF {
			o.undefined = append(o.undefined, string(raw))
		}
	}
	return nil
}

// Compression of a module file, from its name as depmod and modprobe see it.
type Compression int

// Module file compressions the kernel's Kbuild can produce
// (CONFIG_MODULE_COMPRESS_{GZIP,XZ,ZSTD}).
const (
	None Compression = iota
	Gzip
	XZ
	Zstd
)

func (c Compression) String() string {
	return [...]string{"none", "gzip", "xz", "zstd"}[c]
}

// moduleExts are the suffixes a module file may have, longest first.
var moduleExts = [...]struct {
	ext string
	c   Compression
}{{".ko.zst", Zstd}, {".ko.xz", XZ}, {".ko.gz", Gzip}, {".ko", None}}

// splitModulePath returns the module name of a file (basename without the
// extension, '-' turned into '_' as the kernel does) and its compression;
// ok is false for a file that is not a module.
func splitModulePath(path string) (name string, c Compression, ok bool) {
	base := path[strings.LastIndexByte(path, '/')+1:]
	for _, e := range moduleExts {
		if stem, found := strings.CutSuffix(base, e.ext); found && stem != "" {
			return Normalize(stem), e.c, true
		}
	}
	return "", None, false
}

// Normalize turns a module name into the kernel's spelling ('-' → '_').
func Normalize(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

// ReadImage returns the uncompressed bytes of a module file; compressed
// modules are decompressed in userspace, so the kernel need not support
// module decompression (CONFIG_MODULE_DECOMPRESS is off in many kernels).
func ReadImage(path string) ([]byte, error) {
	_, c, ok := splitModulePath(path)
	if !ok {
		return nil, fmt.Errorf("%s: not a kernel module file name", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := decompress(f, c)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", path, c, err)
	}
	return b, nil
}

func decompress(r io.Reader, c Compression) ([]byte, error) {
	switch c {
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return io.ReadAll(zr)
	case XZ:
		zr, err := xz.NewReader(r)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		return io.ReadAll(zr)
	default:
		return io.ReadAll(r)
	}
}

// InfoOf returns the .modinfo of a module file's bytes (an uncompressed
// ELF .ko), empty when it has none.
func InfoOf(ko []byte) (Info, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return Info{}, fmt.Errorf("elf: %w", err)
	}
	s := f.Section(".modinfo")
	if s == nil {
		return Info{}, nil
	}
	data, err := s.Data()
	if err != nil {
		return Info{}, fmt.Errorf("section .modinfo: %w", err)
	}
	return ParseModinfo(data), nil
}
