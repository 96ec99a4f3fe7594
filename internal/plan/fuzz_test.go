package plan

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds the parser mutations of every plan in testdata. Parse must
// not panic; a failure must be an Errors whose entries name the file and a
// line inside it; a success must validate (or fail cleanly) against the QEMU
// inventory and print a report.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	more, _ := filepath.Glob("testdata/errors/*.yaml")
	for _, s := range append(seeds, more...) {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	inv := loadInventory(f, "testdata/qemu-inventory.json")
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse error is %T, want Errors: %v", err, err)
			}
			// YAML breaks lines at \n, \r and, in libyaml, NEL, LS and PS.
			lines := 1
			for _, sep := range []string{"\n", "\r", "\u0085", "\u2028", "\u2029"} {
				lines += bytes.Count(data, []byte(sep))
			}
			for _, e := range es {
				if e.File != "fuzz.yaml" || e.Line < 0 || e.Line > lines+1 {
					t.Fatalf("error %q: file %q line %d outside the %d-line input", e, e.File, e.Line, lines)
				}
			}
			return
		}
		v, err := Validate(p, inv, Options{BootDevices: []string{"sda"}, Tools: []string{"sas2ircu"}})
		if err != nil {
			return
		}
		if err := v.WriteReport(io.Discard); err != nil {
			t.Fatal(err)
		}
	})
}
