package osimage_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/testenv"
	qemutest "github.com/needle-boot/needle/qemu-test"
	"github.com/needle-boot/needle/qemu-test/osimage"
)

// requireQEMU skips (or, with NEEDLE_QEMU=required, fails) without QEMU.
func requireQEMU(t *testing.T) {
	t.Helper()
	testenv.HostTool(t, "qemu-system-x86_64")
}

// snapshotDisk wires the image read-only on the host: the guest's writes
// (systemd remounts / read-write) go to a temporary overlay, so the cached
// image stays as built.
func snapshotDisk(im osimage.Image, device string) []string {
	return drive("img", im.Raw, "snapshot=on", device)
}

// drive is a -drive/-device pair; device has %s for the drive id. The
// guest's virtio disks are named in command-line order (vda, vdb, …).
func drive(id, file, opts, device string) []string {
	d := "file=" + file + ",if=none,id=" + id + ",format=raw"
	if opts != "" {
		d += "," + opts
	}
	return []string{"-drive", d, "-device", strings.ReplaceAll(device, "%s", id)}
}

// TestBoot boots the image directly (its own kernel and initrd, no
// needle) on the two disk paths the end-to-end tests use, and waits for
// the marker line and the serial login prompt:
//   - virtio: the image as virtio-blk disk vda, root=/dev/vda;
//   - megasas: the image as a SCSI disk behind QEMU's MegaRAID SAS 2108
//     (megasas-gen2, driver megaraid_sas + sd_mod from the initrd), found
//     by root=UUID= of the filesystem.
func TestBoot(t *testing.T) {
	requireQEMU(t)
	im := requireImage(t)
	for _, tc := range []struct {
		name   string
		append string
		args   []string
		root   string
	}{
		{"virtio", "root=/dev/vda ro", snapshotDisk(im, "virtio-blk-pci,drive=%s"), "/dev/vda"},
		{"megasas", "root=UUID=" + im.UUID + " ro", append([]string{"-device", "megasas-gen2,id=r0"},
			snapshotDisk(im, "scsi-hd,drive=%s,bus=r0.0")...), "/dev/sda"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm := qemutest.Start(t, qemutest.Config{
				Name: "osimage-" + tc.name, Kernel: im.Vmlinuz, Initrd: im.Initrd,
				Append: tc.append, MemoryMB: 1024, Args: tc.args,
			})
			m := vm.Expect(`NEEDLE-INSTALLED hostname=(\S+) marker=(\S+) md=(\S+) root=(\S+) kernel=(\S+)\s`, 6*time.Minute)
			t.Logf("marker line after %s: %q", time.Since(vm.Started).Round(time.Second), m[0])
			want := []string{"debian", "none", "none", tc.root, im.Kernel}
			for i, w := range want {
				if m[i+1] != w {
					t.Errorf("marker field %d = %q, want %q (line %q)", i+1, m[i+1], w, m[0])
				}
			}
			vm.Expect(`debian login: `, 2*time.Minute)
			t.Logf("login prompt after %s", time.Since(vm.Started).Round(time.Second))
			login(t, vm)
			// The unit ran once and succeeded; the root is read-write
			// (fstab's options applied after the "ro" boot).
			vm.Send("systemctl is-active needle-marker.service; findmnt -no OPTIONS / | cut -d, -f1; echo DONE-$((6*7))")
			out := vm.Expect(`(?s)(active)\r?\n(rw)\r?\nDONE-42`, time.Minute)
			t.Logf("unit %s, root mounted %s", out[1], out[2])
		})
	}
}

// login logs in as root (empty password) and waits for the shell prompt.
func login(t *testing.T, vm *qemutest.VM) {
	t.Helper()
	vm.Send("root")
	vm.Expect(`root@debian:~# `, time.Minute)
}

// TestBootMD proves the initrd assembles an md RAID1 it has never seen and
// mounts root from it by UUID, as after a needle install on two disks.
// Phase 1 boots the image from vda, builds a RAID1 (metadata 1.2, a
// foreign homehost like needle's ramdisk would leave) over the blank disks
// vdc and vdd and copies the image (attached read-only as vdb) onto it.
// Phase 2 boots with only the two members, root=UUID=.
func TestBootMD(t *testing.T) {
	requireQEMU(t)
	im := requireImage(t)
	dir := t.TempDir()
	var members []string
	for _, n := range []string{"m0.img", "m1.img"} {
		p := filepath.Join(dir, n)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		// Room for the image plus md's data offset (up to 128 MiB).
		if err := f.Truncate(im.RawSize + 256<<20); err != nil {
			t.Fatal(err)
		}
		f.Close()
		members = append(members, p)
	}

	t.Run("create", func(t *testing.T) {
		vm := qemutest.Start(t, qemutest.Config{
			Name: "osimage-md-create", Kernel: im.Vmlinuz, Initrd: im.Initrd,
			Append: "root=/dev/vda ro", MemoryMB: 1024,
			// vda: the image (snapshot); vdb: the image again, read-only,
			// the copy's source (vda is mounted and changing); vdc, vdd:
			// the future members.
			Args: slices.Concat(snapshotDisk(im, "virtio-blk-pci,drive=%s"),
				drive("src", im.Raw, "readonly=on", "virtio-blk-pci,drive=%s"),
				drive("m0", members[0], "", "virtio-blk-pci,drive=%s"),
				drive("m1", members[1], "", "virtio-blk-pci,drive=%s")),
		})
		vm.Expect(`debian login: `, 6*time.Minute)
		login(t, vm)
		vm.Send("mdadm --create /dev/md0 --run --level=1 --raid-devices=2 --metadata=1.2 --assume-clean --homehost=needle-ramdisk --name=root /dev/vdc /dev/vdd" +
			" && dd if=/dev/vdb of=/dev/md0 bs=4M conv=fsync status=none && mdadm --stop /dev/md0 && echo MD-COPY-$((1+1))")
		vm.Expect(`MD-COPY-2`, 10*time.Minute)
		t.Logf("array created and image copied after %s", time.Since(vm.Started).Round(time.Second))
		vm.Send("poweroff")
		if err := vm.Wait(3 * time.Minute); err != nil {
			t.Fatalf("phase 1 did not power off: %v", err)
		}
	})
	if t.Failed() {
		return
	}
	t.Run("boot", func(t *testing.T) {
		vm := qemutest.Start(t, qemutest.Config{
			Name: "osimage-md-boot", Kernel: im.Vmlinuz, Initrd: im.Initrd,
			Append: "root=UUID=" + im.UUID + " ro", MemoryMB: 1024,
			Disks: []qemutest.Disk{{File: members[0]}, {File: members[1]}},
		})
		m := vm.Expect(`NEEDLE-INSTALLED hostname=(\S+) marker=(\S+) md=(\S+) root=(\S+)\s`, 6*time.Minute)
		t.Logf("marker line after %s: %q", time.Since(vm.Started).Round(time.Second), m[0])
		if !regexp.MustCompile(`^md\d+:active:raid1$`).MatchString(m[3]) {
			t.Errorf("md = %q, want one active raid1 array", m[3])
		}
		if !regexp.MustCompile(`^/dev/md`).MatchString(m[4]) {
			t.Errorf("root = %q, want the md array", m[4])
		}
		vm.Expect(`debian login: `, 2*time.Minute)
		login(t, vm)
		vm.Send("cat /proc/mdstat; echo DONE-$((6*7))")
		out := vm.Expect(`(?s)(md\d+ : active raid1 \S+ \S+).*DONE-42`, time.Minute)
		t.Logf("mdstat: %s", out[1])
	})
}
