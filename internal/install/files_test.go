package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFilesStayInRoot: plan files are written into the installed tree
// the way the installed system will see them: symlinks, "..", and absolute
// paths are resolved inside it (openat2 RESOLVE_IN_ROOT) and never reach
// the ramdisk. outside stands for the ramdisk: nothing may appear there.
func TestFilesStayInRoot(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	mk("etc/mdadm")
	mk("var")
	mk("run")
	// The symlinks' targets, as they exist in the installed tree: writing
	// through a symlink to a missing directory fails, as it did before.
	mk(outside)
	// Debian's /var/run -> /run, and the same shape pointing at outside.
	link("/run", "var/run")
	link(outside, "etc/abs")
	link("../../../../../../../../"+strings.TrimPrefix(outside, "/"), "etc/rel")
	link(filepath.Join(outside, "mdadm.conf"), "etc/mdadm/mdadm.conf")
	link(filepath.Join(outside, "passwd"), "etc/passwd")
	if err := os.WriteFile(filepath.Join(outside, "passwd"), []byte("evil:x:4242:4242::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ name, path, lands string }{
		{"debian /var/run", "/var/run/x", "run/x"},
		{"absolute symlink", "/etc/abs/x", strings.TrimPrefix(outside, "/") + "/x"},
		{"relative symlink escaping", "/etc/rel/x", strings.TrimPrefix(outside, "/") + "/x2"},
		{"dot-dot", "/../../../x", "x"},
		{"absolute path trick", filepath.Join(outside, "y"), strings.TrimPrefix(outside, "/") + "/y"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.path
			if tc.name == "relative symlink escaping" {
				p += "2"
			}
			if err := writeFile(root, p, []byte(tc.name), 0o600, 0, 0); err != nil {
				t.Fatalf("writeFile(%q) = %v", p, err)
			}
			if b, err := os.ReadFile(filepath.Join(root, tc.lands)); err != nil || string(b) != tc.name {
				t.Errorf("writeFile(%q): %s in the root holds %q, %v; want %q", p, tc.lands, b, err, tc.name)
			}
		})
	}
	if err := appendFile(root, "/etc/mdadm/mdadm.conf", "ARRAY /dev/md0\n"); err != nil {
		t.Fatalf("appendFile through an absolute symlink = %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, outside, "mdadm.conf")); err != nil || string(b) != "ARRAY /dev/md0\n" {
		t.Errorf("appendFile: mdadm.conf inside the root holds %q, %v", b, err)
	}
	if uid, _, err := owner(root, "evil"); err == nil {
		t.Errorf("owner(evil) = %d from the passwd outside the root, want an error", uid)
	}
	// Nothing reached outside but what the test put there.
	ents, _ := os.ReadDir(outside)
	if len(ents) != 1 || ents[0].Name() != "passwd" {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("outside the root: %v, want only the test's passwd", names)
	}
	if _, err := os.Stat("/run/x"); err == nil {
		b, _ := os.ReadFile("/run/x")
		if string(b) == "debian /var/run" {
			t.Error("writeFile(/var/run/x) wrote the host's /run/x")
			os.Remove("/run/x")
		}
	}
}

// TestOwnerInRoot: names are looked up in the installed tree's passwd and
// group, numbers taken as they are.
func TestOwnerInRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nadm:x:4:\n"), 0o644)
	for _, tc := range []struct {
		spec     string
		uid, gid int
	}{{"www", 33, 34}, {"www:adm", 33, 4}, {"1000:1000", 1000, 1000}, {"", 0, 0}} {
		uid, gid, err := owner(root, tc.spec)
		if err != nil || uid != tc.uid || gid != tc.gid {
			t.Errorf("owner(%q) = %d, %d, %v; want %d, %d", tc.spec, uid, gid, err, tc.uid, tc.gid)
		}
	}
}
