package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/needle-boot/needle/initramfs"
)

const sumA = "3f0e8b2c1d4a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344"

func TestParseLock(t *testing.T) {
	good := "# build.lock\n\nkernel linux-image-6.1.0-57-amd64 6.1.192-3 " + sumA + "\nbusybox  busybox-static  1:1.35.0-4+deb12u1+b1  " + sumA + "\n"
	got, err := ParseLock("build.lock", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []LockEntry{{"kernel", "linux-image-6.1.0-57-amd64", "6.1.192-3", sumA}, {"busybox", "busybox-static", "1:1.35.0-4+deb12u1+b1", sumA}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseLock (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ in, want string }{
		{"kernel linux-image 6.1\n", "build.lock:1: 3 fields, want ROLE PACKAGE VERSION SHA256"},
		{"kernel p v " + strings.ToUpper(sumA) + "\n", "build.lock:1: kernel: sha256"},
		{"a p v " + sumA + "\n\na q w " + sumA + "\n", "build.lock:3: role a already pinned on line 1"},
		{"# only comments\n", "build.lock: no entries"},
	} {
		if _, err := ParseLock("build.lock", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseLock(%q) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// fakeKo compiles a relocatable ELF object whose .modinfo holds the given
// strings, as a kernel module's does (gcc, the compiler Kbuild uses).
func fakeKo(t *testing.T, modinfo string) string {
	t.Helper()
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("gcc not installed (host-packages.txt)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "m.c")
	lit := strings.ReplaceAll(modinfo, "\x00", `\0`)
	if err := os.WriteFile(src, []byte(`static const char mi[] __attribute__((section(".modinfo"), used)) = "`+lit+`";`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ko := filepath.Join(dir, "m.ko")
	if out, err := exec.Command(cc, "-c", "-o", ko, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return ko
}

func TestFromArchive(t *testing.T) {
	stock := fakeKo(t, "version=07.719.03.00-rc1\x00srcversion=AAAA\x00name=megaraid_sas\x00")
	over := fakeKo(t, "version=07.719.03.00-rc1-needle1\x00srcversion=BBBB\x00name=megaraid_sas\x00")
	a := initramfs.NewArchive()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(a.Bytes("etc/needle/version", 0o644, []byte("v1\n")))
	must(a.Copy("lib/modules/6.1.0-57-amd64/kernel/drivers/scsi/megaraid/megaraid_sas.ko", stock))
	must(a.Copy("lib/modules/6.1.0-57-amd64/updates/megaraid_sas.ko", over))
	must(a.Symlink("bin/sh", "busybox"))
	lock := []LockEntry{{"kernel", "linux-image-6.1.0-57-amd64", "6.1.192-3", sumA}}
	m, err := FromArchive(a, "v1", "6.1.0-57-amd64", lock, nil)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]File{}
	for _, f := range m.Files {
		byPath[f.Path] = f
	}
	v := byPath["etc/needle/version"]
	if want := sha256.Sum256([]byte("v1\n")); v.SHA256 != hex.EncodeToString(want[:]) || v.Size != 3 || v.Mode != "100644" {
		t.Errorf("etc/needle/version = %+v, want its sha256, size 3, mode 100644", v)
	}
	if got := byPath["bin/sh"]; got.Link != "busybox" || got.SHA256 != "" {
		t.Errorf("bin/sh = %+v, want a symlink to busybox", got)
	}
	st := byPath["lib/modules/6.1.0-57-amd64/kernel/drivers/scsi/megaraid/megaraid_sas.ko"].Module
	ov := byPath["lib/modules/6.1.0-57-amd64/updates/megaraid_sas.ko"].Module
	if diff := cmp.Diff(&Module{Name: "megaraid_sas", Version: "07.719.03.00-rc1", Srcversion: "AAAA"}, st); diff != "" {
		t.Errorf("stock module (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&Module{Name: "megaraid_sas", Version: "07.719.03.00-rc1-needle1", Srcversion: "BBBB", Overlay: true}, ov); diff != "" {
		t.Errorf("overlay module (-want +got):\n%s", diff)
	}
	// Deterministic: the same archive gives the same bytes.
	j1, _ := m.JSON()
	m2, _ := FromArchive(a, "v1", "6.1.0-57-amd64", lock, nil)
	j2, _ := m2.JSON()
	if string(j1) != string(j2) || !strings.HasPrefix(Sum(j1), "sha256:") {
		t.Errorf("two manifests of one archive differ, or Sum is malformed: %s", Sum(j1))
	}
	var back Manifest
	if err := json.Unmarshal(j1, &back); err != nil || len(back.Lock) != 1 || len(back.Files) != len(m.Files) {
		t.Errorf("manifest JSON does not read back: %v", err)
	}
}

func TestReadProvenance(t *testing.T) {
	dir := t.TempDir()
	ko := filepath.Join(dir, "updates", "megaraid_sas.ko")
	os.MkdirAll(filepath.Dir(ko), 0o755)
	os.MkdirAll(filepath.Join(dir, "provenance"), 0o755)
	os.WriteFile(ko, []byte("module bytes"), 0o644)
	sum := sha256.Sum256([]byte("module bytes"))
	prov := func(ko string) string {
		return `{"module":"megaraid_sas","recipe":"megaraid_sas","series":"6.1","kernel":"6.1.0-57-amd64",
 "source":{"package":"linux-source-6.1","version":"6.1.192-3","sha256":"` + sumA + `"},
 "headers":{"package":"linux-headers-6.1.0-57-amd64","version":"6.1.192-3","sha256":"` + sumA + `"},
 "files":[{"name":"recipe","sha256":"` + sumA + `"},
  {"name":"0001-x.patch","sha256":"` + sumA + `"}],
 "ko_sha256":"` + ko + `"}
`
	}
	if _, err := ReadProvenance(dir, ko); err == nil || !strings.Contains(err.Error(), "has no provenance") {
		t.Errorf("ReadProvenance without the file = %v, want an error", err)
	}
	os.WriteFile(filepath.Join(dir, "provenance", "megaraid_sas.json"), []byte(prov(sumA)), 0o644)
	if _, err := ReadProvenance(dir, ko); err == nil || !strings.Contains(err.Error(), "rebuild the overlay") {
		t.Errorf("ReadProvenance of another module's record = %v, want a mismatch", err)
	}
	os.WriteFile(filepath.Join(dir, "provenance", "megaraid_sas.json"), []byte(prov(hex.EncodeToString(sum[:]))), 0o644)
	p, err := ReadProvenance(dir, ko)
	if err != nil || p.Series != "6.1" || len(p.Files) != 2 || p.Files[1].Name != "0001-x.patch" {
		t.Errorf("ReadProvenance = %+v, %v", p, err)
	}
}
