package initramfs

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/needle-boot/needle/internal/testenv"
	"github.com/ulikunitz/xz"
)

// record is one newc record as read back by readNewc.
type record struct {
	Name                         string
	Ino, Mode, UID, GID, Nlink   uint32
	Mtime, Size, RdevMaj, RdevMn uint32
	Data                         string
}

// readNewc is an independent newc reader for the tests.
func readNewc(t *testing.T, b []byte) []record {
	t.Helper()
	var out []record
	off := 0
	align := func() { off = (off + 3) &^ 3 }
	for {
		if off+110 > len(b) {
			t.Fatalf("truncated header at %d", off)
		}
		h := b[off : off+110]
		if string(h[:6]) != "070701" {
			t.Fatalf("bad magic %q at %d", h[:6], off)
		}
		f := func(i int) uint32 {
			v, err := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		r := record{Ino: f(0), Mode: f(1), UID: f(2), GID: f(3), Nlink: f(4), Mtime: f(5), Size: f(6), RdevMaj: f(9), RdevMn: f(10)}
		namesize := int(f(11))
		off += 110
		r.Name = string(b[off : off+namesize-1])
		off += namesize
		align()
		r.Data = string(b[off : off+int(r.Size)])
		off += int(r.Size)
		align()
		if r.Name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out = append(out, r)
	}
}

func TestArchiveRecords(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "tool")
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho hi\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	a := NewArchive()
	must(t, a.Copy("/usr/bin/tool", src))
	must(t, a.Bytes("etc/motd", 0o644, []byte("hello")))
	must(t, a.Symlink("bin/sh", "busybox"))
	must(t, a.CharDev("dev/console", 0o600, 5, 1))
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	got := readNewc(t, buf.Bytes())
	want := []record{
		{Name: "bin", Ino: 1, Mode: 0o40755, Nlink: 2},
		{Name: "bin/sh", Ino: 2, Mode: 0o120777, Nlink: 1, Size: 7, Data: "busybox"},
		{Name: "dev", Ino: 3, Mode: 0o40755, Nlink: 2},
		{Name: "dev/console", Ino: 4, Mode: 0o20600, Nlink: 1, RdevMaj: 5, RdevMn: 1},
		{Name: "etc", Ino: 5, Mode: 0o40755, Nlink: 2},
		{Name: "etc/motd", Ino: 6, Mode: 0o100644, Nlink: 1, Size: 5, Data: "hello"},
		{Name: "usr", Ino: 7, Mode: 0o40755, Nlink: 2},
		{Name: "usr/bin", Ino: 8, Mode: 0o40755, Nlink: 2},
		{Name: "usr/bin/tool", Ino: 9, Mode: 0o100750, Nlink: 1, Size: 18, Data: "#!/bin/sh\necho hi\n"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

// TestArchiveHostCpio checks the archive with GNU cpio, an independent
// reader, when the host has it.
func TestArchiveHostCpio(t *testing.T) {
	testenv.HostTool(t, "cpio")
	a := NewArchive()
	must(t, a.Bytes("a/b/c.txt", 0o644, []byte("abc")))
	must(t, a.Symlink("a/link", "b/c.txt"))
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("cpio", "-it", "--quiet")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -it: %v: %s", err, out)
	}
	if got, want := strings.Fields(string(out)), []string{"a", "a/b", "a/b/c.txt", "a/link"}; !cmp.Equal(got, want) {
		t.Errorf("cpio -it = %q, want %q", got, want)
	}
}

func TestArchiveConflicts(t *testing.T) {
	a := NewArchive()
	must(t, a.Bytes("etc/x", 0o644, []byte("one")))
	must(t, a.Bytes("etc/x", 0o644, []byte("one"))) // identical: fine
	if err := a.Bytes("etc/x", 0o644, []byte("two")); err == nil || !strings.Contains(err.Error(), "etc/x added twice") {
		t.Errorf("second etc/x with other content: err = %v, want 'added twice'", err)
	}
	if err := a.Bytes("etc/x/y", 0o644, nil); err == nil || !strings.Contains(err.Error(), "needs directory etc/x") {
		t.Errorf("etc/x/y under a file: err = %v", err)
	}
	if err := a.Bytes("/", 0o644, nil); err == nil {
		t.Errorf("adding / succeeded")
	}
}

// TestDeterministic builds the same spec twice from copies of the inputs
// that differ in mtime and atime, for every codec: the bytes must match.
func TestDeterministic(t *testing.T) {
	mk := func(dir string, mtime time.Time) Spec {
		init := filepath.Join(dir, "init")
		tool := filepath.Join(dir, "tool")
		must(t, os.WriteFile(init, bytes.Repeat([]byte("init binary "), 5000), 0o755))
		must(t, os.WriteFile(tool, []byte("tool"), 0o700))
		must(t, os.Chtimes(init, mtime, mtime))
		must(t, os.Chtimes(tool, mtime, mtime))
		return Spec{Init: init, Files: []File{{Src: tool, Dest: "bin/tool"}}, Version: "test"}
	}
	s1 := mk(t.TempDir(), time.Unix(1000, 0))
	s2 := mk(t.TempDir(), time.Now())
	for _, codec := range Codecs {
		t.Run(codec, func(t *testing.T) {
			var b1, b2 bytes.Buffer
			for _, x := range []struct {
				s Spec
				b *bytes.Buffer
			}{{s1, &b1}, {s2, &b2}} {
				a, err := x.s.Archive()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := a.Write(x.b, codec); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
				t.Fatalf("%s: two builds differ (%d vs %d bytes)", codec, b1.Len(), b2.Len())
			}
			raw := decompress(t, codec, b1.Bytes())
			recs := readNewc(t, raw)
			for _, r := range recs {
				if r.Mtime != 0 || r.UID != 0 || r.GID != 0 {
					t.Errorf("%s: mtime %d uid %d gid %d, want zeros", r.Name, r.Mtime, r.UID, r.GID)
				}
			}
		})
	}
}

func decompress(t *testing.T, codec string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch codec {
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(b))
		r = d
	case "xz":
		// The kernel's decoder wants the CRC32 check: stream flags byte 7.
		if b[7] != 0x01 {
			t.Errorf("xz check type %#x, want 0x01 (CRC32)", b[7])
		}
		r, err = xz.NewReader(bytes.NewReader(b))
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(b))
	default:
		return b
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", codec, err)
	}
	return out
}

