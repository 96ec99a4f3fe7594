package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/internal/manifest"
	"github.com/needle-boot/needle/internal/testenv"
)

const testLock = `# build.lock for the test
kernel   linux-image-6.1.0-57-amd64  6.1.192-3  14d219d01e1283261817d961dbb3895cb5b4288d0de10e0ba0632a0d993e15bf

busybox  busybox-static  1:1.35.0-4+deb12u1+b1  3d3fdbe91d4660c873e14b092c213fe81c1da6362daa236eb25d0171eb108744
`

// buildInputs writes a stand-in init binary and a lock file (the image
// builder copies /init as bytes; nothing runs it here).
func buildInputs(t *testing.T, lock string) (initBin, lockFile string) {
	t.Helper()
	dir := t.TempDir()
	initBin, lockFile = filepath.Join(dir, "init"), filepath.Join(dir, "build.lock")
	if err := os.WriteFile(initBin, []byte("stand-in for needle's PID 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lockFile, []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	return initBin, lockFile
}

func TestBuildManifest(t *testing.T) {
	initBin, lockFile := buildInputs(t, testLock)
	build := func(t *testing.T, extra ...string) (stdout string, image, mf []byte, mfPath string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "needle.cpio")
		args := append([]string{"build", "--init", initBin, "--needle", "none", "--system-ca", "", "--version", "v-test",
			"--lock", lockFile, "--compress", "none", "--out", out}, extra...)
		var o, e strings.Builder
		if err := run(t.Context(), args, &o, &e); err != nil {
			t.Fatalf("needle %s = %v\n%s", strings.Join(args, " "), err, e.String())
		}
		mfPath = filepath.Join(filepath.Dir(out), "needle.manifest.json")
		for i, a := range extra {
			if a == "--manifest" {
				mfPath = extra[i+1]
			}
		}
		image, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if mf, err = os.ReadFile(mfPath); err != nil {
			t.Fatalf("manifest beside the image: %v", err)
		}
		return o.String(), image, mf, mfPath
	}
	out1, img1, mf1, _ := build(t)
	override := filepath.Join(t.TempDir(), "elsewhere.json")
	out2, img2, mf2, _ := build(t, "--manifest", override)

	if !bytes.Equal(img1, img2) || !bytes.Equal(mf1, mf2) {
		t.Errorf("two builds from the same inputs differ: images %v, manifests %v", bytes.Equal(img1, img2), bytes.Equal(mf1, mf2))
	}
	if !bytes.Contains(img1, mf1) {
		t.Errorf("the image does not carry the manifest written beside it")
	}
	var m struct {
		Needle, Kernel string
		Lock           []manifest.LockEntry
		Files          []manifest.File
	}
	if err := json.Unmarshal(mf1, &m); err != nil {
		t.Fatal(err)
	}
	wantLine := fmt.Sprintf("manifest: %d files, sha256:%x\n", len(m.Files), sha256.Sum256(mf1))
	for _, out := range []string{out1, out2} {
		lines := strings.SplitAfter(out, "\n")
		if len(lines) < 2 || lines[len(lines)-2] != wantLine {
			t.Errorf("build stdout = %q, want its last line %q", out, wantLine)
		}
	}
	if m.Needle != "v-test" || len(m.Lock) != 2 || m.Lock[0].Role != "busybox" || m.Lock[1].Package != "linux-image-6.1.0-57-amd64" {
		t.Errorf("manifest needle %q, lock %+v: want v-test and the two lock entries sorted by role", m.Needle, m.Lock)
	}
	paths := map[string]manifest.File{}
	for _, f := range m.Files {
		paths[f.Path] = f
	}
	for _, tc := range []struct {
		path, mode string
		data       string
	}{
		{"init", "100755", "stand-in for needle's PID 1\n"},
		{"etc/needle/version", "100644", "v-test\n"},
		{"etc/needle", "040755", ""},
		{"dev/console", "020600", ""},
	} {
		f, ok := paths[tc.path]
		switch {
		case !ok:
			t.Errorf("manifest lacks %s", tc.path)
		case f.Mode != tc.mode:
			t.Errorf("manifest %s mode %s, want %s", tc.path, f.Mode, tc.mode)
		case tc.data != "" && (f.SHA256 != fmt.Sprintf("%x", sha256.Sum256([]byte(tc.data))) || f.Size != int64(len(tc.data))):
			t.Errorf("manifest %s = %+v, want size %d and its sha256", tc.path, f, len(tc.data))
		}
	}
	if _, ok := paths[manifest.ImagePath]; ok {
		t.Errorf("the manifest lists itself")
	}
}

func TestBuildLockErrors(t *testing.T) {
	for _, tc := range []struct {
		name, lock, want string
	}{
		{"bad hash", "kernel p v 1234\n", "build.lock:1: kernel: sha256"},
		{"duplicate role", testLock + "kernel p v " + strings.Repeat("a", 64) + "\n", "build.lock:5: kernel already pinned on line 2"},
		{"missing version", "# c\nkernel p " + strings.Repeat("a", 64) + "\n", "build.lock:2: 3 fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			initBin, lockFile := buildInputs(t, tc.lock)
			out := filepath.Join(t.TempDir(), "needle.cpio")
			err := run(t.Context(), []string{"build", "--init", initBin, "--needle", "none", "--system-ca", "", "--lock", lockFile,
				"--compress", "none", "--out", out}, &strings.Builder{}, &strings.Builder{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("build with %q = %v, want an error containing %q", tc.lock, err, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("a build with a bad lock wrote %s", out)
			}
		})
	}
}

// TestAddManifestOverlayProvenance: every overlay the image carries must
// come with a provenance record describing exactly its .ko.
func TestAddManifestOverlayProvenance(t *testing.T) {
	const kver = "6.1.0-57-amd64"
	ko, err := os.ReadFile(testenv.ModuleObject(t, "version=07.719.03.00-rc1-needle1", "srcversion=BBBB", "name=megaraid_sas"))
	if err != nil {
		t.Fatal(err)
	}
	record := func(sum string) string {
		return `{"module":"megaraid_sas","recipe":"megaraid_sas","series":"6.1","kernel":"` + kver + `",
"source":{"package":"linux-source-6.1","version":"6.1.192-3","sha256":"` + strings.Repeat("a", 64) + `"},
"headers":{"package":"linux-headers-` + kver + `","version":"6.1.192-3","sha256":"` + strings.Repeat("b", 64) + `"},
"files":[{"name":"recipe","sha256":"` + strings.Repeat("c", 64) + `"}],"ko_sha256":"` + sum + `"}`
	}
	for _, tc := range []struct {
		name    string
		record  string // "" for none
		wantErr string
	}{
		{"with provenance", record(fmt.Sprintf("%x", sha256.Sum256(ko))), ""},
		{"without provenance", "", "no provenance file OVERLAYS/provenance/megaraid_sas.json"},
		{"provenance of another build", record(strings.Repeat("0", 64)), "rebuild the overlay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src := filepath.Join(dir, "updates", "megaraid_sas.ko")
			os.MkdirAll(filepath.Dir(src), 0o755)
			os.WriteFile(src, ko, 0o644)
			if tc.record != "" {
				os.MkdirAll(filepath.Join(dir, "provenance"), 0o755)
				os.WriteFile(filepath.Join(dir, "provenance", "megaraid_sas.json"), []byte(tc.record), 0o644)
			}
			dest := "/lib/modules/" + kver + "/updates/megaraid_sas.ko"
			spec := initramfs.Spec{KernelRelease: kver, Files: []initramfs.File{{Src: src, Dest: dest, Mode: 0o644}}}
			a := initramfs.NewArchive()
			if err := a.Bytes(dest, 0o644, ko); err != nil {
				t.Fatal(err)
			}
			mf, err := addManifest(a, spec, "v-test", "", nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), dir, "OVERLAYS"), tc.wantErr) {
					t.Errorf("addManifest = %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(mf.m.Overlays) != 1 || mf.m.Overlays[0].Recipe != "megaraid_sas" || !a.Has(manifest.ImagePath) {
				t.Errorf("manifest overlays %+v (manifest in the image: %v), want megaraid_sas's record", mf.m.Overlays, a.Has(manifest.ImagePath))
			}
			var onlyFile *manifest.File
			for i, f := range mf.m.Files {
				if strings.HasSuffix(f.Path, "megaraid_sas.ko") {
					onlyFile = &mf.m.Files[i]
				}
			}
			if onlyFile == nil || onlyFile.SHA256 != fmt.Sprintf("%x", sha256.Sum256(ko)) || onlyFile.Module == nil ||
				*onlyFile.Module != (manifest.Module{Name: "megaraid_sas", Version: "07.719.03.00-rc1-needle1", Srcversion: "BBBB", Overlay: true}) {
				t.Errorf("manifest file for the overlay = %+v", onlyFile)
			}
		})
	}
}
