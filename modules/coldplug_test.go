package modules

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// coldplugModules are the drivers of needle's QEMU machines; testdata/index
// holds the reference kernel's text indexes cut to their closure.
var coldplugModules = []string{"virtio_pci", "virtio_net", "virtio_blk", "virtio_scsi", "e1000", "megaraid_sas", "ahci", "nvme", "mptsas", "xhci_pci", "usb_storage", "uas", "ext4"}

// TestIndexSubsetGolden cuts the reference kernel's index to the closure of
// coldplugModules and compares the written text indexes with
// testdata/index (rewritten with -update). The coldplug test reads them.
func TestIndexSubsetGolden(t *testing.T) {
	ix := referenceIndex(t)
	mods, err := Closure(ix, coldplugModules)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ix.Subset(mods)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := sub.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "index")
	files := []string{DepFile, AliasFile, SoftdepFile, BuiltinFile}
	if *update {
		if err := os.MkdirAll(golden, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			copyFile(t, filepath.Join(dir, f), filepath.Join(golden, f))
		}
		copyFile(t, filepath.Join(ix.Root, "modules.builtin.modinfo"), filepath.Join(golden, "modules.builtin.modinfo"))
	}
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join(golden, f))
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, f))
		if diff := cmp.Diff(string(want), string(got)); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", f, diff)
		}
	}
	// The subset must be self-contained: Load resolves every dependency.
	if _, err := Load(dir); err != nil {
		t.Errorf("Load(subset): %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies a testdata tree (dirs, files, symlinks) into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			os.Remove(to)
			return os.Symlink(target, to)
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, b, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fakeLoader records loads, fails the modules in fail, and plays the
// kernel's part of making devices appear: loading M copies
// testdata/hotplug/M into the sysfs tree.
type fakeLoader struct {
	t      *testing.T
	sysfs  string
	fail   map[string]error
	loaded map[string]bool
	calls  []string
}

func (f *fakeLoader) Load(_ context.Context, m *Module, params string) (Outcome, error) {
	if m.Builtin {
		return Builtin, nil
	}
	if f.loaded[m.Name] {
		return AlreadyLoaded, nil
	}
	call := m.Name
	if params != "" {
		call += " " + params
	}
	f.calls = append(f.calls, call)
	if err := f.fail[m.Name]; err != nil {
		return "", err
	}
	f.loaded[m.Name] = true
	hot := filepath.Join("testdata", "hotplug", m.Name)
	if _, err := os.Stat(hot); err == nil {
		copyTree(f.t, hot, f.sysfs)
	}
	return Loaded, nil
}

// TestColdplug runs coldplug over the fake QEMU sysfs tree with the
// reference kernel's (cut) index and a recording loader.
func TestColdplug(t *testing.T) {
	ix, err := Load(filepath.Join("testdata", "index"))
	if err != nil {
		t.Fatal(err)
	}
	megaFail := &LoadError{Module: "megaraid_sas", Cause: CauseVermagic, Detail: `module vermagic "6.1.0-99-amd64 SMP", running kernel "6.1.0-56-amd64"`, Err: syscall.ENOEXEC}
	overlay := DeciderFunc(func(d Device) (Decision, bool, error) {
		if strings.HasPrefix(d.Modalias, "pci:v00001000d00000079sv00001000sd00009261") {
			return Decision{Module: "megaraid_sas", Params: "msix_disable=1", Blacklist: []string{"mptsas"}, Rule: "hwdb/test.yaml:3", Overlay: true}, true, nil
		}
		return Decision{}, false, nil
	})
	for _, tc := range []struct {
		name    string
		decider Decider
		fail    map[string]error
		// The drivers that must have been loaded (calls of the fake
		// loader, with parameters), and those that must not.
		wantLoaded, wantNotLoaded []string
		wantFailed                []string
	}{
		{
			name:       "stock",
			wantLoaded: []string{"e1000", "virtio_pci", "megaraid_sas", "nvme", "mptsas", "xhci_pci", "ahci", "virtio_net", "virtio_blk", "uas", "usb_storage"},
		},
		{
			name:    "overlay rule and a failing module",
			decider: overlay,
			fail:    map[string]error{"megaraid_sas": megaFail},
			// The rule's parameters reach the overlay, its blacklist keeps
			// mptsas out, the failure is reported and the rest go on.
			wantLoaded:    []string{"e1000", "virtio_pci", "megaraid_sas msix_disable=1", "nvme", "xhci_pci", "ahci", "virtio_net", "virtio_blk", "uas"},
			wantNotLoaded: []string{"mptsas"},
			wantFailed:    []string{"megaraid_sas"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sysfs := t.TempDir()
			copyTree(t, filepath.Join("testdata", "sysfs"), sysfs)
			fl := &fakeLoader{t: t, sysfs: sysfs, fail: tc.fail, loaded: map[string]bool{}}
			var logBuf bytes.Buffer
			log := slog.New(slog.NewTextHandler(io.MultiWriter(&logBuf, tWriter{t}), &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				},
			}))
			cp := &Coldplug{Index: ix, SysfsRoot: sysfs, Loader: fl, Decider: tc.decider, Log: log}
			rep, err := cp.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Rounds != 2 {
				t.Errorf("rounds with new devices = %d, want 2 (PCI, then virtio and USB)", rep.Rounds)
			}
			for _, m := range tc.wantLoaded {
				if !slices.Contains(fl.calls, m) {
					t.Errorf("%s was not loaded; loads: %q", m, fl.calls)
				}
			}
			for _, m := range tc.wantNotLoaded {
				if slices.Contains(fl.calls, m) {
					t.Errorf("%s was loaded; loads: %q", m, fl.calls)
				}
			}
			var failed []string
			for _, r := range rep.Failed() {
				failed = append(failed, r.Module)
			}
			if diff := cmp.Diff(tc.wantFailed, failed); diff != "" {
				t.Errorf("failed modules (-want +got):\n%s", diff)
			}
			var lines []string
			for _, r := range rep.Results {
				line := fmt.Sprintf("round %d %s [%s] rule=%q alias=%q module=%s overlay=%v outcome=%q", r.Round, r.Device, r.Modalias, r.Rule, r.Alias, r.Module, r.Overlay, r.Outcome)
				if r.Err != nil {
					line += " err=" + r.Err.Error()
				}
				lines = append(lines, line)
			}
			lines = append(lines, "loads: "+strings.Join(fl.calls, " "))
			got := strings.Join(lines, "\n") + "\n"
			golden := filepath.Join("testdata", "coldplug", strings.ReplaceAll(tc.name, " ", "_")+".golden")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
		})
	}
}

