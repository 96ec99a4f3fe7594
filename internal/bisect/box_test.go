package bisect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/needle-boot/needle/internal/toolrun"
	"github.com/needle-boot/needle/modules"
)

const addr = "0000:00:03.0"

// fakeSys is a sysfs with megaraid_sas bound to one controller that has
// two disks; bind and unbind move the driver link and the disks.
type fakeSys struct{ root string }

func newFakeSys(t *testing.T) *fakeSys {
	f := &fakeSys{root: t.TempDir()}
	for _, d := range []string{"sda", "sdb"} {
		dev := filepath.Join(f.root, "devices/pci0000:00", addr, "host0/target0:2:0", d)
		os.MkdirAll(dev, 0o755)
	}
	os.MkdirAll(filepath.Join(f.root, "class/block"), 0o755)
	os.MkdirAll(filepath.Join(f.root, "bus/pci/drivers/megaraid_sas"), 0o755)
	f.bind(true)
	return f
}

func (f *fakeSys) bind(on bool) {
	link := filepath.Join(f.root, "bus/pci/drivers/megaraid_sas", addr)
	for _, d := range []string{"sda", "sdb"} {
		l := filepath.Join(f.root, "class/block", d)
		os.Remove(l)
		if on {
			os.Symlink("../../devices/pci0000:00/"+addr+"/host0/target0:2:0/"+d, l)
		}
	}
	os.Remove(link)
	if on {
		os.Symlink("../../../../devices/pci0000:00/"+addr, link)
	}
}

// fakeModules records the swaps and binds the fake sysfs as the kernel
// would; refuse makes LoadFile fail for a candidate file.
type fakeModules struct {
	sys    *fakeSys
	log    []string
	refuse string
}

func (f *fakeModules) Unload(name string) error {
	f.log = append(f.log, "unload "+name)
	f.sys.bind(false)
	return nil
}

func (f *fakeModules) LoadFile(_ context.Context, name, path, _ string) (modules.Outcome, error) {
	f.log = append(f.log, "load "+filepath.Base(path))
	if f.refuse != "" && strings.Contains(path, f.refuse) {
		return "", &modules.LoadError{Module: name, Cause: modules.CauseUnknownSymbol, Detail: path, Err: errors.New("ENOENT")}
	}
	f.sys.bind(true)
	return modules.Loaded, nil
}

// probeBy answers the probe per loaded candidate file.
type probeBy struct {
	mods *fakeModules
	out  map[string]error // candidate file → the probe's error
}

func (p probeBy) Run(context.Context, string, ...string) ([]byte, error) {
	last := p.mods.log[len(p.mods.log)-1]
	return nil, p.out[strings.TrimPrefix(last, "load ")]
}

// writeSet writes a bisection set of n patches into a directory.
func writeSet(t *testing.T, n int) string {
	dir := t.TempDir()
	m := Manifest{Module: "megaraid_sas", Kernel: "6.1.0-57-amd64", Probe: "probe"}
	for i := 0; i <= n; i++ {
		ko := []byte(fmt.Sprintf("FAKE module %d", i))
		rel := fmt.Sprintf("%04d/megaraid_sas.ko", i)
		os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
		os.WriteFile(filepath.Join(dir, rel), ko, 0o644)
		sum := sha256.Sum256(ko)
		c := Candidate{Index: i, Module: &File{Path: rel, SHA256: hex.EncodeToString(sum[:])}}
		if i > 0 {
			c.Patch = fmt.Sprintf("%04d-p.patch", i)
		}
		m.Candidates = append(m.Candidates, c)
	}
	b, _ := json.Marshal(m)
	os.WriteFile(filepath.Join(dir, ManifestFile), b, 0o644)
	return dir
}

func newBox(t *testing.T, src string) (*Box, *fakeModules, *fakeSys) {
	sys := newFakeSys(t)
	mods := &fakeModules{sys: sys}
	b := &Box{Root: sysroot.Root{Sys: sys.root}, Source: src, Dir: t.TempDir(), Modules: mods,
		Holders: func(string) ([]disk.Holder, error) { return nil, nil }, Settle: time.Second}
	return b, mods, sys
}

