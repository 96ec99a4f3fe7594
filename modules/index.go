package modules

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Module is one kernel module: a file under lib/modules/KVER, or a module
// built into the kernel image (Builtin, no Path).
type Module struct {
	// Name is the kernel's name for the module ('_' never '-').
	Name string `json:"name"`
	// Path is relative to the index root (lib/modules/KVER), as it appears in
	// modules.dep, with the compression suffix of the file.
	Path        string      `json:"path,omitempty"`
	Compression Compression `json:"-"`
	// Size is the file's size in bytes (compressed size for compressed files).
	Size    int64 `json:"size,omitempty"`
	Builtin bool  `json:"builtin,omitempty"`
	Info    Info  `json:"info"`
	// Requires are the direct dependencies: the modules owning the symbols
	// this one needs, found from the symbol tables as depmod does (not from
	// modinfo depends=, which Info.Depends keeps for comparison).
	Requires []string `json:"requires,omitempty"`
	// Deps are all dependencies in modules.dep order: a module is listed
	// before the modules it needs itself, so they load from last to first.
	Deps []string `json:"deps,omitempty"`

	order int // position in Index.Modules
}

// Softdeps splits the module's softdep values ("pre: a b post: c") into the
// modules to load before and after it. Words before any "pre:"/"post:" are
// ignored, as kmod's config parser does (cifs has such a malformed entry).
func (m *Module) Softdeps() (pre, post []string) {
	return parseSoftdeps(m.Info.Softdep)
}

func parseSoftdeps(values []string) (pre, post []string) {
	for _, v := range values {
		mode := 0
		for w := range strings.FieldsSeq(v) {
			switch {
			case w == "pre:":
				mode = 1
			case w == "post:":
				mode = 2
			case mode == 1:
				pre = append(pre, w)
			case mode == 2:
				post = append(post, w)
			}
		}
	}
	return pre, post
}

// Index is the set of modules of one kernel.
type Index struct {
	// Root is the lib/modules/KVER directory the module paths are relative to.
	Root string
	// Modules are the loadable modules in modules.dep order: modules.order
	// first (the kernel's link order), then the others by path.
	Modules []*Module
	// Builtin are the modules built into the kernel, in modules.builtin order.
	Builtin []*Module

	byName  map[string]*Module
	builtin map[string]*Module
	aliases *Matcher
}

// Module returns the loadable module of that name (either spelling).
func (ix *Index) Module(name string) (*Module, bool) {
	m, ok := ix.byName[Normalize(name)]
	return m, ok
}

// IsBuiltin reports whether a module of that name is built into the kernel.
func (ix *Index) IsBuiltin(name string) bool {
	_, ok := ix.builtin[Normalize(name)]
	return ok
}

// Aliases returns the alias matcher over the modules' and builtins' aliases.
func (ix *Index) Aliases() *Matcher { return ix.aliases }

// Lookup resolves a module name or alias the way kmod's
// kmod_module_new_from_lookup does: a loadable module of that name, else the
// modules whose aliases match, else builtins whose aliases match, else a
// builtin of that name. byAlias tells whether the result came from aliases
// (the blacklist applies only then).
func (ix *Index) Lookup(s string) (mods []*Module, byAlias bool) {
	if m, ok := ix.byName[Normalize(s)]; ok {
		return []*Module{m}, false
	}
	if ms := ix.aliases.Match(s); len(ms) > 0 {
		var loadable, builtin []*Module
		for _, m := range ms {
			if m.Builtin {
				builtin = append(builtin, m)
			} else {
				loadable = append(loadable, m)
			}
		}
		if len(loadable) > 0 {
			return loadable, true
		}
		return builtin, true
	}
	if m, ok := ix.builtin[Normalize(s)]; ok {
		return []*Module{m}, false
	}
	return nil, false
}

// BuildOptions tune Build.
type BuildOptions struct {
	// Workers parse module files in parallel; 0 means GOMAXPROCS.
	Workers int
}

// candidate is a module file found while scanning.
type candidate struct {
	name string
	rel  string
	c    Compression
	prio int // lower wins: 0 updates/, 1 everything else
}

