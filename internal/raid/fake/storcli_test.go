package fake

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/needle-boot/needle/internal/raid"
)

func parseStorcli(t *testing.T, cmd string, out []byte) *raid.Result {
	t.Helper()
	r, err := raid.Parse("storcli", "", out)
	if err != nil {
		t.Fatalf("fake storcli output does not parse: %v\n%s", err, out)
	}
	if r.Command != cmd {
		t.Fatalf("fake storcli output detected as %q, want %q\n%s", r.Command, cmd, out)
	}
	return r
}

// TestStorcliLifeCycle drives the FAKE storcli through create, show and
// delete with needle's argv builders, read back by the real parser.
func TestStorcliLifeCycle(t *testing.T) {
	dir := t.TempDir()
	run := func(args ...string) []byte {
		t.Helper()
		out, err := runTool(t, "storcli", dir, nil, args...)
		if err != nil {
			t.Fatalf("storcli %q: %v\n%s", args, err, out)
		}
		return out
	}
	out := run("show", "J")
	if !bytes.Contains(out, []byte("FAKE")) {
		t.Errorf("fake storcli output does not say FAKE:\n%s", out)
	}
	if r := parseStorcli(t, "show", out); len(r.Controllers) != 1 || r.Controllers[0].Index != 0 {
		t.Errorf("show J controllers = %+v, want one, index 0", r.Controllers)
	}
	r := parseStorcli(t, "ctrl-show", run("/c0", "show", "J"))
	wantCtl := raid.Controller{Index: 0, Model: "FAKE MegaRAID SAS 9260-8i", Serial: "FAKE0001", Firmware: "2.130.403-4660", Driver: "megaraid_sas", DriverVersion: "07.719.03.00-rc1",
		PCIAddress: "0000:00:05.0", PCIID: "1000:0079", PCISubsystem: "1000:9261", Mode: "RAID"}
	if diff := cmp.Diff([]raid.Controller{wantCtl}, r.Controllers); diff != "" {
		t.Errorf("/c0 show J controller (-want +got):\n%s", diff)
	}
	if len(r.Volumes) != 0 || len(r.Disks) != 2 || r.Disks[0].State != raid.DiskReady {
		t.Fatalf("fresh fake: volumes %+v disks %+v", r.Volumes, r.Disks)
	}
	args, err := raid.StorcliCreateArgs(raid.VolumeSpec{Level: "raid1", Members: []string{"252:0", "252:1"}, Name: "os"})
	if err != nil {
		t.Fatal(err)
	}
	if a := parseStorcli(t, "action", run(args...)); a.Message != "Add VD Succeeded." {
		t.Errorf("add vd message %q", a.Message)
	}
	r = parseStorcli(t, "ctrl-show", run("/call", "show", "J"))
	// 4 TB disks: (3815447 MiB - 512) rounded down to GiB = 3725 GiB,
	// printed as "3.638 TB" and read back within that rounding.
	want := []raid.Volume{{Controller: 0, ID: "0", Name: "os", Level: "raid1", Members: []string{"252:0", "252:1"}, State: raid.VolumeOptimal, RawState: "Optl"}}
	if diff := cmp.Diff(want, r.Volumes, cmpopts.IgnoreFields(raid.Volume{}, "SizeBytes")); diff != "" {
		t.Errorf("volumes after add (-want +got):\n%s", diff)
	}
	if len(r.Volumes) == 1 {
		const exact = 3725 << 30
		if got := r.Volumes[0].SizeBytes; got < exact-raid.SizeTolerance(exact) || got > exact+raid.SizeTolerance(exact) {
			t.Errorf("volume size %d, want %d within %d", got, uint64(exact), raid.SizeTolerance(exact))
		}
	}
	for _, d := range r.Disks {
		if d.State != raid.DiskOnline || d.Volume != "0" {
			t.Errorf("disk %s after add: state %q volume %q, want online in 0", d.Location, d.State, d.Volume)
		}
	}
	if v := parseStorcli(t, "vd-show", run("/c0/vall", "show", "J")); len(v.Volumes) != 1 || v.Volumes[0].Name != "os" {
		t.Errorf("/c0/vall show J volumes = %+v", v.Volumes)
	}
	// A second add over the same drives fails like the real tool.
	out, err = runTool(t, "storcli", dir, nil, args...)
	if err == nil {
		t.Errorf("second add over used drives succeeded:\n%s", out)
	}
	if _, perr := raid.Parse("storcli", "", out); perr == nil || !strings.Contains(perr.Error(), "not unconfigured good") {
		t.Errorf("refused add parses to %v, want a tool error", perr)
	}
	del, _ := raid.StorcliDeleteArgs(0, "0", true)
	if a := parseStorcli(t, "action", run(del...)); a.Message != "Delete VD succeeded" {
		t.Errorf("del message %q", a.Message)
	}
	r = parseStorcli(t, "ctrl-show", run("/c0", "show", "J"))
	if len(r.Volumes) != 0 || r.Disks[1].State != raid.DiskReady {
		t.Errorf("after delete: volumes %+v disk 1 %q", r.Volumes, r.Disks[1].State)
	}
}

