package modules

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"golang.org/x/sys/unix"
)

// compressed returns data compressed as c.
func compressed(t *testing.T, c Compression, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	switch c {
	case Gzip:
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
	case XZ:
		w, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case Zstd:
		w, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	default:
		return data
	}
	return b.Bytes()
}

// loaderFixture is a module tree in a temp dir: "plain" (a .ko) and one
// module per compression, plus a fake /proc/modules listing "resident".
type loaderFixture struct {
	ix    *Index
	proc  string
	calls []string
}

func newLoaderFixture(t *testing.T) *loaderFixture {
	t.Helper()
	root := t.TempDir()
	var mods []*Module
	for _, f := range []struct {
		name string
		c    Compression
		ext  string
	}{{"plain", None, ".ko"}, {"gz", Gzip, ".ko.gz"}, {"xzmod", XZ, ".ko.xz"}, {"zst", Zstd, ".ko.zst"}, {"resident", None, ".ko"}} {
		rel := "kernel/drivers/test/" + f.name + f.ext
		p := filepath.Join(root, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, compressed(t, f.c, []byte("image of "+f.name)), 0o644); err != nil {
			t.Fatal(err)
		}
		mods = append(mods, &Module{Name: f.name, Path: rel, Compression: f.c, order: len(mods)})
	}
	mods[0].Deps = []string{"resident"}
	mods[0].Info = Info{Vermagic: "6.1.0-99-amd64 SMP preempt mod_unload modversions ", Firmware: []string{"test/plain-fw.bin"}}
	ix := &Index{Root: root, Modules: mods, Builtin: []*Module{{Name: "rtc_cmos", Builtin: true}}, builtin: map[string]*Module{}}
	ix.builtin["rtc_cmos"] = ix.Builtin[0]
	ix.finish()
	proc := t.TempDir()
	os.WriteFile(filepath.Join(proc, "modules"), []byte("resident 16384 1 plain, Live 0x0000000000000000\nsnd 1 0 - Unloading 0x0\n"), 0o644)
	return &loaderFixture{ix: ix, proc: proc}
}

func (f *loaderFixture) loader(errno error, kmsg []string) *Loader {
	return &Loader{
		Index:    f.ix,
		ProcRoot: f.proc,
		FinitModule: func(fd int, params string, flags int) error {
			buf := make([]byte, 64)
			n, _ := unix.Pread(fd, buf, 0)
			f.calls = append(f.calls, "finit "+string(buf[:n])+" ["+params+"]")
			return errno
		},
		InitModule: func(image []byte, params string) error {
			f.calls = append(f.calls, "init "+string(image)+" ["+params+"]")
			return errno
		},
		Kmsg:    func() ([]string, error) { return kmsg, nil },
		Release: func() (string, error) { return "6.1.0-56-amd64", nil },
	}
}

