package md

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/sysroot"
)

// fakeMD is a fake of the kernel's md sysfs (labelled: it is not the
// kernel). It records every write and changes the attribute files the way
// drivers/md/md.c does for the calls Assemble makes.
type fakeMD struct {
	t      *testing.T
	root   string // holds sys/ and proc/
	level  string // what the fake kernel reads from the superblocks
	reject map[string]bool
	writes []string // "path=value", path relative to root
	devs   int
}

func newFakeMD(t *testing.T, mdstat string) (*fakeMD, *Kernel) {
	t.Helper()
	f := &fakeMD{t: t, root: t.TempDir(), level: "raid1", reject: map[string]bool{}}
	for _, d := range []string{"sys/module/md_mod/parameters", "sys/block", "proc"} {
		if err := os.MkdirAll(filepath.Join(f.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if mdstat != "" {
		f.file("proc/mdstat", mdstat)
	}
	k := &Kernel{
		Root:  sysroot.Capture(f.root),
		Write: f.write, Read: os.ReadFile,
		DevNum: func(p string) (uint32, uint32, error) {
			l, ok := strings.CutPrefix(p, "/dev/vd")
			if !ok || len(l) != 1 {
				return 0, 0, fmt.Errorf("%s is not a block device", p)
			}
			return 254, uint32(l[0]-'a') * 16, nil
		},
		Log: testLogger(t),
	}
	return f, k
}

func (f *fakeMD) file(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeMD) write(path, value string) error {
	rel, err := filepath.Rel(f.root, path)
	if err != nil {
		return err
	}
	f.writes = append(f.writes, rel+"="+value)
	md := func(name string) string { return filepath.Join("sys/block", name, "md") }
	switch {
	case rel == "sys/module/md_mod/parameters/new_array":
		if _, err := os.Stat(filepath.Join(f.root, "sys/block", value)); err == nil {
			return syscall.EEXIST
		}
		for attr, v := range map[string]string{"array_state": "clear", "level": "", "raid_disks": "0", "degraded": "0",
			"sync_action": "idle", "sync_completed": "none", "sync_speed": "none", "resync_start": "none", "metadata_version": "none"} {
			f.file(filepath.Join(md(value), attr), v)
		}
		return nil
	case strings.HasSuffix(rel, "/md/new_dev"):
		if f.reject[value] {
			return syscall.EINVAL
		}
		f.devs++
		return nil
	case strings.HasSuffix(rel, "/md/array_state"):
		dir := filepath.Dir(rel)
		switch value {
		case "active":
			f.file(filepath.Join(dir, "array_state"), "clean")
			f.file(filepath.Join(dir, "level"), f.level)
			f.file(filepath.Join(dir, "raid_disks"), fmt.Sprint(f.devs))
			f.file(filepath.Join(dir, "sync_action"), "resync")
			f.file(filepath.Join(dir, "resync_start"), "0")
		case "clear":
			return os.RemoveAll(filepath.Join(f.root, filepath.Dir(dir)))
		}
		return nil
	case strings.HasSuffix(rel, "/md/metadata_version"):
		f.file(rel, value)
		return nil
	}
	return fmt.Errorf("fake md: unexpected write %s", rel)
}

func TestAssemble(t *testing.T) {
	mdstat, err := os.ReadFile("testdata/mdstat-resync.txt")
	if err != nil {
		t.Fatal(err)
	}
	f, k := newFakeMD(t, string(mdstat))
	st, err := k.Assemble(context.Background(), "md127", RAID1, []string{"/dev/vda", "/dev/vdb"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"sys/module/md_mod/parameters/new_array=md127",
		"sys/block/md127/md/metadata_version=1.2",
		"sys/block/md127/md/new_dev=254:0",
		"sys/block/md127/md/new_dev=254:16",
		"sys/block/md127/md/array_state=active",
	}
	if d := cmp.Diff(want, f.writes); d != "" {
		t.Errorf("sysfs writes (-want +got):\n%s", d)
	}
	wantSt := &State{ArrayState: "clean", Level: "raid1", RaidDisks: 2, SyncAction: "resync", ResyncStart: 0}
	if d := cmp.Diff(wantSt, st); d != "" {
		t.Errorf("state (-want +got):\n%s", d)
	}
	if err := k.Stop("md127"); err != nil {
		t.Fatal(err)
	}
	if got := f.writes[len(f.writes)-1]; got != "sys/block/md127/md/array_state=clear" {
		t.Errorf("Stop wrote %q", got)
	}
}

func TestAssembleErrors(t *testing.T) {
	const raid1Only = "Personalities : [raid1] \nunused devices: <none>"
	tests := []struct {
		name      string
		mdstat    string
		setup     func(f *fakeMD)
		level     Level
		devs      []string
		want      string
		wantClear bool // the half-made array was cleared
	}{
		{"no md_mod", "", nil, RAID1, []string{"/dev/vda", "/dev/vdb"}, "md_mod is not loaded", false},
		{"no raid10", raid1Only, nil, RAID10, []string{"/dev/vda", "/dev/vdb"}, "load kernel module raid10 first", false},
		{"exists", raid1Only, func(f *fakeMD) { f.file("sys/block/md127/md/array_state", "clean") }, RAID1,
			[]string{"/dev/vda", "/dev/vdb"}, "md127 already exists", false},
		{"not a device", raid1Only, nil, RAID1, []string{"/dev/vda", "/tmp/x"}, "member /tmp/x", false},
		{"bad superblock", raid1Only, func(f *fakeMD) { f.reject["254:16"] = true }, RAID1,
			[]string{"/dev/vda", "/dev/vdb"}, "add member /dev/vdb (254:16)", true},
		{"level mismatch", raid1Only, func(f *fakeMD) { f.level = "raid0" }, RAID1,
			[]string{"/dev/vda", "/dev/vdb"}, `kernel level "raid0"`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, k := newFakeMD(t, tc.mdstat)
			if tc.setup != nil {
				tc.setup(f)
			}
			_, err := k.Assemble(context.Background(), "md127", tc.level, tc.devs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Assemble = %v, want error containing %q", err, tc.want)
			}
			cleared := len(f.writes) > 0 && f.writes[len(f.writes)-1] == "sys/block/md127/md/array_state=clear"
			if cleared != tc.wantClear {
				t.Errorf("cleared = %v, want %v (writes %v)", cleared, tc.wantClear, f.writes)
			}
		})
	}
}

func TestWaitSync(t *testing.T) {
	f, k := newFakeMD(t, "Personalities : [raid1] \n")
	if _, err := k.Assemble(context.Background(), "md0", RAID1, []string{"/dev/vda", "/dev/vdb"}); err != nil {
		t.Fatal(err)
	}
	dir := "sys/block/md0/md/"
	// The resync thread has not started yet: idle, but resync_start 0.
	f.file(dir+"sync_action", "idle")
	steps := []func(){
		func() {
			f.file(dir+"sync_action", "resync")
			f.file(dir+"sync_completed", "21376 / 522240")
			f.file(dir+"sync_speed", "21376")
		},
		func() {
			f.file(dir+"sync_completed", "400000 / 522240")
			f.file(dir+"sync_speed", "190000")
		},
		func() {
			f.file(dir+"sync_action", "idle")
			f.file(dir+"sync_completed", "none")
			f.file(dir+"sync_speed", "none")
			f.file(dir+"resync_start", "none")
		},
	}
	var seen []string
	st, err := k.WaitSync(context.Background(), "md0", time.Millisecond, func(s *State) {
		seen = append(seen, fmt.Sprintf("%s %d/%d %d", s.SyncAction, s.SyncDone, s.SyncTotal, s.SyncSpeedKiB))
		if len(steps) > 0 {
			steps[0]()
			steps = steps[1:]
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"idle 0/0 0", "resync 21376/522240 21376", "resync 400000/522240 190000", "idle 0/0 0"}
	if d := cmp.Diff(want, seen); d != "" {
		t.Errorf("progress (-want +got):\n%s", d)
	}
	if !st.InSync() {
		t.Errorf("final state %+v not in sync", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.file(dir+"resync_start", "0")
	cancel()
	if _, err := k.WaitSync(ctx, "md0", time.Millisecond, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitSync(cancelled) = %v, want context.Canceled", err)
	}
}

func TestParsePersonalities(t *testing.T) {
	capture, err := os.ReadFile("testdata/mdstat-resync.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{string(capture), []string{"raid1", "raid10"}, ""},
		{"Personalities : \nunused devices: <none>\n", nil, ""},
		{"Personalities : [raid6] [raid5] [raid4] \n", []string{"raid6", "raid5", "raid4"}, ""},
		{"md0 : active raid1\n", nil, "want \"Personalities"},
		{"Personalities : raid1\n", nil, "want [name]"},
	}
	for _, tc := range tests {
		got, err := parsePersonalities(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parsePersonalities(%q) = %v, want error %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parsePersonalities(%q): %v", tc.in, err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("parsePersonalities(%q) (-want +got):\n%s", tc.in, d)
		}
	}
}

func TestParseSyncCompleted(t *testing.T) {
	tests := []struct {
		in          string
		done, total uint64
		err         bool
	}{
		{"none", 0, 0, false},
		{"delayed", 0, 0, false},
		{"21376 / 522240", 21376, 522240, false},
		{"0 / 253952", 0, 253952, false},
		{"12", 0, 0, true},
		{"a / b", 0, 0, true},
	}
	for _, tc := range tests {
		d, tot, err := parseSyncCompleted(tc.in)
		if (err != nil) != tc.err || d != tc.done || tot != tc.total {
			t.Errorf("parseSyncCompleted(%q) = %d, %d, %v, want %d, %d, err %v", tc.in, d, tot, err, tc.done, tc.total, tc.err)
		}
	}
}

func FuzzParsePersonalities(f *testing.F) {
	if b, err := os.ReadFile("testdata/mdstat-resync.txt"); err == nil {
		f.Add(string(b))
	}
	f.Add("Personalities : [raid1] [raid10] \n")
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := parsePersonalities(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if strings.ContainsAny(p, "[] \t") {
				t.Fatalf("personality %q from %q", p, s)
			}
		}
	})
}