// TestStorcliErrors covers refusals in process.
func TestStorcliErrors(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		if k == StateEnv {
			return filepath.Join(dir, "s.json")
		}
		return ""
	}
	tests := []struct {
		args    []string
		wantOut string
	}{
		{[]string{"/c0", "show"}, "only in JSON"},
		{[]string{"/c1", "show", "J"}, "Controller 1 not found"},
		{[]string{"/c0", "add", "vd", "r1", "name=os", "drives=252:0", "J"}, "wrong number of drives (1) for RAID1"},
		{[]string{"/c0", "add", "vd", "r1", "name=os", "drives=252:0,252:7", "J"}, "drive 252:7 not found"},
		{[]string{"/c0", "add", "vd", "r0", "size=99999999MB", "name=os", "drives=252:0", "J"}, "exceeds"},
		{[]string{"/c0/v3", "del", "J"}, "VD 3 not found"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := Storcli(tt.args, env, &out, &errb)
			if code == 0 || !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("Storcli(%q) = %d, output:\n%s\nwant failure with %q", tt.args, code, out.String(), tt.wantOut)
			}
		})
	}
}

// TestStaticBinaries builds the standalone fakes the way a ramdisk image
// does (CGO_ENABLED=0), checks they are static ELF files (no PT_INTERP),
// and runs each once.
func TestStaticBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the fake binaries; skipped with -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool in PATH to build the fakes")
	}
	dir := t.TempDir()
	for _, tc := range []struct{ name, pkg, tool, args, want string }{
		{"fake-sas2ircu", "./cmd/fake-sas2ircu", "sas2ircu", "LIST", "SAS2008"},
		{"fake-storcli", "./cmd/fake-storcli", "storcli", "show J", "System Overview"},
		{"fake-arcconf", "./cmd/fake-arcconf", "arcconf", "LIST", "Controller 1:"},
		{"fake-tw_cli", "./cmd/fake-tw_cli", "tw_cli", "info", "9750-4i"},
		{"fake-ssacli", "./cmd/fake-ssacli", "ssacli", "ctrl all show config detail", "Smart Array P822 in Slot 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(dir, tc.name)
			build := exec.Command(gobin, "build", "-trimpath", "-o", bin, tc.pkg)
			build.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build %s: %v\n%s", tc.pkg, err, out)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP {
					t.Errorf("%s has an ELF interpreter: not static", tc.name)
				}
			}
			cmd := exec.Command(bin, strings.Fields(tc.args)...)
			cmd.Env = []string{StateEnv + "=" + filepath.Join(dir, tc.tool+".json")}
			out, err := cmd.Output()
			if err != nil || !bytes.Contains(out, []byte(tc.want)) || !bytes.Contains(out, []byte("FAKE")) {
				t.Errorf("%s %s: %v\n%s", tc.name, tc.args, err, out)
			}
		})
	}
}