func TestLoaderPaths(t *testing.T) {
	f := newLoaderFixture(t)
	l := f.loader(nil, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		name, params string
		want         Outcome
	}{
		{"plain", "a=1", Loaded},
		{"plain", "", AlreadyLoaded}, // the loader remembers
		{"gz", "", Loaded},
		{"xzmod", "b=2 c=3", Loaded},
		{"zst", "", Loaded},
		{"resident", "", AlreadyLoaded}, // from /proc/modules, no syscall
		{"rtc_cmos", "", Builtin},
	} {
		m, _ := f.ix.Lookup(tc.name)
		got, err := l.Load(ctx, m[0], tc.params)
		if err != nil || got != tc.want {
			t.Errorf("Load(%s) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	want := []string{
		"finit image of plain [a=1]",
		"init image of gz []",
		"init image of xzmod [b=2 c=3]",
		"init image of zst []",
	}
	if diff := cmp.Diff(want, f.calls); diff != "" {
		t.Errorf("syscalls (-want +got):\n%s", diff)
	}
	// EEXIST: loaded meanwhile by someone else, a success.
	f2 := newLoaderFixture(t)
	if got, err := f2.loader(syscall.EEXIST, nil).Load(ctx, f2.ix.Modules[1], ""); err != nil || got != AlreadyLoaded {
		t.Errorf("Load with EEXIST = %q, %v; want already loaded", got, err)
	}
}

func TestLoaderDiagnoses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		errno  error
		kmsg   []string
		module string
		want   LoadError
	}{
		{
			name: "unknown symbols from kmsg", errno: syscall.ENOENT, module: "plain",
			kmsg: []string{"other: Unknown symbol x (err -2)", "plain: Unknown symbol scsi_add_host_with_dma (err -2)", "plain: Unknown symbol scsi_remove_host (err -2)", "plain: Unknown symbol scsi_add_host_with_dma (err -2)"},
			want: LoadError{Module: "plain", Cause: CauseUnknownSymbol, Detail: "scsi_add_host_with_dma, scsi_remove_host", Err: syscall.ENOENT},
		},
		{
			name: "unknown symbol without kmsg names the missing dependency", errno: syscall.ENOENT, module: "plain",
			want: LoadError{Module: "plain", Cause: CauseInit, Err: syscall.ENOENT},
		},
		{
			name: "symbol versions", errno: syscall.EINVAL, module: "plain",
			kmsg: []string{"plain: disagrees about version of symbol module_layout"},
			want: LoadError{Module: "plain", Cause: CauseSymbolVersion, Detail: "module_layout", Err: syscall.EINVAL},
		},
		{
			name: "vermagic from modinfo and uname", errno: syscall.ENOEXEC, module: "plain",
			want: LoadError{Module: "plain", Cause: CauseVermagic, Detail: `module vermagic "6.1.0-99-amd64 SMP preempt mod_unload modversions ", running kernel "6.1.0-56-amd64"`, Err: syscall.ENOEXEC},
		},
		{
			name: "vermagic from kmsg", errno: syscall.ENOEXEC, module: "plain",
			kmsg: []string{"plain: version magic '6.1.0-99-amd64 SMP preempt mod_unload modversions ' should be '6.1.0-56-amd64 SMP preempt mod_unload modversions '"},
			want: LoadError{Module: "plain", Cause: CauseVermagic, Detail: `module vermagic "6.1.0-99-amd64 SMP preempt mod_unload modversions ", running kernel "6.1.0-56-amd64" (kernel wants "6.1.0-56-amd64 SMP preempt mod_unload modversions ")`, Err: syscall.ENOEXEC},
		},
		{
			name: "signature", errno: syscall.EKEYREJECTED, module: "gz",
			kmsg: []string{"Loading of unsigned module is rejected"},
			want: LoadError{Module: "gz", Cause: CauseSignature, Detail: "Loading of unsigned module is rejected", Err: syscall.EKEYREJECTED},
		},
		{
			name: "lockdown", errno: syscall.EPERM, module: "gz",
			kmsg: []string{"Lockdown: init: unsigned module loading is restricted; see man kernel_lockdown.7"},
			want: LoadError{Module: "gz", Cause: CauseLockdown, Detail: "Lockdown: init: unsigned module loading is restricted; see man kernel_lockdown.7", Err: syscall.EPERM},
		},
		{
			name: "firmware", errno: syscall.ENODEV, module: "plain",
			kmsg: []string{"plain 0000:00:05.0: Direct firmware load for test/plain-fw.bin failed with error -2", "plain 0000:00:05.0: probe failed"},
			want: LoadError{Module: "plain", Cause: CauseFirmware, Detail: "test/plain-fw.bin", Err: syscall.ENODEV},
		},
		{
			name: "init failure keeps the kernel's last word", errno: syscall.ENODEV, module: "zst",
			kmsg: []string{"zst: init failed: no hardware"},
			want: LoadError{Module: "zst", Cause: CauseInit, Detail: "zst: init failed: no hardware", Err: syscall.ENODEV},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newLoaderFixture(t)
			if tc.name == "unknown symbol without kmsg names the missing dependency" {
				// resident is not loaded in this variant.
				os.WriteFile(filepath.Join(f.proc, "modules"), nil, 0o644)
				tc.want = LoadError{Module: "plain", Cause: CauseUnknownSymbol, Detail: "dependency not loaded: resident", Err: syscall.ENOENT}
			}
			m, _ := f.ix.Module(tc.module)
			_, err := f.loader(tc.errno, tc.kmsg).Load(context.Background(), m, "")
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load(%s) error = %v, want a *LoadError", tc.module, err)
			}
			if diff := cmp.Diff(tc.want, *le, cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) })); diff != "" {
				t.Errorf("diagnosis (-want +got):\n%s", diff)
			}
			if !errors.Is(err, tc.errno) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.errno)
			}
		})
	}
}

