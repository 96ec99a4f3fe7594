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
// writes PKG_VER_all.deb (epoch colon as %3a) holding $FAKE_DEB_CONTENT, or fails like apt-get
// when $FAKE_APT_MISSING is set; `update` succeeds and does nothing.
const fakeAptGet = `#!/bin/sh
# FAKE apt-get, written by modules/lock_test.go.
for a; do last=$a; done
case " $* " in
  *" update "*) exit 0 ;;
  *" download "*)
    if [ -n "$FAKE_APT_MISSING" ]; then echo "E: Version '${last#*=}' for '${last%%=*}' was not found" >&2; exit 100; fi
    # apt-get writes an epoch's colon as %3a.
    printf '%s' "$FAKE_DEB_CONTENT" >"${last%%=*}_$(echo "${last#*=}" | sed 's/:/%3a/')_all.deb" ;;
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
