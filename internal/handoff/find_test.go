package handoff

import (
	"bytes"
	"encoding/json"
	"flag"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// testLogger routes the package's logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// copyTree copies a testdata tree, symlinks included, so a case can change
// it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(src))
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// grubenvBlock makes a 1024-byte GRUB environment block.
func grubenvBlock(kv ...string) string {
	s := "# GRUB Environment Block\n"
	for i := 0; i+1 < len(kv); i += 2 {
		s += kv[i] + "=" + kv[i+1] + "\n"
	}
	return s + strings.Repeat("#", 1024-len(s))
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, p, old, new string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", p, old)
	}
	writeFile(t, p, strings.Replace(string(b), old, new, 1))
}

func removeAll(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
}

// relTarget rewrites a Target's paths relative to the trees, for golden
// files that do not depend on where the test runs.
func relTarget(tg Target, root, boot string) Target {
	rel := func(p string) string {
		if boot != "" && strings.HasPrefix(p, boot+"/") {
			return "$BOOT" + strings.TrimPrefix(p, boot)
		}
		if strings.HasPrefix(p, root+"/") {
			return "$ROOT" + strings.TrimPrefix(p, root)
		}
		return p
	}
	tg.Kernel = rel(tg.Kernel)
	for i := range tg.Initrd {
		tg.Initrd[i] = rel(tg.Initrd[i])
	}
	return tg
}

func checkGolden(t *testing.T, name string, got any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep GRUB's ">" paths readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	p := filepath.Join("testdata", "golden", name+".json")
	if *update {
		writeFile(t, p, string(b))
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(b)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", p, diff)
	}
}

const (
	debianUUID = "2f9c1f4e-5a4b-4c0b-9d59-3d3e0a8b6c11"
	fedoraMID  = "6a1f0c2b9d8e4f7a8b3c5d6e7f809a1b"
)

func TestFind(t *testing.T) {
	tests := []struct {
		name      string
		tree      string // under testdata
		boot      bool   // the tree has a separate boot/ partition
		splitBoot bool   // move root/boot to a partition of its own
		mutate    func(t *testing.T, root, boot string)
	}{
		{name: "debian12", tree: "debian12"},
		{name: "debian12-saved", tree: "debian12", mutate: func(t *testing.T, root, _ string) {
			// GRUB_DEFAULT=saved, and grub-set-default picked the older kernel.
			replaceIn(t, root+"/boot/grub/grub.cfg", `set default="0"`, `set default="${saved_entry}"`)
			writeFile(t, root+"/boot/grub/grubenv", grubenvBlock("saved_entry", "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-17-amd64"))
		}},
		{name: "debian12-next-entry", tree: "debian12", mutate: func(t *testing.T, root, _ string) {
			// grub-reboot "1>3": the submenu's fourth entry, once.
			writeFile(t, root+"/boot/grub/grubenv", grubenvBlock("next_entry", "1>3"))
		}},
		{name: "debian12-id-path", tree: "debian12", mutate: func(t *testing.T, root, _ string) {
			writeFile(t, root+"/boot/grub/grubenv", grubenvBlock("next_entry", "gnulinux-advanced-"+debianUUID+">gnulinux-6.1.0-17-amd64-advanced-"+debianUUID))
		}},
		{name: "debian12-bad-default", tree: "debian12", mutate: func(t *testing.T, root, _ string) {
			// A default naming nothing boots the first entry, as in GRUB.
			writeFile(t, root+"/boot/grub/grubenv", grubenvBlock("next_entry", "Debian GNU/Linux, with Linux 5.10.0-9-amd64"))
		}},
		{name: "debian12-links", tree: "debian12", mutate: func(t *testing.T, root, _ string) {
			removeAll(t, root+"/boot/grub")
		}},
		{name: "debian12-newest", tree: "debian12", mutate: func(t *testing.T, root, _ string) {
			removeAll(t, root+"/boot/grub", root+"/vmlinuz", root+"/initrd.img", root+"/vmlinuz.old", root+"/initrd.img.old")
		}},
		{name: "debian12-separate-boot", tree: "debian12", splitBoot: true, mutate: func(t *testing.T, _, boot string) {
			// grub-mkconfig writes paths relative to the /boot partition.
			cfg := boot + "/grub/grub.cfg"
			b, err := os.ReadFile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, cfg, strings.ReplaceAll(string(b), "/boot/vmlinuz-", "/vmlinuz-"))
			replaceIn(t, cfg, "/boot/initrd.img-6.1.0-18-amd64", "/initrd.img-6.1.0-18-amd64")
		}},
		{name: "debian12-separate-boot-links", tree: "debian12", splitBoot: true, mutate: func(t *testing.T, _, boot string) {
			// /vmlinuz on the root points into /boot, another partition.
			removeAll(t, boot+"/grub")
		}},
		{name: "ubuntu2204", tree: "ubuntu2204"},
		{name: "ubuntu2204-recordfail", tree: "ubuntu2204", mutate: func(t *testing.T, root, _ string) {
			// After a failed boot GRUB keeps a text console: no vt.handoff.
			writeFile(t, root+"/boot/grub/grubenv", grubenvBlock("recordfail", "1"))
		}},
		{name: "ubuntu2204-links", tree: "ubuntu2204", mutate: func(t *testing.T, root, _ string) {
			removeAll(t, root+"/boot/grub")
		}},
		{name: "fedora39", tree: "fedora39", boot: true},
		{name: "fedora39-unsaved", tree: "fedora39", boot: true, mutate: func(t *testing.T, _, boot string) {
			writeFile(t, boot+"/grub2/grubenv", grubenvBlock("menu_auto_hide", "1", "boot_success", "1"))
		}},
		{name: "fedora39-rescue", tree: "fedora39", boot: true, mutate: func(t *testing.T, _, boot string) {
			writeFile(t, boot+"/grub2/grubenv", grubenvBlock("saved_entry", fedoraMID+"-0-rescue",
				"kernelopts", "root=UUID=0b6f8e2a-3c4d-4e5f-8a9b-1c2d3e4f5a6b ro rootflags=subvol=root rhgb quiet "))
		}},
		{name: "fedora39-rescue-fallback-kernelopts", tree: "fedora39", boot: true, mutate: func(t *testing.T, _, boot string) {
			// No kernelopts in grubenv: grub.cfg's fallback "set kernelopts=…" fills $kernelopts.
			writeFile(t, boot+"/grub2/grubenv", grubenvBlock("saved_entry", fedoraMID+"-0-rescue"))
			replaceIn(t, boot+"/grub2/grub.cfg", `set kernelopts="root=UUID=0b6f8e2a-3c4d-4e5f-8a9b-1c2d3e4f5a6b ro rootflags=subvol=root rhgb quiet "`,
				`set kernelopts="root=UUID=0b6f8e2a-3c4d-4e5f-8a9b-1c2d3e4f5a6b ro rootflags=subvol=root from-grub-cfg "`)
		}},
		{name: "fedora39-loaderconf", tree: "fedora39", boot: true, mutate: func(t *testing.T, _, boot string) {
			removeAll(t, boot+"/grub2/grubenv")
			writeFile(t, boot+"/loader/loader.conf", "timeout 3\ndefault *-6.5.6-*\n")
		}},
		{name: "fedora39-one-partition", tree: "fedora39", mutate: func(t *testing.T, root, _ string) {
			// The same system installed with /boot on the root filesystem:
			// entries under /boot/loader/entries, paths still written
			// relative to /boot by kernel-install.
			removeAll(t, root+"/boot")
			b := copyTree(t, "testdata/fedora39/boot")
			if err := os.Rename(b, root+"/boot"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, filepath.Join("testdata", tc.tree, "root"))
			var boot string
			if tc.boot {
				boot = copyTree(t, filepath.Join("testdata", tc.tree, "boot"))
			}
			if tc.splitBoot {
				boot = splitBoot(t, root)
			}
			if tc.mutate != nil {
				tc.mutate(t, root, boot)
			}
			got, err := Find(Layout{Root: root, Boot: boot}, testLogger(t))
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			checkGolden(t, "find-"+tc.name, relTarget(got, root, boot))
		})
	}
}

