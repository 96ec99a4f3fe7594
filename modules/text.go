package modules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The kmod text indexes, as kmod 30's depmod writes them (tools/depmod.c:
// output_deps, output_aliases, output_softdeps). modules.builtin is the
// kernel build's own file, which depmod only reads; it is written back so
// an image that carries a subset of the tree stays consistent.
const (
	DepFile     = "modules.dep"
	AliasFile   = "modules.alias"
	SoftdepFile = "modules.softdep"
	BuiltinFile = "modules.builtin"
)

// WriteDep writes modules.dep: "path: dep dep…" per module, in module
// order, each dependency list in depmod's topological order.
func (ix *Index) WriteDep(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, m := range ix.Modules {
		bw.WriteString(m.Path)
		bw.WriteByte(':')
		for _, d := range m.Deps {
			bw.WriteByte(' ')
			bw.WriteString(ix.byName[d].Path)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteAlias writes modules.alias: every alias of every loadable module,
// in module order then .modinfo order, unnormalized.
func (ix *Index) WriteAlias(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("# Aliases extracted from modules themselves.\n")
	for _, m := range ix.Modules {
		for _, a := range m.Info.Alias {
			fmt.Fprintf(bw, "alias %s %s\n", a, m.Name)
		}
	}
	return bw.Flush()
}

// WriteSoftdep writes modules.softdep: each softdep value verbatim.
func (ix *Index) WriteSoftdep(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("# Soft dependencies extracted from modules themselves.\n")
	for _, m := range ix.Modules {
		for _, s := range m.Info.Softdep {
			fmt.Fprintf(bw, "softdep %s %s\n", m.Name, s)
		}
	}
	return bw.Flush()
}

// WriteBuiltin writes modules.builtin: the builtin modules' paths.
func (ix *Index) WriteBuiltin(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, m := range ix.Builtin {
		if m.Path != "" {
			bw.WriteString(m.Path)
			bw.WriteByte('\n')
		}
	}
	return bw.Flush()
}

// WriteFiles writes the four text indexes into dir.
func (ix *Index) WriteFiles(dir string) error {
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{DepFile, ix.WriteDep},
		{AliasFile, ix.WriteAlias},
		{SoftdepFile, ix.WriteSoftdep},
		{BuiltinFile, ix.WriteBuiltin},
	} {
		var b bytes.Buffer
		if err := f.write(&b); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Load reads an index from the text files in root (a lib/modules/KVER
// directory): modules.dep, modules.alias, modules.softdep, modules.builtin
// and, if present, modules.builtin.modinfo. This is how the ramdisk reads
// the index the image builder wrote, without parsing every .ko at boot.
// Module sizes come from the files where they exist.
func Load(root string) (*Index, error) {
	ix := &Index{Root: root}
	lines, err := readLines(filepath.Join(root, DepFile))
	if err != nil {
		return nil, err
	}
	deps := make([][]string, len(lines))
	byPath := map[string]*Module{}
	for n, l := range lines {
		path, rest, ok := strings.Cut(l, ":")
		name, c, okName := splitModulePath(path)
		if !ok || !okName {
			return nil, fmt.Errorf("%s:%d: not a \"path: deps\" line: %q", filepath.Join(root, DepFile), n+1, l)
		}
		m := &Module{Name: name, Path: path, Compression: c, order: len(ix.Modules)}
		if st, err := os.Stat(filepath.Join(root, path)); err == nil {
			m.Size = st.Size()
		}
		ix.Modules = append(ix.Modules, m)
		byPath[path] = m
		deps[n] = strings.Fields(rest)
	}
	for n, m := range ix.Modules {
		for _, p := range deps[n] {
			d, ok := byPath[p]
			if !ok {
				return nil, fmt.Errorf("%s:%d: dependency %s of %s is not listed", filepath.Join(root, DepFile), n+1, p, m.Name)
			}
			m.Deps = append(m.Deps, d.Name)
		}
	}
	ix.byName = map[string]*Module{}
	for _, m := range ix.Modules {
		ix.byName[m.Name] = m
	}
	if err := ix.readKeyed(AliasFile, "alias", func(m *Module, v string) { m.Info.Alias = append(m.Info.Alias, v) }); err != nil {
		return nil, err
	}
	if err := ix.readKeyed(SoftdepFile, "softdep", func(m *Module, v string) { m.Info.Softdep = append(m.Info.Softdep, v) }); err != nil {
		return nil, err
	}
	if err := ix.readBuiltin(); err != nil {
		return nil, err
	}
	ix.finish()
	return ix, nil
}

// readKeyed reads "alias PATTERN MODULE" / "softdep MODULE VALUE…" lines.
func (ix *Index) readKeyed(file, keyword string, add func(*Module, string)) error {
	path := filepath.Join(ix.Root, file)
	lines, err := readLines(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for n, l := range lines {
		if strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != keyword {
			return fmt.Errorf("%s:%d: not a %q line: %q", path, n+1, keyword, l)
		}
		var name, value string
		if keyword == "alias" {
			name, value = f[2], f[1]
		} else {
			name, value = f[1], strings.Join(f[2:], " ")
		}
		m, ok := ix.byName[Normalize(name)]
		if !ok {
			// An alias of a module the image does not carry: modprobe
			// would fail the same way, so skip it.
			continue
		}
		add(m, value)
	}
	return nil
}
