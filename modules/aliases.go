package modules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// AliasesOf returns the aliases of the named modules (either spelling) in
// root, a lib/modules/KVER directory, as AliasEntry values whose Module
// carries only the name. They come from root/modules.alias when depmod or
// `needle build` wrote one, else from each module file's .modinfo (a kernel
// package as Debian ships it has no modules.alias: postinst runs depmod).
// The kernel's own tables are meant, so updates/ (overlays) is skipped.
// Modules the tree lacks are simply absent. from says which source was read.
func AliasesOf(root string, names []string) (entries []AliasEntry, from string, err error) {
	want := map[string]bool{}
	for _, n := range names {
		want[Normalize(n)] = true
	}
	aliasFile := filepath.Join(root, AliasFile)
	lines, err := readLines(aliasFile)
	switch {
	case err == nil:
		entries, err := aliasLines(aliasFile, lines, want)
		return entries, aliasFile, err
	case !errors.Is(err, fs.ErrNotExist):
		return nil, "", err
	}
	entries, err = modinfoAliases(root, want)
	return entries, "the .modinfo of the module files under " + root, err
}

// aliasLines keeps the "alias PATTERN MODULE" lines of the wanted modules
// (all when want is nil), one *Module per name; a line of another shape is
// an error naming file:line.
func aliasLines(file string, lines []string, want map[string]bool) ([]AliasEntry, error) {
	var out []AliasEntry
	mods := map[string]*Module{}
	for n, l := range lines {
		if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != "alias" {
			return nil, fmt.Errorf("%s:%d: not an \"alias PATTERN MODULE\" line: %q", file, n+1, l)
		}
		name := Normalize(f[2])
		if want != nil && !want[name] {
			continue
		}
		if mods[name] == nil {
			mods[name] = &Module{Name: name}
		}
		out = append(out, AliasEntry{Pattern: f[1], Module: mods[name]})
	}
	return out, nil
}

// modinfoAliases reads the aliases from the wanted module files, in the
// order of names (sorted) so the result does not depend on the walk.
func modinfoAliases(root string, want map[string]bool) ([]AliasEntry, error) {
	paths := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && (d.Name() == "build" || d.Name() == "source" || d.Name() == "updates" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if name, _, ok := splitModulePath(p); ok && want[name] {
			paths[name] = p
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	var names []string
	for n := range paths {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []AliasEntry
	for _, n := range names {
		b, err := ReadImage(paths[n])
		if err != nil {
			return nil, err
		}
		info, err := InfoOf(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", paths[n], err)
		}
		m := &Module{Name: n}
		for _, a := range info.Alias {
			out = append(out, AliasEntry{Pattern: a, Module: m})
		}
	}
	return out, nil
}

// LoadAliases returns the alias matcher of the tree in root (a
// lib/modules/KVER directory): from modules.alias when present (an image,
// or a host after depmod), else by indexing every module file (seconds).
func LoadAliases(root string) (*Matcher, string, error) {
	aliasFile := filepath.Join(root, AliasFile)
	lines, err := readLines(aliasFile)
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(root); err != nil {
			return nil, "", err
		}
		ix, err := Build(root, BuildOptions{})
		if err != nil {
			return nil, "", err
		}
		return ix.Aliases(), "the module files under " + root, nil
	}
	if err != nil {
		return nil, "", err
	}
	entries, err := aliasLines(aliasFile, lines, nil)
	if err != nil {
		return nil, "", err
	}
	return NewMatcher(entries), aliasFile, nil
}
