package raid

import (
	"errors"
	"os"
	"testing"
)

// fuzzParse seeds with every fixture of the tool's family and checks that
// Parse never panics, that every failure is one of the typed errors, and
// that every success passes Check (members refer to listed disks, states
// are normalised).
func fuzzParse(f *testing.F, tool string, dirs ...string) {
	for _, fx := range fixtures(f) {
		for _, d := range dirs {
			if fx.tool == d {
				data, err := os.ReadFile(fx.path)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(data, "")
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, cmd string) {
		if cmd != "" {
			cmd = Commands(tool)[int(cmd[0])%len(Commands(tool))]
		}
		r, err := Parse(tool, cmd, data)
		if err != nil {
			var pe *ParseError
			var te *ToolError
			if !errors.As(err, &pe) && !errors.As(err, &te) {
				t.Fatalf("Parse error is neither *ParseError nor *ToolError: %T %v", err, err)
			}
			if r != nil {
				t.Fatalf("Parse returned a result with an error")
			}
			return
		}
		if err := Check(r); err != nil {
			t.Fatalf("successful parse fails Check: %v", err)
		}
		if r.Tool != tool || r.Command == "" {
			t.Fatalf("result names tool %q command %q", r.Tool, r.Command)
		}
	})
}

func FuzzIRCU(f *testing.F)    { fuzzParse(f, "sas2ircu", "sas2ircu", "sas3ircu") }
func FuzzStorcli(f *testing.F) { fuzzParse(f, "storcli", "storcli", "perccli") }
func FuzzArcconf(f *testing.F) { fuzzParse(f, "arcconf", "arcconf") }
func FuzzTwcli(f *testing.F)   { fuzzParse(f, "tw_cli", "tw_cli") }
func FuzzSsacli(f *testing.F)  { fuzzParse(f, "ssacli", "ssacli") }