// Build scans root (a lib/modules/KVER directory) for module files, parses
// each one's .modinfo and symbol tables, resolves dependencies from the
// symbols as depmod does, and reads modules.order, modules.builtin and
// modules.builtin.modinfo where present.
//
// Search order is depmod's default without a depmod.d "search" line:
// updates/ wins over every other directory (kernel/, extra/, …) for a module
// of the same name; between two other directories the first in lexical walk
// order wins (depmod takes readdir order there, which is not stable).
func Build(root string, opts BuildOptions) (*Index, error) {
	cands := map[string]candidate{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			// depmod skips build/ and source/ (symlinks to the kernel tree).
			if p != root && (d.Name() == "build" || d.Name() == "source" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		name, c, ok := splitModulePath(rel)
		if !ok {
			return nil
		}
		prio := 1
		if strings.HasPrefix(rel, "updates/") {
			prio = 0
		}
		if old, seen := cands[name]; seen && old.prio <= prio {
			return nil
		}
		cands[name] = candidate{name: name, rel: rel, c: c, prio: prio}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	order, err := readLines(filepath.Join(root, "modules.order"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	mods := sortByOrder(cands, order)

	objs, err := parseAll(root, mods, opts.Workers)
	if err != nil {
		return nil, err
	}
	ix := &Index{Root: root, Modules: mods}
	for i, m := range mods {
		m.Info = objs[i].info
	}
	if err := ix.resolveSymbols(objs); err != nil {
		return nil, err
	}
	if err := ix.readBuiltin(); err != nil {
		return nil, err
	}
	ix.finish()
	return ix, nil
}

// sortByOrder returns the modules in depmod's order: those listed in
// modules.order (matched by their path without the compression suffix) in
// that order, then the rest sorted by path.
func sortByOrder(cands map[string]candidate, order []string) []*Module {
	pos := make(map[string]int, len(order))
	for i, l := range order {
		if _, dup := pos[l]; !dup {
			pos[l] = i
		}
	}
	mods := make([]*Module, 0, len(cands))
	for _, c := range cands {
		mods = append(mods, &Module{Name: c.name, Path: c.rel, Compression: c.c})
	}
	key := func(m *Module) (int, string) {
		unc := m.Path[:strings.LastIndex(m.Path, ".ko")+3]
		if i, ok := pos[unc]; ok {
			return i, ""
		}
		return len(order), m.Path
	}
	sort.Slice(mods, func(i, j int) bool {
		oi, pi := key(mods[i])
		oj, pj := key(mods[j])
		if oi != oj {
			return oi < oj
		}
		return pi < pj
	})
	for i, m := range mods {
		m.order = i
	}
	return mods
}

// parseAll parses every module file with a pool of workers; the work is
// mostly page-cache reads and ELF section decoding, so one worker per CPU.
func parseAll(root string, mods []*Module, workers int) ([]object, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	objs := make([]object, len(mods))
	errs := make([]error, len(mods))
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				objs[i], mods[i].Size, errs[i] = parseFile(filepath.Join(root, mods[i].Path), mods[i].Compression)
			}
		})
	}
	for i := range mods {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return objs, nil
}

// parseFile parses one module file. Uncompressed files are read through
// ReaderAt, so only the section headers, .modinfo and the symbol tables are
// read, not the code.
func parseFile(path string, c Compression) (object, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return object{}, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return object{}, 0, err
	}
	var o object
	if c == None {
		o, err = parseELF(f)
	} else {
		var img []byte
		if img, err = decompress(f, c); err == nil {
			o, err = parseELF(bytes.NewReader(img))
		}
	}
	if err != nil {
		return object{}, 0, fmt.Errorf("module %s: %w", path, err)
	}
	return o, st.Size(), nil
}

func parseELF(r interface {
	ReadAt([]byte, int64) (int, error)
}) (object, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return object{}, fmt.Errorf("elf: %w", err)
	}
	return objectFromELF(f)
}

// resolveSymbols computes each module's direct dependencies from exported
// and undefined symbols, then the full dependency lists in depmod's order.
func (ix *Index) resolveSymbols(objs []object) error {
	// Later modules (in modules.order) win a symbol exported twice, as
	// depmod's hash_add replaces the owner.
	owner := map[string]int{}
	for i, o := range objs {
		for _, s := range o.exports {
			owner[s] = i
		}
	}
	deps := make([][]int, len(objs))
	for i, o := range objs {
		seen := map[int]bool{}
		for _, s := range o.undefined {
			j, ok := owner[s]
			if !ok || j == i || seen[j] {
				continue
			}
			seen[j] = true
			deps[i] = append(deps[i], j)
		}
	}
	return ix.setDeps(deps)
}

