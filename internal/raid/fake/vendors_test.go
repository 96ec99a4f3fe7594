package fake

import (
	"bytes"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/raid"
)

// lifeCycle is one FAKE tool driven with needle's argv builders, each
// output read back by the real parser.
type lifeCycle struct {
	tool string
	run  func([]string, func(string) string, *bytes.Buffer, *bytes.Buffer) int
	// state is the command that reads the whole state, and its parser
	// command.
	state     []string
	stateCmd  string
	spec      raid.VolumeSpec
	create    func(raid.VolumeSpec) ([]string, error)
	createCmd string
	del       func(int, string) ([]string, error)
	delCmd    string
	// volume is the created volume's ID.
	volume string
	// bad are command lines the real tool would not take from needle;
	// the fake must refuse each, naming the problem.
	bad map[string]string
}

func wrap(f func([]string, func(string) string, io.Writer, io.Writer) int) func([]string, func(string) string, *bytes.Buffer, *bytes.Buffer) int {
	return func(a []string, g func(string) string, o, e *bytes.Buffer) int { return f(a, g, o, e) }
}

var lifeCycles = []lifeCycle{
	{
		tool: "arcconf", run: wrap(Arcconf), state: []string{"GETCONFIG", "1", "AL"}, stateCmd: "getconfig",
		spec:   raid.VolumeSpec{Controller: 1, Level: "raid1", Members: []string{"0:0", "0:1"}, Name: "os"},
		create: raid.ArcconfCreateArgs, createCmd: "create", del: raid.ArcconfDeleteArgs, delCmd: "delete", volume: "0",
		bad: map[string]string{
			"CREATE 0 LOGICALDRIVE Name os MAX 1 0 0 0 1 noprompt":                "invalid controller number",
			"CREATE 1 LOGICALDRIVE Name os MAX 1 0 0 0 1":                         "end with noprompt",
			"CREATE 1 LOGICALDRIVE Name os MAX RAID1 0 0 0 1 noprompt":            `RAID level "RAID1"`,
			"CREATE 1 LOGICALDRIVE Name os MAX 1 0:0 0:1 noprompt":                "is not a channel and device number",
			"CREATE 1 LOGICALDRIVE Name os Wcache wb MAX 1 0 0 0 1 noprompt":      "want <size|MAX>",
			"CREATE 1 LOGICALDRIVE Name seventeen-chars-x MAX 1 0 0 0 1 noprompt": "1-16 characters",
			"DELETE 1 LOGICALDRIVE 0":                                             "want \"DELETE 1 LOGICALDRIVE <n> noprompt\"",
			"GETCONFIG 1":                                                         "want \"GETCONFIG 1 AL\"",
		},
	},
	{
		tool: "tw_cli", run: wrap(Twcli), state: []string{"/c0", "show"}, stateCmd: "ctrl-show",
		spec:   raid.VolumeSpec{Controller: 0, Level: "raid1", Members: []string{"p0", "p1"}, Name: "os"},
		create: raid.TwcliCreateArgs, createCmd: "add", del: raid.TwcliDeleteArgs, delCmd: "del", volume: "u0",
		bad: map[string]string{
			"/c1 add type=raid1 disk=0:1":            "Controller /c1 is not present",
			"/c0 add type=RAID1 disk=0:1":            "type=RAID1 not supported",
			"/c0 add type=raid1 disk=p0:p1":          "want type=<RaidType> disk=<p:-p>",
			"/c0 add type=raid1 disk=0:1 name=my os": `option "os" not supported`,
			"/c0 add type=raid1 disk=0:1 size=100":   `option "size=100" not supported`,
			"/c0 add type=raid5 disk=0:1:2":          "port p2 is not present",
			"/c0/u0 del":                             "Unit /c0/u0 is not present",
		},
	},
	{
		tool: "ssacli", run: wrap(Ssacli), state: []string{"ctrl", "all", "show", "config", "detail"}, stateCmd: "config-detail",
		spec:   raid.VolumeSpec{Controller: 2, Level: "raid1", Members: []string{"5I:1:1", "5I:1:2"}, Name: "os"},
		create: raid.SsacliCreateArgs, createCmd: "", del: raid.SsacliDeleteArgs, delCmd: "", volume: "1",
		bad: map[string]string{
			"ctrl slot=0 create type=ld drives=5I:1:1,5I:1:2 raid=1":          `"slot=0" was not detected`,
			"ctrl slot=2 create type=ld drives=5I:1:1,5I:1:2 raid=raid1":      `"raid=raid1" is not a valid option`,
			"ctrl slot=2 create type=ld drives=5I:1:1,5I:1:2 raid=1 name=os":  `option "name=os" not supported`,
			"ctrl slot=2 create type=ld drives=5I:1:1 5I:1:2 raid=1":          `"5I:1:2" is not option=value`,
			"ctrl slot=2 create type=ld drives=1:1,1:2 raid=1":                `"1:1" is not a drive`,
			"ctrl slot=2 create type=ld drives=5I:1:1,5I:1:2 raid=1 size=1TB": `"size=1TB" is not max`,
			"ctrl slot=2 ld 1 delete":                                         "answers no prompts",
			"ctrl 2 create type=ld drives=5I:1:1,5I:1:2 raid=1":               "identified by slot",
		},
	},
}

