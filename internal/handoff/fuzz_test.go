package handoff

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzGrub runs arbitrary grub.cfg text through the parser, the
// interpreter, default selection and the chosen entry: none may panic or
// hang, and an entry that boots must name a kernel.
func FuzzGrub(f *testing.F) {
	for _, p := range []string{
		"testdata/debian12/root/boot/grub/grub.cfg",
		"testdata/ubuntu2204/root/boot/grub/grub.cfg",
		"testdata/fedora39/boot/grub2/grub.cfg",
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), "0")
	}
	f.Add("menuentry 'a' { linux /a x; initrd /i }\nsubmenu b { menuentry c { linux /c } }", "1>0")
	f.Add("function f { f }\nf", "")
	f.Add("set a=\"${b}\" x\\\ny '$c' \"\\$\"", "a>b")
	f.Fuzz(func(t *testing.T, cfg, dflt string) {
		script, err := parseGrub(cfg)
		if err != nil {
			return
		}
		menu, in, err := evalGrub(script, map[string]string{"saved_entry": dflt}, "/boot/grub", func(string) bool { return true })
		if err != nil {
			return
		}
		for _, d := range []string{menu.dflt, dflt} {
			e, _ := pick(menu.entries, d)
			if e == nil {
				continue
			}
			if e.submenu {
				t.Fatalf("pick(%q) returned a submenu", d)
			}
			if _, err := in.boot(e); err != nil && err != errTooComplex {
				t.Fatalf("boot: unexpected error %v", err)
			}
		}
	})
}

// FuzzBLS parses arbitrary entry files and sorts them: no panics, and the
// order is a proper total order (sorting twice gives the same result).
func FuzzBLS(f *testing.F) {
	matches, _ := filepath.Glob("testdata/fedora39/boot/loader/entries/*.conf")
	for _, p := range matches {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(p), string(b), "6.1.0-18-amd64", "6.1.0-9-amd64")
	}
	f.Add("a+3-1.conf", "title x\nsort-key k\nlinux /v\noptions a\noptions b\n", "1.0~rc1", "1.0^p1")
	f.Fuzz(func(t *testing.T, name, text, va, vb string) {
		e, err := parseBLSEntry(name, []byte(text))
		if err != nil {
			return
		}
		if e.Linux == "" {
			t.Fatalf("entry without linux accepted: %+v", e)
		}
		a, b := e, e
		a.Version, b.Version = va, vb
		a.ID, b.ID = va, vb
		if c1, c2 := compareBLS(a, b), compareBLS(b, a); c1 != -c2 {
			t.Fatalf("compareBLS not antisymmetric for %q, %q: %d, %d", va, vb, c1, c2)
		}
		if c1, c2 := compareVersions(va, vb), compareVersions(vb, va); c1 != -c2 {
			t.Fatalf("compareVersions(%q, %q) = %d but reversed = %d", va, vb, c1, c2)
		}
		_ = expandBLSVars(e.Options, map[string]string{"kernelopts": va})
	})
}

// FuzzGrubenv: arbitrary environment blocks parse or fail, never panic.
func FuzzGrubenv(f *testing.F) {
	b, err := os.ReadFile("testdata/fedora39/boot/grub2/grubenv")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := parseGrubenv(data)
		if err == nil && env == nil {
			t.Fatal("nil environment without an error")
		}
	})
}