// setDeps stores direct dependencies (indexes into ix.Modules, in the order
// depmod found them) and computes the full sorted lists like depmod's
// depmod_calculate_dependencies: a topological sort that outputs modules
// without users first, using a stack of roots seeded in module order.
func (ix *Index) setDeps(deps [][]int) error {
	n := len(ix.Modules)
	users := make([]int, n)
	for _, ds := range deps {
		for _, d := range ds {
			users[d]++
		}
	}
	var roots []int
	for i := range n {
		if users[i] == 0 {
			roots = append(roots, i)
		}
	}
	sortIdx := make([]int, n)
	sorted := 0
	for len(roots) > 0 {
		src := roots[len(roots)-1]
		roots = roots[:len(roots)-1]
		sortIdx[src] = sorted
		sorted++
		for _, d := range deps[src] {
			users[d]--
			if users[d] == 0 {
				roots = append(roots, d)
			}
		}
	}
	if sorted < n {
		var cyc []string
		for i := range n {
			if users[i] > 0 {
				cyc = append(cyc, ix.Modules[i].Name)
			}
		}
		return fmt.Errorf("dependency cycle among modules %s", strings.Join(cyc, " "))
	}
	for i, m := range ix.Modules {
		m.Requires = nil
		for _, d := range deps[i] {
			m.Requires = append(m.Requires, ix.Modules[d].Name)
		}
		all := map[int]bool{}
		var fill func(int)
		fill = func(k int) {
			for _, d := range deps[k] {
				if !all[d] {
					all[d] = true
					fill(d)
				}
			}
		}
		fill(i)
		list := make([]int, 0, len(all))
		for d := range all {
			list = append(list, d)
		}
		slices.SortFunc(list, func(a, b int) int { return sortIdx[a] - sortIdx[b] })
		m.Deps = nil
		for _, d := range list {
			m.Deps = append(m.Deps, ix.Modules[d].Name)
		}
	}
	return nil
}

// readBuiltin reads modules.builtin (one path per builtin module) and
// modules.builtin.modinfo (NUL separated "name.key=value", the builtins'
// .modinfo, whose aliases count for matching).
func (ix *Index) readBuiltin() error {
	lines, err := readLines(filepath.Join(ix.Root, "modules.builtin"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	ix.builtin = map[string]*Module{}
	for _, l := range lines {
		name, _, ok := splitModulePath(l)
		if !ok {
			continue
		}
		ix.addBuiltin(name, l)
	}
	data, err := os.ReadFile(filepath.Join(ix.Root, "modules.builtin.modinfo"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for kv := range bytes.SplitSeq(data, []byte{0}) {
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if !ok {
			continue
		}
		name, key, ok := bytes.Cut(k, []byte{'.'})
		if !ok {
			continue
		}
		m := ix.builtin[Normalize(string(name))]
		if m == nil {
			// Builtin modinfo exists for objects that are not in
			// modules.builtin (e.g. parameters of core code); keep them
			// as builtins so their aliases resolve to "present".
			m = ix.addBuiltin(Normalize(string(name)), "")
		}
		m.Info.add(string(key), string(v))
	}
	return nil
}

func (ix *Index) addBuiltin(name, path string) *Module {
	if m, ok := ix.builtin[name]; ok {
		return m
	}
	m := &Module{Name: name, Path: path, Builtin: true, order: len(ix.Builtin)}
	ix.Builtin = append(ix.Builtin, m)
	ix.builtin[name] = m
	return m
}

// finish builds the name map and the alias matcher.
func (ix *Index) finish() {
	ix.byName = make(map[string]*Module, len(ix.Modules))
	for _, m := range ix.Modules {
		ix.byName[m.Name] = m
	}
	if ix.builtin == nil {
		ix.builtin = map[string]*Module{}
	}
	var entries []AliasEntry
	for _, m := range ix.Modules {
		for _, a := range m.Info.Alias {
			entries = append(entries, AliasEntry{Pattern: a, Module: m})
		}
	}
	for _, m := range ix.Builtin {
		for _, a := range m.Info.Alias {
			entries = append(entries, AliasEntry{Pattern: a, Module: m})
		}
	}
	ix.aliases = NewMatcher(entries)
}

// readLines returns the non-empty lines of a file.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return lines, nil
}
