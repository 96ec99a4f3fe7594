package modules

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/testenv"
)

// TestBuildOverlayAndCompression builds a small tree from reference kernel
// modules: some compressed (xz, zstd), and an overlay of megaraid_sas under
// updates/ that must win over kernel/. The text indexes must equal what
// depmod writes for the same tree.
func TestBuildOverlayAndCompression(t *testing.T) {
	src, kver := referenceKernel(t)
	depmod := testenv.HostTool(t, "depmod")
	base := t.TempDir()
	root := filepath.Join(base, "lib", "modules", kver)
	put := func(from, to string, c Compression) {
		data, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, to)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, compressed(t, c, data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []struct {
		from, to string
		c        Compression
	}{
		{"kernel/drivers/scsi/scsi_common.ko", "kernel/drivers/scsi/scsi_common.ko", None},
		{"kernel/drivers/scsi/scsi_mod.ko", "kernel/drivers/scsi/scsi_mod.ko.xz", XZ},
		{"kernel/drivers/scsi/megaraid/megaraid_sas.ko", "kernel/drivers/scsi/megaraid/megaraid_sas.ko", None},
		{"kernel/drivers/scsi/megaraid/megaraid_sas.ko", "updates/megaraid_sas.ko.zst", Zstd},
		{"kernel/lib/crc16.ko", "kernel/lib/crc16.ko.zst", Zstd},
		{"kernel/fs/mbcache.ko", "kernel/fs/mbcache.ko", None},
		{"kernel/fs/jbd2/jbd2.ko", "kernel/fs/jbd2/jbd2.ko.xz", XZ},
		{"kernel/fs/ext4/ext4.ko", "kernel/fs/ext4/ext4.ko", None},
		{"modules.order", "modules.order", None},
		{"modules.builtin", "modules.builtin", None},
		{"modules.builtin.modinfo", "modules.builtin.modinfo", None},
	} {
		put(f.from, f.to, f.c)
	}
	ix, err := Build(root, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mega, ok := ix.Module("megaraid_sas")
	if !ok || mega.Path != "updates/megaraid_sas.ko.zst" || mega.Compression != Zstd {
		t.Errorf("megaraid_sas = %+v, want the zstd overlay under updates/", mega)
	}
	if mega.Info.Version == "" || mega.Info.Vermagic == "" || len(mega.Info.Alias) == 0 {
		t.Errorf("megaraid_sas modinfo not parsed from the zstd file: %+v", mega.Info)
	}
	if out, err := exec.Command(depmod, "-b", base, kver).CombinedOutput(); err != nil {
		t.Fatalf("depmod: %v\n%s", err, out)
	}
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{DepFile, func(b *bytes.Buffer) error { return ix.WriteDep(b) }},
		{AliasFile, func(b *bytes.Buffer) error { return ix.WriteAlias(b) }},
		{SoftdepFile, func(b *bytes.Buffer) error { return ix.WriteSoftdep(b) }},
	} {
		want, err := os.ReadFile(filepath.Join(root, f.name))
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		f.write(&got)
		if diff := cmp.Diff(string(want), got.String()); diff != "" {
			t.Errorf("%s vs depmod (-want +got):\n%s", f.name, diff)
		}
	}
	// Round trip through the text files.
	back, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(names(ix.Modules), names(back.Modules)); diff != "" {
		t.Errorf("Load(written files) modules (-want +got):\n%s", diff)
	}
	for i, m := range back.Modules {
		if diff := cmp.Diff(ix.Modules[i].Deps, m.Deps); diff != "" {
			t.Errorf("%s deps after Load (-want +got):\n%s", m.Name, diff)
		}
	}
}

// TestParseGzip checks a gzip module parses like the plain file (Debian's
// depmod is built without zlib, so this one has no depmod oracle).
func TestParseGzip(t *testing.T) {
	src, _ := referenceKernel(t)
	plain := filepath.Join(src, "kernel/drivers/scsi/scsi_common.ko")
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(t.TempDir(), "scsi_common.ko.gz")
	os.WriteFile(gz, compressed(t, Gzip, data), 0o644)
	want, _, err := parseFile(plain, None)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := parseFile(gz, Gzip)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(object{})); diff != "" {
		t.Errorf("gzip parse (-plain +gzip):\n%s", diff)
	}
	img, err := ReadImage(gz)
	if err != nil || !bytes.Equal(img, data) {
		t.Errorf("ReadImage(gz) = %d bytes, %v; want the %d plain bytes", len(img), err, len(data))
	}
}

func TestParseModinfo(t *testing.T) {
	sec := []byte("version=1.0\x00\x00\x00license=GPL\x00alias=pci:v00001000d00000079sv*sd*bc*sc*i*\x00depends=scsi_mod,scsi_common\x00softdep=pre: crc32c\x00firmware=a.bin\x00parm=x:an int (int)\x00vermagic=6.1.0-56-amd64 SMP \x00name=megaraid_sas\x00srcversion=ABC\x00depends=\x00junk\x00")
	want := Info{Name: "megaraid_sas", Vermagic: "6.1.0-56-amd64 SMP ", Version: "1.0", Srcversion: "ABC", License: "GPL",
		Alias: []string{"pci:v00001000d00000079sv*sd*bc*sc*i*"}, Depends: []string{"scsi_mod", "scsi_common"},
		Softdep: []string{"pre: crc32c"}, Firmware: []string{"a.bin"}, Parm: []string{"x:an int (int)"}}
	if diff := cmp.Diff(want, ParseModinfo(sec)); diff != "" {
		t.Errorf("ParseModinfo (-want +got):\n%s", diff)
	}
}

func FuzzParseModinfo(f *testing.F) {
	f.Add([]byte("alias=x\x00depends=a,b\x00softdep=pre: c post: d\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := ParseModinfo(b)
		for _, d := range in.Depends {
			if d == "" {
				t.Errorf("empty dependency from %q", b)
			}
		}
	})
}
