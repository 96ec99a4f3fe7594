package modules

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/testenv"
)

// TestDepmodCompare builds the text indexes for the reference kernel and
// compares them byte for byte with what Debian's depmod (kmod) writes for
// the same tree, reached through a symlink farm in a temp dir.
func TestDepmodCompare(t *testing.T) {
	farm := depmodFarm(t)
	ix := referenceIndex(t)
	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{DepFile, func(b *bytes.Buffer) error { return ix.WriteDep(b) }},
		{AliasFile, func(b *bytes.Buffer) error { return ix.WriteAlias(b) }},
		{SoftdepFile, func(b *bytes.Buffer) error { return ix.WriteSoftdep(b) }},
		{BuiltinFile, func(b *bytes.Buffer) error { return ix.WriteBuiltin(b) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(farm, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := tc.write(&got); err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(want, got.Bytes()) {
				t.Logf("%s: %d bytes, identical to depmod's", tc.file, len(want))
				return
			}
			wl := strings.Split(string(want), "\n")
			gl := strings.Split(got.String(), "\n")
			bad := 0
			for i := 0; i < max(len(wl), len(gl)); i++ {
				var w, g string
				if i < len(wl) {
					w = wl[i]
				}
				if i < len(gl) {
					g = gl[i]
				}
				if w != g {
					if bad < 10 {
						t.Errorf("%s line %d:\n-want %q\n+got  %q", tc.file, i+1, w, g)
					}
					bad++
				}
			}
			t.Errorf("%s: %d of %d lines differ from depmod's", tc.file, bad, len(wl))
		})
	}
}

// depmodFarm runs the real depmod over a symlink farm of the reference
// kernel's tree in a temp dir and returns the farm's lib/modules/KVER.
func depmodFarm(t *testing.T) string {
	t.Helper()
	root, kver := referenceKernel(t)
	depmod := testenv.HostTool(t, "depmod")
	base := t.TempDir()
	farm := filepath.Join(base, "lib", "modules", kver)
	if err := os.MkdirAll(farm, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"kernel", "modules.order", "modules.builtin", "modules.builtin.modinfo"} {
		if err := os.Symlink(filepath.Join(root, f), filepath.Join(farm, f)); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(depmod, "-b", base, kver).CombinedOutput(); err != nil {
		t.Fatalf("%s -b %s %s: %v\n%s", depmod, base, kver, err, out)
	}
	return farm
}

// TestResolveModprobe compares load lists with what kmod's modprobe
// --show-depends prints for the same tree (without any modprobe.d).
//
// One intentional difference: kmod honours only the first softdep line of
// a module (kmod_module_get_softdeps stops at the first match), so for
// btrfs, whose MODULE_SOFTDEPs are four lines, modprobe loads blake2b but
// not sha256 and xxhash64, and the kernel's request_module fetches them
// later. The ramdisk has no modprobe for request_module to call, so needle
// honours every line; extra lists what that adds.
func TestResolveModprobe(t *testing.T) {
	extra := map[string][]string{"btrfs": {"sha256_ssse3", "xxhash_generic"}}
	farm := depmodFarm(t)
	base := filepath.Dir(filepath.Dir(filepath.Dir(farm)))
	kver := filepath.Base(farm)
	modprobe, err := exec.LookPath("modprobe")
	if err != nil {
		modprobe = "/usr/sbin/modprobe"
	}
	ix := referenceIndex(t)
	for _, want := range []string{"ext4", "nvme", "virtio_net", "mptsas", "raid456", "xfs", "megaraid_sas", "btrfs", "dm_crypt", "usb_storage", "i40e", "bonding", "crypto-crc32c", "pci:v00001000d00000079sv00001000sd00009261bc01sc04i00", "virtio:d00000002v00001AF4", "fs-vfat"} {
		t.Run(want, func(t *testing.T) {
			out, err := exec.Command(modprobe, "-C", "/dev/null", "-d", base, "-S", kver, "--show-depends", want).CombinedOutput()
			if err != nil {
				t.Fatalf("modprobe --show-depends %s: %v\n%s", want, err, out)
			}
			var wantNames []string
			for l := range strings.Lines(string(out)) {
				f := strings.Fields(l)
				if len(f) < 2 || f[0] != "insmod" {
					continue
				}
				name, _, _ := splitModulePath(f[1])
				if !slices.Contains(wantNames, name) {
					wantNames = append(wantNames, name)
				}
			}
			plan, err := ix.Resolve(want, Policy{})
			if err != nil {
				t.Fatal(err)
			}
			got := plan.Names()
			for _, x := range extra[want] {
				if !slices.Contains(got, x) {
					t.Errorf("Resolve(%q) lacks %s (from a second softdep line)", want, x)
				}
				got = slices.DeleteFunc(got, func(n string) bool { return n == x })
			}
			if diff := cmp.Diff(wantNames, got); diff != "" {
				t.Errorf("Resolve(%q) vs modprobe (-want +got):\n%s", want, diff)
			}
		})
	}
}
