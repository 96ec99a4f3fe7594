package raid

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// fixture is one captured tool output under testdata/<tool>/NAME.txt, with
// its provenance in NAME.source and the expected parse in NAME.golden.json.
type fixture struct {
	tool, name, path string
}

func fixtures(t testing.TB) []fixture {
	t.Helper()
	paths, err := filepath.Glob("testdata/*/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no fixtures under testdata/*/*.txt")
	}
	sort.Strings(paths)
	var out []fixture
	for _, p := range paths {
		out = append(out, fixture{
			tool: filepath.Base(filepath.Dir(p)),
			name: strings.TrimSuffix(filepath.Base(p), ".txt"),
			path: p,
		})
	}
	return out
}

// golden is what a golden file holds: the result, or the error text.
type golden struct {
	Result *Result `json:"result,omitempty"`
	Error  string  `json:"error,omitempty"`
}

func TestParseGolden(t *testing.T) {
	for _, f := range fixtures(t) {
		t.Run(f.tool+"/"+f.name, func(t *testing.T) {
			if _, err := os.Stat(strings.TrimSuffix(f.path, ".txt") + ".source"); err != nil {
				t.Errorf("fixture has no .source provenance file: %v", err)
			}
			data, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			var got golden
			r, err := Parse(f.tool, "", data)
			if err != nil {
				got.Error = err.Error()
			} else {
				got.Result = r
			}
			gotJSON, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			gotJSON = append(gotJSON, '\n')
			gpath := strings.TrimSuffix(f.path, ".txt") + ".golden.json"
			if *update {
				if err := os.WriteFile(gpath, gotJSON, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(gpath)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(gotJSON)); diff != "" {
				t.Errorf("Parse(%q, \"\", %s) mismatch with %s (-want +got):\n%s", f.tool, f.path, gpath, diff)
			}
		})
	}
}

// TestParseOutcome pins, per fixture, the detected command or the kind of
// error, independently of the golden files: a wrong -update cannot turn a
// refused output into an accepted one unnoticed.
func TestParseOutcome(t *testing.T) {
	type want struct {
		command string
		err     error // sentinel for errors.Is, or errToolAny
	}
	errToolAny := errors.New("any tool error")
	tests := map[string]want{
		"sas2ircu/checkraid-list-no-controller-mptlib2-error1":     {err: ErrNoController},
		"sas2ircu/checkraid-pr71-display-novolumes":                {command: "display"},
		"sas2ircu/checkraid-pr71-status-novolumes":                 {err: ErrNoVolumes},
		"sas2ircu/checkraid-test1-display-raid1-optimal":           {command: "display"},
		"sas2ircu/checkraid-test1-list-dell":                       {command: "list"},
		"sas2ircu/checkraid-test1-status-optimal":                  {command: "status"},
		"sas2ircu/datadog-display-raid1e-8ssd":                     {command: "display"},
		"sas3ircu/kbz215691-sas3008-display-it-expander-EXCERPT":   {command: "display"},
		"sas3ircu/megatui-9300-8i-display-it-mode-avl":             {command: "display"},
		"storcli/lsiapi-c0-eall-sall-show-all-J":                   {command: "drive-show"},
		"storcli/lsiapi-c0-eall-show-J":                            {command: "enclosure-show"},
		"storcli/lsiapi-c0-show-health-J-failure":                  {err: errToolAny},
		"storcli/lsiapi-c1-sall-show-all-J-noenclosure":            {command: "drive-show"},
		"storcli/lsiapi-call-show-all-J-nytro":                     {command: "ctrl-show"},
		"storcli/pystorcli2-add-vd-r1-J":                           {command: "action"},
		"storcli/pystorcli2-c0-eall-show-J":                        {command: "enclosure-show"},
		"storcli/pystorcli2-c0-fall-show-J":                        {command: "foreign-show"},
		"storcli/pystorcli2-c0-show-J-rs3dc080":                    {command: "ctrl-show"},
		"storcli/pystorcli2-c0-v1-del-J":                           {command: "action"},
		"storcli/pystorcli2-set-good-failure-J":                    {err: errToolAny},
		"storcli/pystorcli2-show-J-2ctrl":                          {command: "show"},
		"storcli/pystorcli2-show-J-no-controllers":                 {err: ErrNoController},
		"storcli/storclicheck-c0-show-all-text-hba9400-jbod":       {err: ErrUnsupported},
		"storcli/storclicheck-c0-show-all-text-m5110e-ok":          {err: ErrUnsupported},
		"perccli/brenard-call-eall-sall-show-all-J-h755":           {command: "drive-show"},
		"perccli/brenard-call-show-all-J-h755":                     {command: "ctrl-show"},
		"perccli/brenard-perccli2-call-eall-sall-show-all-J-h965i": {err: ErrUnsupported},
		"perccli/brenard-perccli2-call-show-all-J-h965i":           {err: ErrUnsupported},
		"perccli/ltmonster-c0-vall-show-J-h730p":                   {command: "vd-show"},
		"perccli/ltmonster-show-J-h730p":                           {command: "show"},
		"perccli/canonical-call-show-all-J-h345-1020":              {command: "ctrl-show"},
		"perccli/canonical-show-J-no-controller-1020":              {err: errToolAny},
		"ssacli/corfr-ctrl-all-show-config-p400-raid5":             {command: "ld-show"},
		"ssacli/checkraid-hpacucli-6i-slot0-ld-show-banner":        {command: "ld-show"},
		"arcconf/checkraid-servraid8kl-getconfig-al-v5-raid1":      {command: "getconfig"},
		"tw_cli/ngas-info-c-two-raid1":                             {command: "ctrl-show"},
		"tw_cli/ngas-info-c0-7810-tw_cli1-jbod":                    {err: ErrUnsupported},
	}
	for _, f := range fixtures(t) {
		key := f.tool + "/" + f.name
		w, ok := tests[key]
		if !ok {
			continue
		}
		t.Run(key, func(t *testing.T) {
			data, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Parse(f.tool, "", data)
			switch {
			case w.err == errToolAny:
				var te *ToolError
				if !errors.As(err, &te) {
					t.Fatalf("Parse = %v, want a *ToolError", err)
				}
			case w.err != nil:
				if !errors.Is(err, w.err) {
					t.Fatalf("Parse = %v, want errors.Is %v", err, w.err)
				}
			case err != nil:
				t.Fatalf("Parse: %v", err)
			default:
				if r.Command != w.command {
					t.Errorf("Parse detected command %q, want %q", r.Command, w.command)
				}
				// Naming the command must give the same result.
				r2, err := Parse(f.tool, w.command, data)
				if err != nil {
					t.Fatalf("Parse with --cmd %q: %v", w.command, err)
				}
				if diff := cmp.Diff(r, r2); diff != "" {
					t.Errorf("named vs detected command (-detected +named):\n%s", diff)
				}
			}
		})
	}
}

// TestParseErrorsDoNotEcho: a huge garbage line is not echoed whole in the
// error (a 50 MB line gave a 50 MB message).
func TestParseErrorsDoNotEcho(t *testing.T) {
	line := strings.Repeat("x", 1<<20)
	for _, tool := range []string{"storcli", "arcconf", "tw_cli", "ssacli", "sas2ircu"} {
		_, err := Parse(tool, "", []byte(line+"\n"+line+"\n"))
		if err == nil {
			continue
		}
		if n := len(err.Error()); n > 8<<10 {
			t.Errorf("%s: a 1 MiB garbage line gives a %d-byte error", tool, n)
		}
	}
}

// TestTwcliFewerColumns: tw_cli 9.2's unit table has eight columns (no
// %V/I/M, "%Cmpl" and "AVerify"); the parser reads columns by their
// header, so it reads it. No public capture of that version was found for
// the corpus: this table is CONSTRUCTED after the layout of 3ware's CLI
// guide for 9.2, not a real output.
func TestTwcliFewerColumns(t *testing.T) {
	out := "Unit  UnitType  Status         %Cmpl  Stripe  Size(GB)  Cache  AVerify\n" +
		"------------------------------------------------------------------------\n" +
		"u0    RAID-5    OK             -      64K     1396.95   ON     OFF\n" +
		"u1    RAID-1    REBUILDING     41     -       232.82    ON     OFF\n\n" +
		"Port   Status           Unit   Size        Blocks        Serial\n" +
		"---------------------------------------------------------------\n" +
		"p0     OK               u0     465.76 GB   976773168     WD-WCAS81234567\n" +
		"p1     OK               u0     465.76 GB   976773168     WD-WCAS81234568\n" +
		"p2     OK               u0     465.76 GB   976773168     WD-WCAS81234569\n" +
		"p3     OK               u1     232.88 GB   488397168     WD-WMAT71234567\n" +
		"p4     DEGRADED         u1     232.88 GB   488397168     WD-WMAT71234568\n"
	r, err := Parse("tw_cli", "", []byte(out))
	if err != nil {
		t.Fatalf("Parse(tw_cli 9.2 unit table) = %v", err)
	}
	if len(r.Volumes) != 2 || len(r.Disks) != 5 {
		t.Fatalf("parsed %+v, want two units and five disks", r)
	}
	v := r.Volumes
	if v[0].Level != "raid5" || v[1].Level != "raid1" || v[1].State == v[0].State {
		t.Errorf("units: %+v", v)
	}
}