func TestSpecLayout(t *testing.T) {
	dir := t.TempDir()
	bin := func(name string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(name), 0o755))
		return p
	}
	moddir := filepath.Join(dir, "modules")
	must(t, os.MkdirAll(filepath.Join(moddir, "kernel/drivers/block"), 0o755))
	must(t, os.WriteFile(filepath.Join(moddir, "kernel/drivers/block/virtio_blk.ko"), []byte("ko"), 0o644))
	must(t, os.WriteFile(filepath.Join(moddir, "modules.builtin"), []byte("kernel/fs/ext4/ext4.ko\n"), 0o644))
	s := Spec{
		Init: bin("init"), Needle: bin("needle"), Busybox: bin("busybox"),
		Applets:       []string{"sh", "ls", "init", "needle"},
		KernelRelease: "6.1.0-test", ModulesDir: moddir,
		Modules: []string{"kernel/drivers/block/virtio_blk.ko"},
		Files:   []File{{Dest: "lib/firmware/cxgb4/t4fw.bin", Link: "t4fw-1.27.1.0.bin"}},
	}
	a, err := s.Archive()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"init", "bin/needle", "bin/busybox", "bin/sh", "bin/ls", "dev/console", "dev/null", "etc/profile",
		"lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko", "lib/modules/6.1.0-test/modules.builtin"} {
		if !a.Has(p) {
			t.Errorf("image lacks %s", p)
		}
	}
	// busybox must not shadow needle's init nor its CLI.
	if e := a.entries["bin/needle"]; e.Mode&modeType != modeFile {
		t.Errorf("bin/needle is a %s, want the needle binary", kind(e.Mode))
	}
	if a.Has("bin/init") {
		t.Errorf("busybox init applet linked into the image")
	}
	if e := a.entries["lib/firmware/cxgb4/t4fw.bin"]; e == nil || e.Mode&modeType != modeSymlink || e.Link != "t4fw-1.27.1.0.bin" {
		t.Errorf("lib/firmware/cxgb4/t4fw.bin = %+v, want a symlink to t4fw-1.27.1.0.bin", e)
	}
}