func TestParseKmsg(t *testing.T) {
	data := []byte("4,1024,5000,-;megaraid_sas: Unknown symbol foo (err -2)\n SUBSYSTEM=pci\n6,1025,5001,c;hello; with semicolon\n")
	want := []string{"megaraid_sas: Unknown symbol foo (err -2)", "hello; with semicolon"}
	if diff := cmp.Diff(want, ParseKmsg(data)); diff != "" {
		t.Errorf("ParseKmsg (-want +got):\n%s", diff)
	}
}

func TestReadProcModules(t *testing.T) {
	f := newLoaderFixture(t)
	got, err := ReadProcModules(f.proc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"resident": true}, got); diff != "" {
		t.Errorf("ReadProcModules (-want +got):\n%s", diff)
	}
}

// TestUnloadAndLoadFile: the bisection's swap. Unload calls delete_module
// only for a loaded module; LoadFile inserts a file outside the index
// (decompressing it when its name says so) and refuses while the module is
// still loaded.
func TestUnloadAndLoadFile(t *testing.T) {
	f := newLoaderFixture(t)
	l := f.loader(nil, nil)
	var deleted []string
	l.DeleteModule = func(name string) error { deleted = append(deleted, name); return nil }
	ctx := context.Background()
	cand := filepath.Join(t.TempDir(), "0003-megaraid_sas.ko.zst")
	os.WriteFile(cand, compressed(t, Zstd, []byte("candidate 3")), 0o644)

	if _, err := l.LoadFile(ctx, "resident", cand, ""); err == nil || !strings.Contains(err.Error(), "loaded already") {
		t.Errorf("LoadFile over a loaded module = %v", err)
	}
	if err := l.Unload("nothere"); err != nil || len(deleted) != 0 {
		t.Errorf("Unload of a module not loaded: %v, delete_module %v", err, deleted)
	}
	if err := l.Unload("resident"); err != nil || len(deleted) != 1 {
		t.Fatalf("Unload(resident) = %v, delete_module %v", err, deleted)
	}
	if o, err := l.LoadFile(ctx, "resident", cand, "x=1"); err != nil || o != Loaded {
		t.Fatalf("LoadFile = %v, %v", o, err)
	}
	if want := "init candidate 3 [x=1]"; f.calls[len(f.calls)-1] != want {
		t.Errorf("syscall %q, want %q", f.calls[len(f.calls)-1], want)
	}
	if _, err := l.LoadFile(ctx, "other", filepath.Join(t.TempDir(), "notes.txt"), ""); err == nil || !strings.Contains(err.Error(), "not a kernel module file name") {
		t.Errorf("LoadFile of a non-module = %v", err)
	}
	busy := f.loader(nil, nil)
	busy.DeleteModule = func(string) error { return unix.EBUSY }
	if err := busy.Unload("resident"); !errors.Is(err, unix.EBUSY) {
		t.Errorf("Unload of a busy module = %v, want EBUSY", err)
	}
}