// TestVendorLifeCycles creates a volume with needle's argv, reads it back,
// refuses a second create over the same disks, deletes it, and refuses
// every malformed command line.
func TestVendorLifeCycles(t *testing.T) {
	for _, lc := range lifeCycles {
		t.Run(lc.tool, func(t *testing.T) {
			dir := t.TempDir()
			env := func(k string) string {
				if k == StateEnv {
					return filepath.Join(dir, "state.json")
				}
				return ""
			}
			run := func(args []string) (int, string) {
				var out, errb bytes.Buffer
				code := lc.run(args, env, &out, &errb)
				return code, out.String()
			}
			parse := func(cmd string, args []string) *raid.Result {
				t.Helper()
				code, out := run(args)
				if code != 0 {
					t.Fatalf("%s %q: exit %d\n%s", lc.tool, args, code, out)
				}
				r, err := raid.Parse(lc.tool, cmd, []byte(out))
				if err != nil {
					t.Fatalf("%s %q output does not parse: %v\n%s", lc.tool, args, err, out)
				}
				return r
			}
			code, out := run(lc.state)
			if code != 0 || !strings.Contains(out, "FAKE") {
				t.Errorf("state output (exit %d) does not say FAKE:\n%s", code, out)
			}
			if r := parse(lc.stateCmd, lc.state); len(r.Volumes) != 0 || len(r.Disks) != 2 || r.Disks[0].State != raid.DiskReady {
				t.Fatalf("fresh fake: volumes %+v disks %+v", r.Volumes, r.Disks)
			}
			args, err := lc.create(lc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if lc.createCmd != "" {
				parse(lc.createCmd, args)
			} else if code, out := run(args); code != 0 || out != "" {
				t.Fatalf("create %q: exit %d, output %q; want silence", args, code, out)
			}
			r := parse(lc.stateCmd, lc.state)
			if len(r.Volumes) != 1 || r.Volumes[0].ID != lc.volume || r.Volumes[0].Level != "raid1" || !cmp.Equal(r.Volumes[0].Members, lc.spec.Members) || r.Volumes[0].State != raid.VolumeOptimal {
				t.Fatalf("after create: %+v", r.Volumes)
			}
			if raid.VolumeNames(lc.tool) && lc.tool != "tw_cli" && r.Volumes[0].Name != "os" {
				t.Errorf("after create: name %q, want os", r.Volumes[0].Name)
			}
			if code, out := run(args); code == 0 {
				t.Errorf("a second create over the same disks succeeded:\n%s", out)
			} else if _, err := raid.Parse(lc.tool, "", []byte(out)); err == nil {
				t.Errorf("the refusal does not parse as a tool error:\n%s", out)
			}
			del, err := lc.del(lc.spec.Controller, lc.volume)
			if err != nil {
				t.Fatal(err)
			}
			if lc.delCmd != "" {
				parse(lc.delCmd, del)
			} else if code, out := run(del); code != 0 || out != "" {
				t.Fatalf("delete %q: exit %d, output %q; want silence", del, code, out)
			}
			if r := parse(lc.stateCmd, lc.state); len(r.Volumes) != 0 || r.Disks[1].State != raid.DiskReady {
				t.Errorf("after delete: volumes %+v disk 1 %q", r.Volumes, r.Disks[1].State)
			}
			for line, want := range lc.bad {
				code, out := run(strings.Fields(line))
				if code == 0 || !strings.Contains(out, want) || !strings.Contains(out, "Error:") {
					t.Errorf("%s %s: exit %d, output:\n%s\nwant a failure with %q", lc.tool, line, code, out, want)
				}
			}
		})
	}
}

// TestTwcliUnitName: "/cN/uM show name" answers with the name given at
// add, read by the unit-name parser.
func TestTwcliUnitName(t *testing.T) {
	dir := t.TempDir()
	out, err := runTool(t, "tw_cli", dir, nil, "/c0", "add", "type=raid1", "disk=0-1", "name=os")
	if err != nil {
		t.Fatalf("add with a port range: %v\n%s", err, out)
	}
	out, err = runTool(t, "tw_cli", dir, nil, "/c0/u0", "show", "name")
	if err != nil {
		t.Fatal(err)
	}
	r, err := raid.Parse("tw_cli", "", out)
	if err != nil || r.Command != "unit-name" || len(r.Volumes) != 1 || r.Volumes[0].Name != "os" {
		t.Errorf("show name = %+v, %v\n%s", r, err, out)
	}
}
