package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/internal/testenv"
)

const sumA = "3f0e8b2c1d4a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344"

func TestParseLock(t *testing.T) {
	good := "# build.lock\n\nkernel linux-image-6.1.0-57-amd64 6.1.192-3 " + sumA + "\nbusybox  busybox-static  1:1.35.0-4+deb12u1+b1  " + sumA + "\n" +
		"firmware firmware-bnx2x 20230210-5 " + sumA + "\nfirmware firmware-qlogic 20230210-5 " + sumA + "\n"
	got, err := ParseLock("build.lock", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := []LockEntry{{"kernel", "linux-image-6.1.0-57-amd64", "6.1.192-3", sumA}, {"busybox", "busybox-static", "1:1.35.0-4+deb12u1+b1", sumA},
		{"firmware", "firmware-bnx2x", "20230210-5", sumA}, {"firmware", "firmware-qlogic", "20230210-5", sumA}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseLock (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"three fields", "kernel linux-image 6.1\n", "build.lock:1: 3 fields, want ROLE PACKAGE VERSION SHA256"},
		{"five fields", "# c\nkernel p v " + sumA + " extra\n", "build.lock:2: 5 fields"},
		{"upper-case hash", "kernel p v " + strings.ToUpper(sumA) + "\n", "build.lock:1: kernel: sha256"},
		{"short hash", "kernel p v " + sumA[:63] + "\n", "build.lock:1: kernel: sha256"},
		{"non-hex hash", "kernel p v " + sumA[:63] + "g\n", "build.lock:1: kernel: sha256"},
		{"duplicate role", "a p v " + sumA + "\n\na q w " + sumA + "\n", "build.lock:3: a already pinned on line 1"},
		{"firmware package twice", "firmware p v " + sumA + "\nfirmware p w " + sumA + "\n", "build.lock:2: firmware p already pinned on line 1"},
		{"every bad line named", "a p v x\nb p v " + sumA + "\nc p\n", "build.lock:3: 2 fields"},
		{"only comments", "# only comments\n", "build.lock: no entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseLock("build.lock", []byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseLock(%q) = %v, want an error containing %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestFromArchive(t *testing.T) {
	stock := testenv.ModuleObject(t, "version=07.719.03.00-rc1", "srcversion=AAAA", "name=megaraid_sas")
	over := testenv.ModuleObject(t, "version=07.719.03.00-rc1-needle1", "srcversion=BBBB", "name=megaraid_sas")
	a := initramfs.NewArchive()
	must(t, a.Bytes("etc/needle/version", 0o644, []byte("v1\n")))
	must(t, a.Copy("lib/modules/6.1.0-57-amd64/kernel/drivers/scsi/megaraid/megaraid_sas.ko", stock))
	must(t, a.Copy("lib/modules/6.1.0-57-amd64/updates/megaraid_sas.ko", over))
	must(t, a.Symlink("bin/sh", "busybox"))
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
	// Deterministic: the same archive gives the same bytes, whatever the
	// order the lock entries and overlays were given in.
	lock2 := []LockEntry{{"source", "linux-source-6.1", "6.1.192-3", sumA}, lock[0]}
	ov1, ov2 := Provenance{Module: "mpt3sas", Files: []Digest{}}, Provenance{Module: "megaraid_sas", Files: []Digest{}}
	m1, _ := FromArchive(a, "v1", "6.1.0-57-amd64", lock2, []Provenance{ov1, ov2})
	m2, _ := FromArchive(a, "v1", "6.1.0-57-amd64", []LockEntry{lock2[1], lock2[0]}, []Provenance{ov2, ov1})
	j1, _ := m1.JSON()
	j2, _ := m2.JSON()
	if string(j1) != string(j2) {
		t.Errorf("two manifests of one archive differ:\n%s\n%s", j1, j2)
	}
	if m1.Lock[0].Role != "kernel" || m1.Overlays[0].Module != "megaraid_sas" {
		t.Errorf("manifest lock %v, overlays %v: want both sorted", m1.Lock, m1.Overlays)
	}
	if lock2[0].Role != "source" {
		t.Errorf("FromArchive sorted its caller's lock slice in place")
	}
	if got := Sum([]byte("{}\n")); got != "sha256:"+fmt.Sprintf("%x", sha256.Sum256([]byte("{}\n"))) {
		t.Errorf("Sum = %q", got)
	}
	j1, _ = m.JSON()
	var back Manifest
	if err := json.Unmarshal(j1, &back); err != nil || len(back.Lock) != 1 || len(back.Files) != len(m.Files) {
		t.Errorf("manifest JSON does not read back: %v", err)
	}
}

func TestSetFirmware(t *testing.T) {
	lock := []LockEntry{{"kernel", "linux-image-6.1.0-57-amd64", "6.1.192-3", sumA}, {FirmwareRole, "firmware-qlogic", "20230210-5", sumA},
		{FirmwareRole, "firmware-bnx2x", "20230210-5", strings.Repeat("b", 64)}}
	m, err := FromArchive(initramfs.NewArchive(), "v1", "6.1.0-57-amd64", lock, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Firmware.Mode != "none" || m.Firmware.Packages == nil {
		t.Errorf("firmware before SetFirmware = %+v, want mode none and an empty list", m.Firmware)
	}
	if m.Lock[0].Package != "firmware-bnx2x" || m.Lock[1].Package != "firmware-qlogic" {
		t.Errorf("lock = %v: want the firmware entries sorted by package", m.Lock)
	}
	err = m.SetFirmware("declared", map[string][]string{
		"firmware-qlogic": {"qed/qed_init_values_zipped-8.59.1.0.bin"},
		"firmware-bnx2x":  {"bnx2x/bnx2x-e2-7.13.21.0.fw", "bnx2x/bnx2x-e1-7.13.21.0.fw"},
	}, []string{"wd719x-risc.bin", "acenic/tg1.bin"})
	if err != nil {
		t.Fatal(err)
	}
	want := Firmware{Mode: "declared", Packages: []FirmwarePackage{
		{"firmware-bnx2x", "20230210-5", strings.Repeat("b", 64), []string{"bnx2x/bnx2x-e1-7.13.21.0.fw", "bnx2x/bnx2x-e2-7.13.21.0.fw"}},
		{"firmware-qlogic", "20230210-5", sumA, []string{"qed/qed_init_values_zipped-8.59.1.0.bin"}},
	}, Missing: []string{"acenic/tg1.bin", "wd719x-risc.bin"}}
	if diff := cmp.Diff(want, m.Firmware); diff != "" {
		t.Errorf("SetFirmware (-want +got):\n%s", diff)
	}
	if err := m.SetFirmware("declared", map[string][]string{"firmware-realtek": {"rtl_nic/rtl8168h-2.fw"}}, nil); err == nil ||
		!strings.Contains(err.Error(), "firmware package firmware-realtek is not pinned in the lock") {
		t.Errorf("SetFirmware of an unpinned package = %v, want a refusal", err)
	}
}

func TestReadProvenance(t *testing.T) {
	const kver = "6.1.0-57-amd64"
	koSum := sha256.Sum256([]byte("module bytes"))
	good := hex.EncodeToString(koSum[:])
	prov := func(module, kernel, ko string) string {
		return `{"module":"` + module + `","recipe":"megaraid_sas","series":"6.1","kernel":"` + kernel + `",
 "source":{"package":"linux-source-6.1","version":"6.1.192-3","sha256":"` + sumA + `"},
 "headers":{"package":"linux-headers-6.1.0-57-amd64","version":"6.1.192-3","sha256":"` + sumA + `"},
 "files":[{"name":"recipe","sha256":"` + sumA + `"},
  {"name":"0001-x.patch","sha256":"` + sumA + `"}],
 "ko_sha256":"` + ko + `"}
`
	}
	for _, tc := range []struct {
		name    string
		record  string // "" for no provenance file
		wantErr string
	}{
		{"matches", prov("megaraid_sas", kver, good), ""},
		{"no provenance file", "", "no provenance file DIR/provenance/megaraid_sas.json"},
		{"another build of the module", prov("megaraid_sas", kver, sumA), "rebuild the overlay"},
		{"another module", prov("mpt3sas", kver, good), `describes module "mpt3sas"`},
		{"another kernel", prov("megaraid_sas", "6.1.0-56-amd64", good), `built for kernel "6.1.0-56-amd64", the image carries 6.1.0-57-amd64`},
		{"unknown field", strings.Replace(prov("megaraid_sas", kver, good), `"series"`, `"serie"`, 1), `unknown field "serie"`},
		{"not JSON", "recipe=megaraid_sas\n", "provenance/megaraid_sas.json: invalid character"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ko := filepath.Join(dir, "updates", "megaraid_sas.ko")
			must(t, os.MkdirAll(filepath.Dir(ko), 0o755))
			must(t, os.WriteFile(ko, []byte("module bytes"), 0o644))
			if tc.record != "" {
				must(t, os.MkdirAll(filepath.Join(dir, "provenance"), 0o755))
				must(t, os.WriteFile(filepath.Join(dir, "provenance", "megaraid_sas.json"), []byte(tc.record), 0o644))
			}
			p, err := ReadProvenance(dir, ko, kver)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir, "DIR"), tc.wantErr) {
					t.Errorf("ReadProvenance = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			want := Provenance{Module: "megaraid_sas", Recipe: "megaraid_sas", Series: "6.1", Kernel: kver,
				Source:  Package{"linux-source-6.1", "6.1.192-3", sumA},
				Headers: Package{"linux-headers-6.1.0-57-amd64", "6.1.192-3", sumA},
				Files:   []Digest{{"recipe", sumA}, {"0001-x.patch", sumA}}, KoSHA256: good}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("ReadProvenance (-want +got):\n%s", diff)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
