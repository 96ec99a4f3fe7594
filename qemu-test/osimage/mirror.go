package osimage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Source is one Debian archive entry of the apt configuration that serves
// a given suite.
type Source struct {
	URI  string
	File string // where it was found
	Line int    // the line of the URI (deb822: of the URIs field)
}

// ErrNoMirror: the apt configuration has no entry for the suite.
var ErrNoMirror = errors.New("no apt source for the suite")

// FindMirror returns the archive that serves suite in the apt
// configuration under aptDir (normally /etc/apt): the deb822 files
// sources.list.d/*.sources first (Debian 12's default), then the one-line
// sources.list and sources.list.d/*.list. The mirror is the machine's
// choice, read at run time, so no host name is written into the repo.
// See sources.list(5) for both formats.
func FindMirror(aptDir, suite string) (Source, error) {
	var files []string
	deb822, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*.sources"))
	sort.Strings(deb822)
	files = append(files, deb822...)
	files = append(files, filepath.Join(aptDir, "sources.list"))
	oneLine, _ := filepath.Glob(filepath.Join(aptDir, "sources.list.d", "*.list"))
	sort.Strings(oneLine)
	files = append(files, oneLine...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Source{}, fmt.Errorf("apt sources %s: %w", f, err)
		}
		var found []Source
		if strings.HasSuffix(f, ".sources") {
			found = ParseDeb822(data, suite)
		} else {
			found = ParseOneLine(data, suite)
		}
		if len(found) > 0 {
			found[0].File = f
			return found[0], nil
		}
	}
	return Source{}, fmt.Errorf("apt sources under %s: %w %q (want a \"deb\" entry with suite %s; or set NEEDLE_DEBIAN_MIRROR)", aptDir, ErrNoMirror, suite, suite)
}

// usable keeps the schemes debootstrap fetches from.
func usable(uri string) bool {
	for _, p := range []string{"http://", "https://", "file:/"} {
		if strings.HasPrefix(uri, p) {
			return true
		}
	}
	return false
}

// ParseDeb822 returns the URIs of the enabled "deb" stanzas of a deb822
// .sources file whose Suites include suite exactly (bookworm-security is a
// different suite).
func ParseDeb822(data []byte, suite string) []Source {
	var out []Source
	fields := map[string]string{}
	uriLine := 0
	flush := func() {
		defer func() { fields = map[string]string{}; uriLine = 0 }()
		if !slices.Contains(strings.Fields(fields["types"]), "deb") {
			return
		}
		if strings.EqualFold(strings.TrimSpace(fields["enabled"]), "no") {
			return
		}
		if !slices.Contains(strings.Fields(fields["suites"]), suite) {
			return
		}
		for _, u := range strings.Fields(fields["uris"]) {
			if usable(u) {
				out = append(out, Source{URI: u, Line: uriLine})
			}
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	last := ""
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
			last = ""
		case strings.HasPrefix(line, "#"):
			// A comment line inside a stanza does not end it.
		case line[0] == ' ' || line[0] == '\t':
			// Continuation of a multi-line field (Signed-By keys).
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
			if last == "uris" {
				uriLine = n
			}
		}
	}
	flush()
	return out
}

// ParseOneLine returns the URIs of the "deb" lines of a one-line
// sources.list whose suite is suite:
//
//	deb [ option=value ... ] uri suite [component ...]
func ParseOneLine(data []byte, suite string) []Source {
	var out []Source
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		if strings.HasPrefix(f[0], "[") {
			// Options may contain spaces: skip to the word ending in "]".
			i := 0
			for i < len(f) && !strings.HasSuffix(f[i], "]") {
				i++
			}
			f = f[min(i+1, len(f)):]
		}
		if len(f) < 2 || f[1] != suite || !usable(f[0]) {
			continue
		}
		out = append(out, Source{URI: f[0], Line: n})
	}
	return out
}
