package fake

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/raid"
)

// TestMain turns the test binary into the FAKE sas2ircu when
// NEEDLE_FAKE_TOOL=sas2ircu, the re-exec pattern of u-root's echo tests.
func TestMain(m *testing.M) {
	switch os.Getenv(ToolEnv) {
	case "sas2ircu":
		os.Exit(SAS2IRCU(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	case "storcli":
		os.Exit(Storcli(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	case "arcconf":
		os.Exit(Arcconf(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	case "tw_cli":
		os.Exit(Twcli(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	case "ssacli":
		os.Exit(Ssacli(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// runFake runs the fake sas2ircu as a child process with a state file in dir.
func runFake(t *testing.T, dir string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	return runTool(t, "sas2ircu", dir, env, args...)
}

func runTool(t *testing.T, tool, dir string, env []string, args ...string) ([]byte, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), ToolEnv+"="+tool, StateEnv+"="+filepath.Join(dir, "state.json"))
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if stderr.Len() > 0 {
		t.Logf("fake stderr: %s", stderr.String())
	}
	return out, err
}

func mustParse(t *testing.T, cmd string, out []byte) *raid.Result {
	t.Helper()
	r, err := raid.Parse("sas2ircu", "", out)
	if err != nil {
		t.Fatalf("fake output does not parse: %v\n%s", err, out)
	}
	if r.Command != cmd {
		t.Fatalf("fake output detected as %q, want %q", r.Command, cmd)
	}
	return r
}

// TestCreateDisplayDelete drives the fake through a RAID1 life cycle with
// the argv builders needle will use, reading every step back with the real
// parser.
func TestCreateDisplayDelete(t *testing.T) {
	dir := t.TempDir()
	out, err := runFake(t, dir, nil, "LIST")
	if err != nil {
		t.Fatalf("LIST: %v\n%s", err, out)
	}
	list := mustParse(t, "list", out)
	if want := (raid.Controller{Index: 0, Model: "SAS2008", PCIAddress: "0000:03:00.0", PCIID: "1000:0072", PCISubsystem: "1028:1f1e"}); !cmp.Equal(list.Controllers, []raid.Controller{want}) {
		t.Errorf("LIST controllers (-want +got):\n%s", cmp.Diff([]raid.Controller{want}, list.Controllers))
	}
	if !bytes.Contains(out, []byte("FAKE")) {
		t.Errorf("fake output does not say FAKE:\n%s", out)
	}

	out, err = runFake(t, dir, nil, "0", "DISPLAY")
	if err != nil {
		t.Fatalf("DISPLAY: %v\n%s", err, out)
	}
	before := mustParse(t, "display", out)
	if len(before.Volumes) != 0 || len(before.Disks) != 2 || before.Disks[0].State != raid.DiskReady {
		t.Fatalf("fresh fake: %d volumes, disks %+v; want 0 volumes, 2 ready disks", len(before.Volumes), before.Disks)
	}

	out, err = runFake(t, dir, nil, "0", "STATUS")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Errorf("STATUS without volumes: err %v, want exit status 1", err)
	}
	if _, err := raid.Parse("sas2ircu", "", out); !errors.Is(err, raid.ErrNoVolumes) {
		t.Errorf("STATUS without volumes parses to %v, want ErrNoVolumes", err)
	}

	args, err := raid.SAS2IRCUCreateArgs(raid.VolumeSpec{Level: "raid1", Members: []string{"1:0", "1:1"}, Name: "os"})
	if err != nil {
		t.Fatal(err)
	}
	out, err = runFake(t, dir, nil, args...)
	if err != nil {
		t.Fatalf("CREATE %q: %v\n%s", args, err, out)
	}
	mustParse(t, "create", out)

	out, err = runFake(t, dir, nil, "0", "DISPLAY")
	if err != nil {
		t.Fatalf("DISPLAY after create: %v\n%s", err, out)
	}
	after := mustParse(t, "display", out)
	want := []raid.Volume{{ID: "79", Name: "os", Level: "raid1", Members: []string{"1:0", "1:1"}, SizeBytes: 152064 << 20, State: raid.VolumeOptimal, RawState: "Okay (OKY)"}}
	if diff := cmp.Diff(want, after.Volumes); diff != "" {
		t.Errorf("volumes after create (-want +got):\n%s", diff)
	}
	for _, d := range after.Disks {
		if d.State != raid.DiskOnline {
			t.Errorf("disk %s after create: state %q, want online", d.Location, d.State)
		}
	}

	// A second create over the same disks is refused, like the real tool.
	out, err = runFake(t, dir, nil, args...)
	if err == nil {
		t.Errorf("second CREATE over used disks succeeded:\n%s", out)
	}
	var te *raid.ToolError
	if _, perr := raid.Parse("sas2ircu", "", out); !errors.As(perr, &te) {
		t.Errorf("refused CREATE parses to %v, want a ToolError", perr)
	}

	del, err := raid.SAS2IRCUDeleteVolumeArgs(0, "79")
	if err != nil {
		t.Fatal(err)
	}
	out, err = runFake(t, dir, nil, del...)
	if err != nil {
		t.Fatalf("DELETEVOLUME: %v\n%s", err, out)
	}
	mustParse(t, "delete", out)
	out, _ = runFake(t, dir, nil, "0", "DISPLAY")
	if r := mustParse(t, "display", out); len(r.Volumes) != 0 || r.Disks[0].State != raid.DiskReady {
		t.Errorf("after delete: volumes %+v, disk 0 %q; want none, ready", r.Volumes, r.Disks[0].State)
	}
}

// TestSegfault: with NEEDLE_FAKE_SEGV=display the fake dies of a real
// SIGSEGV, as sas2ircu did on the stock mpt2sas, after printing the
// start of its output; the parser calls that output truncated.
func TestSegfault(t *testing.T) {
	dir := t.TempDir()
	out, err := runFake(t, dir, []string{SegvEnv + "=display"}, "0", "DISPLAY")
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("DISPLAY with %s=display: err %v, want the process killed", SegvEnv, err)
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGSEGV {
		t.Fatalf("wait status %v (%v), want killed by SIGSEGV", ee.ProcessState, ws)
	}
	if !strings.Contains(string(out), "Read configuration has been initiated") {
		t.Errorf("no partial output before the crash:\n%s", out)
	}
	if _, err := raid.Parse("sas2ircu", "", out); !errors.Is(err, raid.ErrTruncated) {
		t.Errorf("crashed DISPLAY output parses to %v, want ErrTruncated", err)
	}
	// Other commands still work.
	if out, err := runFake(t, dir, []string{SegvEnv + "=display"}, "LIST"); err != nil {
		t.Errorf("LIST with %s=display: %v\n%s", SegvEnv, err, out)
	}
}

// TestFakeInProcess covers argument errors without a child process.
func TestFakeInProcess(t *testing.T) {
	dir := t.TempDir()
	env := func(k string) string {
		if k == StateEnv {
			return filepath.Join(dir, "s.json")
		}
		return ""
	}
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"1", "DISPLAY"}, 1, "Invalid controller number 1"},
		{[]string{"0", "FROB"}, 1, "Invalid command FROB"},
		{[]string{"0", "CREATE", "RAID1", "MAX", "1:0", "1:1", "os"}, 1, "answers no prompts"},
		{[]string{"0", "CREATE", "RAID5", "MAX", "1:0", "1:1", "os", "noprompt"}, 1, "invalid volume type RAID5"},
		{[]string{"0", "CREATE", "RAID1", "MAX", "1:0", "1:7", "os", "noprompt"}, 1, "no disk at enclosure:slot 1:7"},
		{[]string{"0", "CREATE", "RAID1", "999999999", "1:0", "1:1", "os", "noprompt"}, 1, "invalid size"},
		{[]string{"0", "DELETEVOLUME", "5", "noprompt"}, 1, "volume 5 not found"},
		{[]string{"0", "DELETE", "noprompt"}, 0, "Command DELETE Completed Successfully"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := SAS2IRCU(tt.args, env, &out, &errb)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("SAS2IRCU(%q) = %d, output:\n%s\nwant %d and %q", tt.args, code, out.String(), tt.wantCode, tt.wantOut)
			}
		})
	}
	if got := statePath(func(string) string { return "" }, DefaultSAS2IRCUState); got != "/run/fake-sas2ircu.json" {
		t.Errorf("state path without %s = %q, want /run/fake-sas2ircu.json", StateEnv, got)
	}
}

// TestSeed: a missing state file starts from the seed in the environment
// (inline JSON or a file), which is how a QEMU image carries its pretend
// controller; a broken seed is an error, not the default state.
func TestSeed(t *testing.T) {
	dir := t.TempDir()
	seed := DefaultState()
	seed.Bus = 0x05
	seed.Disks[1].Slot = 4
	data, err := json.Marshal(seed)
	if err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(dir, "seed.json")
	if err := os.WriteFile(seedFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		wantCode int
		wantOut  string
	}{
		{"inline", map[string]string{SeedEnv: string(data)}, 0, "00h:05h:00h:00h"},
		{"file", map[string]string{SeedFileEnv: seedFile}, 0, "00h:05h:00h:00h"},
		{"default", nil, 0, "00h:03h:00h:00h"},
		{"broken", map[string]string{SeedEnv: "{"}, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := filepath.Join(t.TempDir(), "state.json")
			env := func(k string) string {
				if k == StateEnv {
					return state
				}
				return tt.env[k]
			}
			var out, errb bytes.Buffer
			code := SAS2IRCU([]string{"LIST"}, env, &out, &errb)
			if code != tt.wantCode || !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("LIST with %v = %d, stdout:\n%s\nstderr: %s\nwant %d and %q", tt.env, code, out.String(), errb.String(), tt.wantCode, tt.wantOut)
			}
			if code != 0 {
				return
			}
			// The state file now exists and wins over the seed.
			st, err := Load(state)
			if err != nil {
				t.Fatal(err)
			}
			if tt.env != nil && st.Disks[1].Slot != 4 {
				t.Errorf("state saved from seed has disk slot %d, want 4", st.Disks[1].Slot)
			}
		})
	}
}
