package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMediaCommands runs the three media commands in-process on labelled
// stand-in files (the artifacts' content is checked in internal/media).
func TestMediaCommands(t *testing.T) {
	dir := t.TempDir()
	w := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	k, i, l := w("vmlinuz", "FAKE KERNEL"), w("initrd", "FAKE INITRD"), w("bootx64.efi", "MZ FAKE SYSTEMD-BOOT")
	for _, tc := range []struct {
		args []string
		want string // in stdout, or in the error when err is set
		err  bool
	}{
		{[]string{"netboot", "--out", filepath.Join(dir, "tftp"), "--kernel", k, "--initrd", i, "--plan-url", "http://s/${mac}.yaml"}, "boot.ipxe", false},
		{[]string{"usb", "--out", filepath.Join(dir, "needle.img"), "--kernel", k, "--initrd", i, "--systemd-boot", l, "--size", "64MiB"}, "ESP 62MiB", false},
		{[]string{"iso", "--out", filepath.Join(dir, "needle.iso"), "--kernel", k, "--initrd", i, "--systemd-boot", l}, "El Torito UEFI image boot/efiboot.img", false},
		{[]string{"usb", "--out", filepath.Join(dir, "x.img"), "--kernel", k, "--initrd", i, "--systemd-boot", filepath.Join(dir, "missing.efi")}, "missing.efi", true},
		{[]string{"netboot", "--kernel", k}, "--out DIR is required", true},
		{[]string{"usb", "--out", filepath.Join(dir, "y.img"), "--kernel", filepath.Join(dir, "nokernel")}, "run ./build.sh", true},
	} {
		t.Run(strings.Join(tc.args[:1], " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errb)
			switch {
			case tc.err && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("needle %q: err %v, want one with %q", tc.args, err, tc.want)
			case !tc.err && err != nil:
				t.Errorf("needle %q: %v\n%s", tc.args, err, errb.String())
			case !tc.err && !strings.Contains(out.String(), tc.want):
				t.Errorf("needle %q printed %q, want %q in it", tc.args, out.String(), tc.want)
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(dir, "tftp/boot.ipxe")); err != nil || !strings.Contains(string(b), "needle.plan=http://s/${netX/mac}.yaml") {
		t.Errorf("boot.ipxe = %q, %v", b, err)
	}
}
