package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/needle-boot/needle/internal/manifest"
	"github.com/needle-boot/needle/internal/testenv"
)

// fakeKernel writes a kernel tree whose only modules are FAKE .ko files
// with the given .modinfo (C string escapes), by module path.
func fakeKernel(t *testing.T, kver string, kos map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for p, info := range kos {
		f := filepath.Join(dir, "lib/modules", kver, p)
		must(t, os.MkdirAll(filepath.Dir(f), 0o755))
		ko, err := os.ReadFile(testenv.ModuleObject(t, strings.Split(info, `\0`)...))
		must(t, err)
		must(t, os.WriteFile(f, ko, 0o644))
	}
	must(t, os.MkdirAll(filepath.Join(dir, "boot"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "boot", "vmlinuz-"+kver), []byte("FAKE kernel"), 0o644))
	return dir
}

// fakePackage writes an unpacked FAKE firmware package: NAME → content, or
// "->TARGET" for a link.
func fakePackage(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, c := range files {
		p := filepath.Join(dir, "lib/firmware", n)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		if target, ok := strings.CutPrefix(c, "->"); ok {
			must(t, os.Symlink(target, p))
		} else {
			must(t, os.WriteFile(p, []byte(c), 0o644))
		}
	}
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestBuildFirmware: `needle build` adds exactly the declared files the
// packages carry (with the links they need), reports files, bytes and the
// missing names, and records the packages in the manifest; --firmware
// none adds nothing.
func TestBuildFirmware(t *testing.T) {
	const kver = "6.1.0-99-amd64"
	kdir := fakeKernel(t, kver, map[string]string{
		"kernel/drivers/net/ethernet/broadcom/bnx2x/bnx2x.ko": `name=bnx2x\0alias=pci:v000014E4d0000168Esv*sd*bc*sc*i*\0firmware=bnx2x/bnx2x-e1-7.13.21.0.fw\0firmware=bnx2x/bnx2x-e2-7.13.21.0.fw\0depends=`,
		"kernel/drivers/net/ethernet/qlogic/qed/qed.ko":       `name=qed\0alias=pci:v00001077d00001656sv*sd*bc*sc*i*\0firmware=qed/qed_init_values_zipped-8.59.1.0.bin\0depends=`,
		"kernel/drivers/net/ethernet/chelsio/cxgb4/cxgb4.ko":  `name=cxgb4\0alias=pci:v00001425d00004001sv*sd*bc*sc*i*\0firmware=cxgb4/t4fw.bin\0depends=`,
		"kernel/drivers/net/ethernet/alteon/acenic.ko":        `name=acenic\0alias=pci:v000012AEd00000001sv*sd*bc*sc*i*\0firmware=acenic/tg1.bin\0depends=`,
	})
	bnx2x := fakePackage(t, map[string]string{
		"bnx2x/bnx2x-e1-7.13.21.0.fw": "FAKE e1", "bnx2x/bnx2x-e2-7.13.21.0.fw": "FAKE e2", "bnx2x/bnx2x-e1h-7.13.21.0.fw": "FAKE e1h, not declared",
	})
	qlogic := fakePackage(t, map[string]string{"qed/qed_init_values_zipped-8.59.1.0.bin": "FAKE qed", "ql2100_fw.bin": "FAKE, not declared"})
	misc := fakePackage(t, map[string]string{"cxgb4/t4fw.bin": "->t4fw-1.27.1.0.bin", "cxgb4/t4fw-1.27.1.0.bin": "FAKE t4"})
	lock := testLock + "firmware firmware-bnx2x 20230210-5 " + strings.Repeat("b", 64) + "\n" +
		"firmware firmware-qlogic 20230210-5 " + strings.Repeat("c", 64) + "\n" +
		"firmware firmware-misc-nonfree 20230210-5 " + strings.Repeat("d", 64) + "\n"
	initBin, lockFile := buildInputs(t, lock)
	build := func(t *testing.T, extra ...string) (string, manifest.Manifest, error) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "needle.cpio")
		args := append([]string{"build", "--init", initBin, "--needle", "none", "--system-ca", "", "--version", "v-test",
			"--lock", lockFile, "--compress", "none", "--out", out, "--kernel-dir", kdir, "--modules", "network"}, extra...)
		var o, e strings.Builder
		if err := run(t.Context(), args, &o, &e); err != nil {
			return o.String(), manifest.Manifest{}, err
		}
		b, err := os.ReadFile(filepath.Join(filepath.Dir(out), "needle.manifest.json"))
		must(t, err)
		var m manifest.Manifest
		must(t, json.Unmarshal(b, &m))
		return o.String(), m, nil
	}
	sources := []string{"--firmware-source", "firmware-bnx2x=" + bnx2x, "--firmware-source", "firmware-qlogic=" + qlogic,
		"--firmware-source", "firmware-misc-nonfree=" + misc}

	stdout, m, err := build(t, sources...)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]manifest.File{}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "lib/firmware/") && !strings.HasSuffix(f.Mode, "40755") {
			files[strings.TrimPrefix(f.Path, "lib/firmware/")] = f
		}
	}
	var got []string
	for n, f := range files {
		got = append(got, n+" "+f.Link)
	}
	want := []string{"bnx2x/bnx2x-e1-7.13.21.0.fw ", "bnx2x/bnx2x-e2-7.13.21.0.fw ", "cxgb4/t4fw-1.27.1.0.bin ", "cxgb4/t4fw.bin t4fw-1.27.1.0.bin",
		"qed/qed_init_values_zipped-8.59.1.0.bin "}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("image's /lib/firmware (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		// 29 bytes: FAKE e1, FAKE e2, FAKE qed, FAKE t4.
		"firmware: added 5 files (1 links), 29 bytes (0.0 MiB), for 4 of the 5 declared files, from 3 packages\n",
		"firmware: 1 declared files are in none of firmware-bnx2x, firmware-qlogic, firmware-misc-nonfree",
		"  acenic/tg1.bin (acenic)\n",
	} {
		if !strings.Contains(stdout, line) {
			t.Errorf("build stdout:\n%s\nwant a line %q", stdout, line)
		}
	}
	wantFW := manifest.Firmware{Mode: "declared", Packages: []manifest.FirmwarePackage{
		{Package: "firmware-bnx2x", Version: "20230210-5", SHA256: strings.Repeat("b", 64), Files: []string{"bnx2x/bnx2x-e1-7.13.21.0.fw", "bnx2x/bnx2x-e2-7.13.21.0.fw"}},
		{Package: "firmware-misc-nonfree", Version: "20230210-5", SHA256: strings.Repeat("d", 64), Files: []string{"cxgb4/t4fw-1.27.1.0.bin", "cxgb4/t4fw.bin"}},
		{Package: "firmware-qlogic", Version: "20230210-5", SHA256: strings.Repeat("c", 64), Files: []string{"qed/qed_init_values_zipped-8.59.1.0.bin"}},
	}, Missing: []string{"acenic/tg1.bin"}}
	if diff := cmp.Diff(wantFW, m.Firmware); diff != "" {
		t.Errorf("manifest firmware (-want +got):\n%s", diff)
	}

	stdout, m, err = build(t, "--firmware", "none")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "lib/firmware") {
			t.Errorf("--firmware none: the image has %s", f.Path)
		}
	}
	if m.Firmware.Mode != "none" || len(m.Firmware.Packages) != 0 || strings.Contains(stdout, "firmware:") {
		t.Errorf("--firmware none: manifest firmware %+v, stdout:\n%s", m.Firmware, stdout)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad mode", []string{"--firmware", "all"}, `--firmware "all": want declared or none`},
		{"sources with none", append([]string{"--firmware", "none"}, sources...), "--firmware-source with --firmware none"},
		{"not PKG=DIR", []string{"--firmware-source", bnx2x}, "want PACKAGE=DIR"},
		{"not a package", []string{"--firmware-source", "firmware-x=" + t.TempDir()}, "holds neither lib/firmware nor usr/lib/firmware"},
		{"not in the lock", []string{"--firmware-source", "firmware-other=" + bnx2x}, "firmware package firmware-other is not pinned in the lock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := build(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("build %v = %v, want an error containing %q", tc.args, err, tc.want)
			}
		})
	}
}
