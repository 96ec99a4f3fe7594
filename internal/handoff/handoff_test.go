package handoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/needle-boot/needle/internal/plan"
)

// fakeMounts maps plan references and fstab sources to directories, as the
// install's real mount function would after mounting them.
type fakeMounts struct {
	refs  map[string]string
	specs map[string]string
	calls []string
}

func (f *fakeMounts) mount(_ context.Context, ref string) (string, error) {
	f.calls = append(f.calls, "mount "+ref)
	d, ok := f.refs[ref]
	if !ok {
		return "", fmt.Errorf("no filesystem %q in this plan", ref)
	}
	return d, nil
}

func (f *fakeMounts) mountSpec(_ context.Context, spec, fstype string) (string, error) {
	f.calls = append(f.calls, "mount "+spec+" ("+fstype+")")
	d, ok := f.specs[spec]
	if !ok {
		return "", fmt.Errorf("%s: no such filesystem", spec)
	}
	return d, nil
}

func TestPrepare(t *testing.T) {
	refs := Refs{"partuuid:root": "6c0e7e5a-4a61-4c52-9d4a-0d3c8f2b1a77", "uuid:root": debianUUID}
	tests := []struct {
		name      string
		tree      string
		kexec     plan.Kexec
		wantMount []string
	}{
		{name: "fedora39", tree: "fedora39", kexec: plan.Kexec{Root: "root"},
			wantMount: []string{"mount root", "mount UUID=5e7a9c1b-2d3f-4a5b-9c8d-7e6f5a4b3c2d (ext4)"}},
		{name: "debian12-plan-cmdline", tree: "debian12",
			kexec:     plan.Kexec{Root: "root", Cmdline: "root=PARTUUID=${partuuid:root} ro console=ttyS0,115200n8 needle.installed=1"},
			wantMount: []string{"mount root"}},
		{name: "debian12-explicit", tree: "debian12",
			kexec: plan.Kexec{Root: "root", Kernel: "/boot/vmlinuz-6.1.0-17-amd64", Initrd: "/boot/initrd.img-6.1.0-17-amd64",
				Cmdline: "root=UUID=${uuid:root} ro", Fallback: "fail"},
			wantMount: []string{"mount root"}},
		{name: "debian12-explicit-kernel-only", tree: "debian12",
			kexec:     plan.Kexec{Root: "root", Kernel: "/vmlinuz.old"},
			wantMount: []string{"mount root"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, filepath.Join("testdata", tc.tree, "root"))
			fm := &fakeMounts{refs: map[string]string{"root": root}, specs: map[string]string{}}
			var boot string
			if _, err := os.Stat(filepath.Join("testdata", tc.tree, "boot")); err == nil {
				boot = copyTree(t, filepath.Join("testdata", tc.tree, "boot"))
				fm.specs["UUID=5e7a9c1b-2d3f-4a5b-9c8d-7e6f5a4b3c2d"] = boot
			}
			k := tc.kexec
			h := &Handoff{Boot: &plan.Boot{Kexec: &k}, Mount: fm.mount, MountSpec: fm.mountSpec, Refs: refs, Log: testLogger(t)}
			a, err := h.Prepare(context.Background())
			if err != nil {
				t.Fatalf("Prepare: %v", err)
			}
			if strings.Join(fm.calls, "; ") != strings.Join(tc.wantMount, "; ") {
				t.Errorf("mounts = %q, want %q", fm.calls, tc.wantMount)
			}
			rel := relTarget(*a.Target, root, boot)
			a.Target = &rel
			checkGolden(t, "prepare-"+tc.name, a)
			var out bytes.Buffer
			if _, err := a.WriteTo(&out); err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{"kexec_file_load(open(kernel, O_RDONLY)", "kexec -s -l", a.Target.Cmdline} {
				if !strings.Contains(out.String(), w) {
					t.Errorf("dry run output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestPrepareReboot(t *testing.T) {
	h := &Handoff{Boot: &plan.Boot{Reboot: &plan.Reboot{}}}
	a, err := h.Prepare(context.Background())
	if err != nil || !a.Reboot {
		t.Fatalf("Prepare(boot: reboot) = %+v, %v; want a reboot", a, err)
	}
	var out bytes.Buffer
	a.WriteTo(&out)
	if !strings.Contains(out.String(), "plain reboot") {
		t.Errorf("dry run of a reboot: %q", out.String())
	}
}

func TestPrepareErrors(t *testing.T) {
	tests := []struct {
		name      string
		tree      string
		kexec     plan.Kexec
		noSpec    bool
		refs      Refs
		wantErr   string
		wantCause error
	}{
		{name: "unknown reference in the plan's cmdline", tree: "debian12",
			kexec:   plan.Kexec{Root: "root", Cmdline: "root=PARTUUID=${partuuid:system} ro"},
			wantErr: `boot.kexec.cmdline: ${partuuid:system}: no partuuid known for "system"`},
		{name: "root that cannot be mounted", tree: "debian12", kexec: plan.Kexec{Root: "data"},
			wantErr: `mounting root "data": no filesystem "data" in this plan`},
		{name: "separate /boot that cannot be mounted", tree: "fedora39", kexec: plan.Kexec{Root: "root"}, noSpec: true,
			wantErr: "no kernel found under root"},
		{name: "explicit kernel missing", tree: "debian12", kexec: plan.Kexec{Root: "root", Kernel: "/boot/vmlinuz-9.9", Cmdline: "ro"},
			wantErr: "boot.kexec.kernel /boot/vmlinuz-9.9", wantCause: os.ErrNotExist},
		{name: "no cmdline anywhere", tree: "debian12", kexec: plan.Kexec{Root: "root"},
			wantErr: "comes with no command line and the plan gives none"},
		{name: "cmdline too long", tree: "debian12", kexec: plan.Kexec{Root: "root", Cmdline: strings.Repeat("x", 2048)},
			wantErr: "command line is 2048 bytes, the kernel takes at most 2047"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := copyTree(t, filepath.Join("testdata", tc.tree, "root"))
			if tc.name == "no cmdline anywhere" {
				// Neither a boot entry nor an fstab root: only the links.
				removeAll(t, root+"/boot/grub", root+"/etc/fstab")
			}
			fm := &fakeMounts{refs: map[string]string{"root": root}}
			k := tc.kexec
			h := &Handoff{Boot: &plan.Boot{Kexec: &k}, Mount: fm.mount, Refs: tc.refs, Log: testLogger(t)}
			if !tc.noSpec {
				h.MountSpec = fm.mountSpec
				if tc.tree == "fedora39" {
					fm.specs = map[string]string{"UUID=5e7a9c1b-2d3f-4a5b-9c8d-7e6f5a4b3c2d": copyTree(t, "testdata/fedora39/boot")}
				}
			}
			a, err := h.Prepare(context.Background())
			if err == nil {
				t.Fatalf("Prepare = %+v, want an error containing %q", a, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Prepare error = %q, want it to contain %q", err, tc.wantErr)
			}
			if tc.wantCause != nil && !errors.Is(err, tc.wantCause) {
				t.Errorf("Prepare error = %v, want it to wrap %v", err, tc.wantCause)
			}
		})
	}
}

func TestUnderRoot(t *testing.T) {
	mounts := []string{"/", "/proc", "/sys", "/mnt/needle", "/mnt/needle/root", "/mnt/needle-other", "/mnt/needle/root/boot", "/mnt/needle/root/boot/efi"}
	got := underRoot(mounts, "/mnt/needle/")
	want := []string{"/mnt/needle/root/boot/efi", "/mnt/needle/root/boot", "/mnt/needle/root", "/mnt/needle"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("underRoot = %q, want %q", got, want)
	}
}