// tWriter routes log output to t.Log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestDevicePCI(t *testing.T) {
	for _, tc := range []struct {
		alias string
		want  PCIID
		ok    bool
	}{
		{"pci:v00001000d00000072sv00001028sd00001F1Cbc01sc07i00", PCIID{0x1000, 0x0072, 0x1028, 0x1f1c, 0x010700}, true},
		{"pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", PCIID{0x8086, 0x100e, 0x1af4, 0x1100, 0x020000}, true},
		{"virtio:d00000001v00001AF4", PCIID{}, false},
		{"pci:v0000", PCIID{}, false},
	} {
		got, ok := Device{Modalias: tc.alias}.PCI()
		if ok != tc.ok || got != tc.want {
			t.Errorf("Device{%q}.PCI() = %+v, %v; want %+v, %v", tc.alias, got, ok, tc.want, tc.ok)
		}
	}
}

// TestColdplugRoundBound stops after MaxRounds even though loading
// virtio_pci made new devices appear.
func TestColdplugRoundBound(t *testing.T) {
	ix, err := Load(filepath.Join("testdata", "index"))
	if err != nil {
		t.Fatal(err)
	}
	sysfs := t.TempDir()
	copyTree(t, filepath.Join("testdata", "sysfs"), sysfs)
	fl := &fakeLoader{t: t, sysfs: sysfs, loaded: map[string]bool{}}
	rep, err := (&Coldplug{Index: ix, SysfsRoot: sysfs, Loader: fl, MaxRounds: 1}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rounds != 1 || slices.Contains(fl.calls, "virtio_net") || !slices.Contains(fl.calls, "virtio_pci") {
		t.Errorf("MaxRounds 1: rounds %d, loads %q; want 1 round with virtio_pci and without virtio_net", rep.Rounds, fl.calls)
	}
}
