package firmware

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// tree writes a fake unpacked package: entries "NAME" → content, or
// "NAME" → "->TARGET" for a symlink; names are under its lib/firmware
// unless they start with "/".
func tree(t *testing.T, entries map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range entries {
		p := filepath.Join(root, "lib/firmware", name)
		if strings.HasPrefix(name, "/") {
			p = filepath.Join(root, name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "->"); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func zstdBytes(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w, err := zstd.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func xzBytes(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	w, err := xz.NewWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func TestDeclare(t *testing.T) {
	got := Declare(map[string][]string{
		"bnx2x":  {"bnx2x/bnx2x-e2-7.13.21.0.fw", "bnx2x/bnx2x-e1-7.13.21.0.fw"},
		"cxgb4":  {"cxgb4/t4fw.bin"},
		"csiost": {"cxgb4/t4fw.bin", " "},
	})
	want := []Declared{
		{Name: "bnx2x/bnx2x-e1-7.13.21.0.fw", Modules: []string{"bnx2x"}},
		{Name: "bnx2x/bnx2x-e2-7.13.21.0.fw", Modules: []string{"bnx2x"}},
		{Name: "cxgb4/t4fw.bin", Modules: []string{"csiost", "cxgb4"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Declare (-want +got):\n%s", diff)
	}
}

func TestSelect(t *testing.T) {
	bnx2x := tree(t, map[string]string{
		"bnx2x/bnx2x-e1-7.13.21.0.fw": "e1",
		"bnx2x/bnx2x-e2-7.13.21.0.fw": "e2 firmware",
		"bnx2x/not-declared.fw":       "never taken",
	})
	misc := tree(t, map[string]string{
		"cxgb4/t4fw.bin":                 "->t4fw-1.27.1.0.bin",
		"cxgb4/t4fw-1.27.1.0.bin":        "t4",
		"netronome/nic_A.nffw":           "->nic/nic_A.nffw",
		"netronome/nic/nic_A.nffw":       "->../../abs/real.nffw",
		"abs/real.nffw":                  "nffw",
		"intel/ice/ddp/ice.pkg":          "->/lib/firmware/intel/ice/ddp/ice-1.3.30.0.pkg",
		"intel/ice/ddp/ice-1.3.30.0.pkg": "ice",
		"bnx2x/bnx2x-e1-7.13.21.0.fw":    "a second copy, shadowed by the first source",
	})
	merged := tree(t, map[string]string{"/usr/lib/firmware/qed/qed_init_values_zipped-8.59.1.0.bin": "qed"})
	compressed := tree(t, map[string]string{
		"rtl_nic/rtl8168h-2.fw.zst": zstdBytes(t, "rtl8168h"),
		"tigon/tg3.bin.xz":          xzBytes(t, "tg3 via xz"),
		"plain.bin":                 "plain wins",
		"plain.bin.zst":             zstdBytes(t, "not taken"),
	})
	sources := []Source{{"firmware-bnx2x", bnx2x}, {"firmware-misc-nonfree", misc}, {"firmware-qlogic", merged}, {"firmware-new", compressed}}
	declared := Declare(map[string][]string{
		"bnx2x":  {"bnx2x/bnx2x-e1-7.13.21.0.fw", "bnx2x/bnx2x-e2-7.13.21.0.fw"},
		"cxgb4":  {"cxgb4/t4fw.bin"},
		"nfp":    {"netronome/nic_A.nffw", "netronome/nic_B.nffw"},
		"ice":    {"intel/ice/ddp/ice.pkg"},
		"qed":    {"qed/qed_init_values_zipped-8.59.1.0.bin"},
		"r8169":  {"rtl_nic/rtl8168h-2.fw"},
		"tg3":    {"tigon/tg3.bin"},
		"x":      {"plain.bin"},
		"acenic": {"acenic/tg1.bin"},
	})
	sel, err := Select(declared, sources)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Name, Package, Src, Data, Link string }
	var got []row
	for _, f := range sel.Files {
		src := ""
		if f.Src != "" {
			b, err := os.ReadFile(f.Src)
			if err != nil {
				t.Fatal(err)
			}
			src = string(b)
		}
		if f.Link == "" && f.Size != int64(len(src)+len(f.Data)) {
			t.Errorf("%s: size %d, want %d", f.Name, f.Size, len(src)+len(f.Data))
		}
		got = append(got, row{f.Name, f.Package, src, string(f.Data), f.Link})
	}
	want := []row{
		{"abs/real.nffw", "firmware-misc-nonfree", "nffw", "", ""},
		{"bnx2x/bnx2x-e1-7.13.21.0.fw", "firmware-bnx2x", "e1", "", ""},
		{"bnx2x/bnx2x-e2-7.13.21.0.fw", "firmware-bnx2x", "e2 firmware", "", ""},
		{"cxgb4/t4fw-1.27.1.0.bin", "firmware-misc-nonfree", "t4", "", ""},
		{"cxgb4/t4fw.bin", "firmware-misc-nonfree", "", "", "t4fw-1.27.1.0.bin"},
		{"intel/ice/ddp/ice-1.3.30.0.pkg", "firmware-misc-nonfree", "ice", "", ""},
		{"intel/ice/ddp/ice.pkg", "firmware-misc-nonfree", "", "", "ice-1.3.30.0.pkg"},
		{"netronome/nic/nic_A.nffw", "firmware-misc-nonfree", "", "", "../../abs/real.nffw"},
		{"netronome/nic_A.nffw", "firmware-misc-nonfree", "", "", "nic/nic_A.nffw"},
		{"plain.bin", "firmware-new", "plain wins", "", ""},
		{"qed/qed_init_values_zipped-8.59.1.0.bin", "firmware-qlogic", "qed", "", ""},
		{"rtl_nic/rtl8168h-2.fw", "firmware-new", "", "rtl8168h", ""},
		{"tigon/tg3.bin", "firmware-new", "", "tg3 via xz", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Select files (-want +got):\n%s", diff)
	}
	wantMissing := []Declared{{"acenic/tg1.bin", []string{"acenic"}}, {"netronome/nic_B.nffw", []string{"nfp"}}}
	if diff := cmp.Diff(wantMissing, sel.Missing); diff != "" {
		t.Errorf("Select missing (-want +got):\n%s", diff)
	}
	if n := sel.Bytes(); n != int64(len("nffw")+len("e1")+len("e2 firmware")+len("t4")+len("ice")+len("plain wins")+len("qed")+len("rtl8168h")+len("tg3 via xz")) {
		t.Errorf("Bytes() = %d", n)
	}
}

func TestSelectRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries map[string]string
		decl    string
		want    string
	}{
		{"link out of the firmware dir", map[string]string{"a.bin": "->../../etc/passwd"}, "a.bin", "outside /lib/firmware"},
		{"absolute link elsewhere", map[string]string{"a.bin": "->/etc/passwd"}, "a.bin", "outside /lib/firmware"},
		{"dangling link", map[string]string{"a.bin": "->b.bin"}, "a.bin", "a.bin links to b.bin, which the package does not carry"},
		{"loop", map[string]string{"a.bin": "->b.bin", "b.bin": "->a.bin"}, "a.bin", "too many levels of links"},
		{"declared name escapes", map[string]string{"a.bin": "x"}, "../a.bin", "not a relative path under /lib/firmware"},
		{"a directory", map[string]string{"d/x": "x"}, "d", "not a file"},
		{"broken zstd", map[string]string{"a.bin.zst": "not zstd"}, "a.bin", "a.bin.zst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := []Source{{"firmware-x", tree(t, tc.entries)}}
			_, err := Select(Declare(map[string][]string{"m": {tc.decl}}), src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Select(%q) = %v, want an error containing %q", tc.decl, err, tc.want)
			}
		})
	}
}
