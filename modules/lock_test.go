package modules

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeAptGet is a FAKE apt-get for the lock tests: `download PKG=VER`
// writes PKG_VER_all.deb (epoch colon as %3a) holding $FAKE_DEB_CONTENT
// (or a copy of $FAKE_DEB_FILE), or fails like apt-get
// when $FAKE_APT_MISSING is set; `update` succeeds and does nothing.
const fakeAptGet = `#!/bin/sh
# FAKE apt-get, written by modules/lock_test.go.
for a; do last=$a; done
[ -z "$FAKE_APT_LOG" ] || echo "apt-get $*" >>"$FAKE_APT_LOG"
case " $* " in
  *" update "*) exit 0 ;;
  *" download "*)
    if [ -n "$FAKE_APT_MISSING" ]; then echo "E: Version '${last#*=}' for '${last%%=*}' was not found" >&2; exit 100; fi
    # apt-get writes an epoch's colon as %3a.
    f="${last%%=*}_$(echo "${last#*=}" | sed 's/:/%3a/')_all.deb"
    if [ -n "$FAKE_DEB_FILE" ]; then cp "$FAKE_DEB_FILE" "$f"; else printf '%s' "$FAKE_DEB_CONTENT" >"$f"; fi ;;
esac
`

// lockShell runs bash sourcing lock.sh with a FAKE apt-get first on PATH,
// a private cache and the given build.lock content.
func lockShell(t *testing.T, lock, script string, env ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "apt-get"), []byte(fakeAptGet), 0o755); err != nil {
		t.Fatal(err)
	}
	lockFile := filepath.Join(dir, "build.lock")
	if err := os.WriteFile(lockFile, []byte(lock), 0o644); err != nil {
		t.Fatal(err)
	}
	lib, err := filepath.Abs("../lock.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", `set -euo pipefail; die() { echo "DIE: $*" >&2; exit 1; }; CACHE=$1; . "$2"; `+script, "bash", filepath.Join(dir, "cache"), lib)
	cmd.Env = append(os.Environ(), append([]string{"PATH=" + bin + ":" + os.Getenv("PATH"), "NEEDLE_LOCK=" + lockFile}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestLockFetch(t *testing.T) {
	content := "pinned bytes"
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte(content)))
	lock := "# comment\nbusybox  busybox-static  1:1.35.0-4  " + sum + "\n"
	for _, tc := range []struct {
		name    string
		lock    string
		script  string
		env     []string
		want    string // in the output
		wantErr bool
	}{
		{"fetched and verified", lock, "deb=$(lock_fetch busybox); cat \"$deb\"", []string{"FAKE_DEB_CONTENT=" + content}, content, false},
		{"epoch in the file name", lock, "basename \"$(lock_fetch busybox)\"", []string{"FAKE_DEB_CONTENT=" + content}, "busybox-static_1%3a1.35.0-4_all.deb", false},
		{"other bytes under the pinned version", lock, "lock_fetch busybox", []string{"FAKE_DEB_CONTENT=tampered"}, "but build.lock pins busybox-static 1:1.35.0-4 (busybox) at " + sum, true},
		{"version gone from the mirror", lock, "lock_fetch busybox", []string{"FAKE_APT_MISSING=1"}, "which the mirror no longer serves", true},
		{"gone: says how to move", lock, "lock_fetch busybox", []string{"FAKE_APT_MISSING=1"}, "./build.sh --update-lock", true},
		{"cached: no mirror needed", lock, "lock_fetch busybox >/dev/null; FAKE_APT_MISSING=1 lock_fetch busybox", []string{"FAKE_DEB_CONTENT=" + content}, "/debs/busybox-static_1%3a1.35.0-4_all.deb", false},
		{"role not pinned", lock, "lock_fetch kernel", nil, "has no 'kernel' entry: run ./build.sh --update-lock", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := lockShell(t, tc.lock, tc.script, tc.env...)
			if (err != nil) != tc.wantErr || !strings.Contains(out, tc.want) {
				t.Errorf("%s: err=%v output:\n%s\nwant err=%v and output containing %q", tc.script, err, out, tc.wantErr, tc.want)
			}
		})
	}
}