// TestELFClosure resolves a dynamic host binary and runs it from an
// unpacked image with chroot, proving the closure is complete.
func TestELFClosure(t *testing.T) {
	bin, err := exec.LookPath("ls")
	if err != nil {
		t.Skip("no ls on the host")
	}
	libs, err := ELFClosure("/", bin)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range libs {
		names = append(names, filepath.Base(l.Path))
	}
	joined := strings.Join(names, " ")
	for _, want := range []string{"libc.so.6", "ld-linux-x86-64.so.2"} {
		if !strings.Contains(joined, want) {
			t.Errorf("closure of %s = %v, lacks %s", bin, names, want)
		}
	}
	a := NewArchive()
	must(t, a.AddELF("bin/ls", bin, "/"))
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Logf("not root: the chroot run of the unpacked image is left out")
		return
	}
	root := t.TempDir()
	cmd := exec.Command("cpio", "-idm", "--quiet")
	cmd.Dir, cmd.Stdin = root, &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v: %s", err, out)
	}
	out, err := exec.Command("chroot", root, "/bin/ls", "/").CombinedOutput()
	if err != nil {
		t.Fatalf("chroot %s /bin/ls: %v: %s", root, err, out)
	}
	if !strings.Contains(string(out), "bin") {
		t.Errorf("ls / in the image printed %q", out)
	}
}

func TestELFClosureMissingLib(t *testing.T) {
	bin, err := exec.LookPath("ls")
	if err != nil {
		t.Skip("no ls on the host")
	}
	// An empty root has none of the libraries: the error names what is missing.
	_, err = ELFClosure(t.TempDir(), bin)
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("closure in an empty root: err = %v, want not found", err)
	}
}

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "usr/lib/x86_64-linux-gnu"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "usr/lib/x86_64-linux-gnu/libz.so.1.2"), nil, 0o644))
	must(t, os.Symlink("usr/lib", filepath.Join(root, "lib")))                                    // merged /usr, relative
	must(t, os.Symlink("libz.so.1.2", filepath.Join(root, "usr/lib/x86_64-linux-gnu/libz.so.1"))) // soname link
	must(t, os.Symlink("/../../usr/lib/x86_64-linux-gnu/libz.so.1", filepath.Join(root, "escape")))
	for _, tc := range []struct{ in, want string }{
		{"/lib/x86_64-linux-gnu/libz.so.1", "usr/lib/x86_64-linux-gnu/libz.so.1.2"},
		{"/escape", "usr/lib/x86_64-linux-gnu/libz.so.1.2"}, // cannot leave root
	} {
		got, err := resolveIn(root, tc.in)
		if err != nil {
			t.Errorf("resolveIn(%q): %v", tc.in, err)
			continue
		}
		if want := filepath.Join(root, tc.want); got != want {
			t.Errorf("resolveIn(%q) = %q, want %q", tc.in, got, want)
		}
	}
	must(t, os.Symlink("loop", filepath.Join(root, "loop")))
	if _, err := resolveIn(root, "/loop"); err == nil {
		t.Errorf("resolveIn of a symlink loop succeeded")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