func TestBoxBisects(t *testing.T) {
	src := writeSet(t, 6)
	b, mods, _ := newBox(t, src)
	segv := &toolrun.Error{Argv: []string{"sh"}, ExitCode: -1, Signal: "segmentation fault", SignalNo: 11}
	out := map[string]error{}
	for i := 0; i < 4; i++ {
		out[fmt.Sprintf("%04d-megaraid_sas.ko", i)] = segv
	}
	b.Probe = probeBy{mods: mods, out: out}
	m, err := b.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	a, err := Search(context.Background(), m, b.Test, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.First == nil || a.First.Index != 4 || a.Base.How != "killed by signal 11 (segmentation fault)" || a.Full.How != "exit status 0" {
		t.Errorf("answer: first %v, base %q, full %q", a.First, a.Base.How, a.Full.How)
	}
	// Every step unloads the driver first, then loads the candidate.
	for i := 0; i < len(mods.log); i += 2 {
		if mods.log[i] != "unload megaraid_sas" || !strings.HasPrefix(mods.log[i+1], "load ") {
			t.Fatalf("swap order: %v", mods.log)
		}
	}
}

func TestBoxRefusesAHeldDisk(t *testing.T) {
	b, mods, _ := newBox(t, writeSet(t, 2))
	b.Holders = func(d string) ([]disk.Holder, error) {
		if d == "sdb" {
			return []disk.Holder{{Kind: "mount", Name: "/srv", Device: "sdb1"}}, nil
		}
		return nil, nil
	}
	m, err := b.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Test(context.Background(), m.Candidates[0])
	if err == nil || !strings.Contains(err.Error(), "its disk /dev/sdb is in use (mount /srv on sdb1)") || errors.Is(err, ErrUntestable) {
		t.Errorf("Test with a mounted disk = %v, want a refusal naming /dev/sdb and the mount", err)
	}
	if len(mods.log) != 0 {
		t.Errorf("the driver was touched: %v", mods.log)
	}
}

func TestBoxSkipsWhatDoesNotLoad(t *testing.T) {
	b, mods, _ := newBox(t, writeSet(t, 2))
	mods.refuse = "0001-"
	b.Probe = probeBy{mods: mods, out: map[string]error{}}
	m, err := b.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Test(context.Background(), m.Candidates[1]); !errors.Is(err, ErrUntestable) || !strings.Contains(err.Error(), "unknown symbol") {
		t.Errorf("a candidate the kernel refuses: %v, want untestable with the cause", err)
	}
}

func TestBoxChecksDigests(t *testing.T) {
	src := writeSet(t, 2)
	os.WriteFile(filepath.Join(src, "0002/megaraid_sas.ko"), []byte("tampered"), 0o644)
	b, mods, _ := newBox(t, src)
	b.Probe = probeBy{mods: mods, out: map[string]error{}}
	m, err := b.Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Test(context.Background(), m.Candidates[2]); err == nil || !strings.Contains(err.Error(), "the manifest says") {
		t.Errorf("tampered candidate: %v", err)
	}
}

func TestProbeVerdicts(t *testing.T) {
	b, _, _ := newBox(t, writeSet(t, 1))
	if _, err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		good bool
		how  string
	}{
		{nil, true, "exit status 0"},
		{&toolrun.Error{ExitCode: 3}, false, "exit status 3"},
		{&toolrun.Error{ExitCode: 139}, false, "killed by signal 11 (segmentation fault)"},
		{&toolrun.Error{ExitCode: -1, Signal: "aborted", SignalNo: 6}, false, "killed by signal 6 (aborted)"},
		{&toolrun.Error{ExitCode: -1, TimedOut: true, Timeout: time.Minute, Signal: "killed", SignalNo: 9}, false, "timed out after 1m0s"},
	} {
		b.Probe = runnerFunc(func() error { return tc.err })
		good, how, err := b.probe(context.Background())
		if err != nil || good != tc.good || how != tc.how {
			t.Errorf("probe %v: %v %q %v, want %v %q", tc.err, good, how, err, tc.good, tc.how)
		}
	}
	b.Probe = runnerFunc(func() error { return &toolrun.Error{ExitCode: -1, Err: errors.New("no /bin/sh")} })
	if _, _, err := b.probe(context.Background()); err == nil {
		t.Error("a probe that cannot start must stop the bisection")
	}
}

type runnerFunc func() error

func (f runnerFunc) Run(context.Context, string, ...string) ([]byte, error) { return nil, f() }