// splitBoot moves root/boot to a directory of its own, leaving an empty
// mount point, as a separate /boot partition looks once mounted.
func splitBoot(t *testing.T, root string) string {
	t.Helper()
	boot := filepath.Join(t.TempDir(), "boot")
	if err := os.Rename(root+"/boot", boot); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(root+"/boot", 0o755); err != nil {
		t.Fatal(err)
	}
	return boot
}

func TestFindErrors(t *testing.T) {
	tests := []struct {
		name   string
		tree   string
		mutate func(t *testing.T, root string)
		want   string
	}{
		{name: "boot partition not mounted", tree: "fedora39", want: "no kernel found under root"},
		{name: "entry names a missing kernel", tree: "debian12", mutate: func(t *testing.T, root string) {
			removeAll(t, root+"/boot/vmlinuz-6.1.0-18-amd64")
		}, want: `entry "Debian GNU/Linux": linux /boot/vmlinuz-6.1.0-18-amd64`},
		{name: "broken grub.cfg", tree: "debian12", mutate: func(t *testing.T, root string) {
			writeFile(t, root+"/boot/grub/grub.cfg", "menuentry 'x' {\n linux /vmlinuz\n")
		}, want: "/boot/grub/grub.cfg: line 1: menuentry: { without }"},
		{name: "link loop", tree: "debian12", mutate: func(t *testing.T, root string) {
			removeAll(t, root+"/boot/grub", root+"/vmlinuz")
			if err := os.Symlink("vmlinuz", root+"/vmlinuz"); err != nil {
				t.Fatal(err)
			}
			removeAll(t, root+"/boot/vmlinuz-6.1.0-18-amd64", root+"/boot/vmlinuz-6.1.0-17-amd64")
		}, want: "no kernel found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, filepath.Join("testdata", tc.tree, "root"))
			if tc.mutate != nil {
				tc.mutate(t, root)
			}
			got, err := Find(Layout{Root: root}, testLogger(t))
			if err == nil {
				t.Fatalf("Find = %+v, want an error containing %q", got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Find error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestResolveStaysInside checks that absolute link targets resolve inside
// the installed system, never on the machine running needle.
func TestResolveStaysInside(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root+"/boot/vmlinuz-6.1.0-18-amd64", "k")
	if err := os.Symlink("/boot/vmlinuz-6.1.0-18-amd64", root+"/vmlinuz"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", root+"/escape"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../etc/hostname", root+"/dotdot"); err != nil {
		t.Fatal(err)
	}
	s := system{root: root}
	got, err := s.file("/vmlinuz")
	if want := filepath.Join(root, "boot/vmlinuz-6.1.0-18-amd64"); err != nil || got != want {
		t.Errorf("file(/vmlinuz) = %q, %v; want %q", got, err, want)
	}
	for _, p := range []string{"/escape", "/dotdot"} {
		if got, err := s.file(p); err == nil {
			t.Errorf("file(%s) = %q, want an error (the target is not in the installed system)", p, got)
		}
	}
}
