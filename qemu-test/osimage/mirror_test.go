package osimage

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindMirror(t *testing.T) {
	for _, tc := range []struct {
		dir     string
		want    Source
		wantErr error
	}{
		// Debian 12's deb822 file; the disabled nodesource repository
		// (suite nodistro) and the security suite are not candidates.
		{dir: "apt-deb822", want: Source{URI: "http://mirror.example.net/debian", File: "sources.list.d/debian.sources", Line: 3}},
		// The netinst one-line layout: the first "deb" line for the
		// suite, not its deb-src twin nor the cdrom comment.
		{dir: "apt-oneline", want: Source{URI: "http://mirror.example.net/debian/", File: "sources.list", Line: 3}},
		// An Ubuntu host has no bookworm archive: a clear error.
		{dir: "apt-ubuntu", wantErr: ErrNoMirror},
		{dir: "does-not-exist", wantErr: ErrNoMirror},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", tc.dir)
			got, err := FindMirror(dir, "bookworm")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("FindMirror(%q) error = %v, want %v", dir, err, tc.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "bookworm") || !strings.Contains(err.Error(), dir) {
					t.Errorf("FindMirror(%q) error %q does not name the suite and the directory", dir, err)
				}
				return
			}
			if got.File != "" {
				got.File, _ = filepath.Rel(dir, got.File)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("FindMirror(%q) (-want +got):\n%s", dir, diff)
			}
		})
	}
}

func TestParseDeb822(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"plain", "Types: deb\nURIs: http://a/debian\nSuites: bookworm\nComponents: main\n", []string{"http://a/debian"}},
		{"deb-src only", "Types: deb-src\nURIs: http://a/debian\nSuites: bookworm\n", nil},
		{"both types", "Types: deb deb-src\nURIs: http://a/debian\nSuites: bookworm\n", []string{"http://a/debian"}},
		{"disabled", "Enabled: no\nTypes: deb\nURIs: http://a/debian\nSuites: bookworm\n", nil},
		{"other suite only", "Types: deb\nURIs: http://a/debian\nSuites: bookworm-security bookworm-updates\n", nil},
		{"two uris", "Types: deb\nURIs: http://a/debian https://b/debian\nSuites: trixie bookworm\n", []string{"http://a/debian", "https://b/debian"}},
		{"cdrom skipped", "Types: deb\nURIs: cdrom:[Debian]/ http://a/debian\nSuites: bookworm\n", []string{"http://a/debian"}},
		{"case of field names", "types: deb\nuris: file:/srv/mirror\nsuites: bookworm\n", []string{"file:/srv/mirror"}},
		{"second stanza", "Types: deb\nURIs: http://x/ubuntu\nSuites: noble\n\n\nTypes: deb\n# comment\nURIs: http://a/debian\nSuites: bookworm\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF\n", []string{"http://a/debian"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range ParseDeb822([]byte(tc.in), "bookworm") {
				got = append(got, s.URI)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseDeb822(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseOneLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"plain", "deb http://a/debian bookworm main\n", []string{"http://a/debian"}},
		{"deb-src", "deb-src http://a/debian bookworm main\n", nil},
		{"commented", "# deb http://a/debian bookworm main\n", nil},
		{"options", "deb [arch=amd64 signed-by=/k.gpg] http://a/debian bookworm main\n", []string{"http://a/debian"}},
		{"single option", "deb [trusted=yes] file:/srv/m bookworm main\n", []string{"file:/srv/m"}},
		{"other suite", "deb http://a/debian bookworm-updates main\n", nil},
		{"unclosed options", "deb [arch=amd64 http://a/debian bookworm\n", nil},
		{"trailing comment", "deb http://a/debian bookworm main # the mirror\n", []string{"http://a/debian"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, s := range ParseOneLine([]byte(tc.in), "bookworm") {
				got = append(got, s.URI)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseOneLine(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// The parsers read whatever the machine's apt configuration holds: they
// must not panic and must only return URIs debootstrap can fetch from.
func FuzzParseSources(f *testing.F) {
	for _, s := range []string{
		"Types: deb\nURIs: http://a/debian\nSuites: bookworm\n",
		"deb [arch=amd64] http://a/debian bookworm main\n",
		"deb [ http://a bookworm\n",
		" continuation\nURIs:\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, s := range append(ParseDeb822([]byte(in), "bookworm"), ParseOneLine([]byte(in), "bookworm")...) {
			if !usable(s.URI) || strings.ContainsAny(s.URI, " \t\n") {
				t.Errorf("parsers returned URI %q from %q", s.URI, in)
			}
			if s.Line < 1 {
				t.Errorf("parsers returned line %d for %q", s.Line, in)
			}
		}
	})
}