// TestLockFirmware: the firmware packages (role firmware, repeated) are
// fetched through a private apt configuration whose sources are the
// machine's Debian entries with non-free-firmware, derived at run time;
// lists and downloads stay under the cache.
func TestLockFirmware(t *testing.T) {
	// A FAKE firmware package: one file under lib/firmware.
	pkgRoot := t.TempDir()
	for p, c := range map[string]string{"DEBIAN/control": "Package: firmware-fake\nVersion: 1\nArchitecture: all\nMaintainer: test\nDescription: FAKE\n",
		"lib/firmware/qed/qed_init_values_zipped-8.59.1.0.bin": "FAKE qed"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(pkgRoot, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkgRoot, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(t.TempDir(), "fake.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", pkgRoot, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -b: %v\n%s", err, out)
	}
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(b))
	lock := "kernel linux-image-6.1.0-57-amd64 6.1.192-3 " + sum + "\n" +
		"firmware firmware-bnx2x 20230210-5 " + sum + "\nfirmware firmware-qlogic 20230210-5 " + sum + "\n"
	etc := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(etc, "sources.list.d"), 0o755))
	must(os.WriteFile(filepath.Join(etc, "sources.list.d", "debian.sources"), []byte(`Types: deb
# a comment
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 AAAA
 -----END PGP PUBLIC KEY BLOCK-----
`), 0o644))
	must(os.WriteFile(filepath.Join(etc, "sources.list.d", "vendor.sources"), []byte("Types: deb\nURIs: https://vendor.invalid/apt\nSuites: nodistro\nComponents: main\n"), 0o644))
	must(os.WriteFile(filepath.Join(etc, "sources.list"), []byte("# old style\ndeb [arch=amd64] http://old.invalid/debian bookworm-backports main contrib\ndeb-src http://old.invalid/debian bookworm main\ndeb http://other.invalid/apt cloud-sdk-bookworm main\n"), 0o644))
	log := filepath.Join(t.TempDir(), "apt.log")
	script := `lock_packages firmware | tr '\n' ' '; echo; deb=$(lock_fetch firmware firmware-qlogic); basename "$deb"
		echo ==sources; cat "$CACHE/apt-firmware/sources.list.d/"*; echo ==list; cat "$CACHE/apt-firmware/sources.list"
		lock_extract_all firmware "$CACHE/fw"; printf '%s\n' "${LOCK_DIRS[@]}"; cat "$CACHE/fw/firmware-qlogic/lib/firmware/qed/"*`
	out, err := lockShell(t, lock, script, "FAKE_DEB_FILE="+deb, "NEEDLE_APT_ETC="+etc, "FAKE_APT_LOG="+log)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{
		"firmware-bnx2x firmware-qlogic \nfirmware-qlogic_20230210-5_all.deb\n", "FAKE qed",
		"Types: deb\nSuites: bookworm bookworm-updates\nComponents: main non-free-firmware\nURIs: http://mirror.invalid/debian\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
		"Types: deb\nSuites: bookworm-security\nComponents: main non-free-firmware\nURIs: http://mirror.invalid/debian-security\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n AAAA\n",
		"==list\ndeb [arch=amd64] http://old.invalid/debian bookworm-backports main non-free-firmware\n",
		"firmware-bnx2x=", "/fw/firmware-bnx2x\n", "/fw/firmware-qlogic\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output:\n%s\nwant it to contain %q", out, want)
		}
	}
	for _, not := range []string{"vendor.invalid", "other.invalid", "deb-src", "# a comment"} {
		if strings.Contains(out, not) {
			t.Errorf("the private sources carry %q:\n%s", not, out)
		}
	}
	b, err = os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	calls := string(b)
	if !strings.Contains(calls, "-o Dir::Etc::SourceParts=") || !strings.Contains(calls, "/apt-firmware/sources.list.d") ||
		!strings.Contains(calls, "/apt-firmware/state") || !strings.Contains(calls, "download") {
		t.Errorf("apt-get calls:\n%s\nwant downloads through the private configuration under the cache", calls)
	}
}

// TestOverlayRecipeRefusals: modules/build.sh refuses a recipe for another
// series, and an old recipe that pins one ABI, before fetching anything.
func TestOverlayRecipeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, recipe, kver, want string
	}{
		{"other series", "MODULE=megaraid_sas\nSERIES=6.1\nSOURCE_DIR=drivers/scsi/megaraid\n", "6.12.0-1-amd64", "is for kernel series 6.1; the image's kernel is 6.12.0-1-amd64"},
		{"prefix is not a series", "MODULE=megaraid_sas\nSERIES=6.1\nSOURCE_DIR=drivers/scsi/megaraid\n", "6.10.0-1-amd64", "is for kernel series 6.1"},
		{"one ABI pinned", "MODULE=megaraid_sas\nKERNEL=6.1.0-56-amd64\nSOURCE_DIR=drivers/scsi/megaraid\n", "6.1.0-57-amd64", "KERNEL=6.1.0-56-amd64 pins one ABI; state the series instead"},
		{"no module", "SERIES=6.1\nSOURCE_DIR=drivers/scsi/megaraid\n", "6.1.0-57-amd64", "MODULE is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "recipe"), []byte(tc.recipe), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "build.sh", dir, "--kver", tc.kver, "--out", t.TempDir())
			cmd.Env = append(os.Environ(), "NEEDLE_CACHE="+t.TempDir())
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("modules/build.sh = %v\n%s\nwant a failure saying %q", err, out, tc.want)
			}
		})
	}
}
