package bootmedia

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
	"github.com/google/go-cmp/cmp"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/media"
	"github.com/needle-boot/needle/internal/sysroot"
)

// machine is a fake /sys and /dev: block devices are image files (a
// partition's file holds the partition's bytes, as /dev/sda1 would).
type machine struct {
	t              *testing.T
	sys, dev, mnt  string
	mounts, umount []string
}

func newMachine(t *testing.T) *machine {
	root := t.TempDir()
	m := &machine{t: t, sys: filepath.Join(root, "sys"), dev: filepath.Join(root, "dev"), mnt: filepath.Join(root, "run/needle/media")}
	for _, d := range []string{m.sys + "/class/block", m.dev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// disk adds a whole disk whose bytes are size bytes at off of img ("" for
// zeros), with its partitions: name → [off, size, partname].
func (m *machine) add(name, parent, img string, off, size int64, partName string) {
	t := m.t
	real := filepath.Join(m.sys, "devices/pci0000:00/0000:00:04.0/block")
	if parent != "" {
		real = filepath.Join(real, parent, name)
	} else {
		real = filepath.Join(real, name)
	}
	if err := os.MkdirAll(real, 0o755); err != nil {
		t.Fatal(err)
	}
	uevent := "DEVTYPE=disk\nDEVNAME=" + name + "\n"
	if parent != "" {
		uevent = "DEVTYPE=partition\nPARTN=1\nDEVNAME=" + name + "\n"
		if partName != "" {
			uevent += "PARTNAME=" + partName + "\n"
		}
		if err := os.WriteFile(filepath.Join(real, "partition"), []byte("1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(real, "uevent"), []byte(uevent), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(m.sys, "class/block", name)); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(m.dev, name))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if img == "" {
		if err := out.Truncate(size); err != nil {
			t.Fatal(err)
		}
		return
	}
	in, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := io.Copy(out, io.NewSectionReader(in, off, size)); err != nil {
		t.Fatal(err)
	}
}

// mount stands in for mount(2): it reads the device with go-diskfs (an
// independent FAT and ISO9660 reader) and copies its files under target.
func (m *machine) mount(source, target, fstype string, flags uintptr, data string) error {
	m.mounts = append(m.mounts, fmt.Sprintf("%s %s %s ro=%v", source, target, fstype, flags&msRdonly != 0))
	fi, err := os.Stat(source)
	if err != nil {
		return err
	}
	b, err := file.OpenFromPath(source, true)
	if err != nil {
		return err
	}
	defer b.Close()
	var fs filesystem.FileSystem
	switch fstype {
	case VFAT:
		fs, err = fat32.Read(b, fi.Size(), 0, 512)
	case ISO9660:
		fs, err = iso9660.Read(b, fi.Size(), 0, 2048)
	default:
		return fmt.Errorf("fake mount: fstype %q", fstype)
	}
	if err != nil {
		return fmt.Errorf("fake mount %s: %w", source, err)
	}
	if err := copyTree(fs, ".", target); err != nil {
		return fmt.Errorf("fake mount copy: %w", err)
	}
	return nil
}

func (m *machine) unmount(target string) error {
	m.umount = append(m.umount, target)
	return os.RemoveAll(target)
}

func copyTree(fs filesystem.FileSystem, dir, dst string) error {
	ents, err := fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("readdir %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if name == "." || name == ".." || name == "" {
			continue
		}
		p := path.Join(dir, name) // io/fs style: no leading slash
		out := filepath.Join(dst, strings.ToLower(strings.TrimSuffix(p, ";1")))
		if e.IsDir() {
			if err := copyTree(fs, p, dst); err != nil {
				return err
			}
			continue
		}
		f, err := fs.OpenFile("/"+p, os.O_RDONLY)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		b, err := io.ReadAll(f)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(out, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (m *machine) finder(wait time.Duration) *Finder {
	return &Finder{Root: sysroot.Root{Sys: m.sys, Dev: m.dev}, MountDir: m.mnt, Mount: m.mount, Unmount: m.unmount,
		Wait: wait, Poll: 20 * time.Millisecond, Log: slog.New(slog.NewTextHandler(tlog{m.t}, nil))}
}

type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) { l.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

// images builds a stick and an ISO with `needle usb`/`needle iso`'s code
// from small stand-in files (labelled fakes: only placement matters here).
type images struct {
	usb, iso *media.Image
	plan     []byte
}

func build(t *testing.T) images {
	t.Helper()
	dir := t.TempDir()
	w := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	plan := "version: 1\n# plan on the stick\n"
	s := media.Stick{Kernel: w("vmlinuz", "FAKE KERNEL"), Initrd: w("initrd", "FAKE INITRD"),
		Loader: w("bootx64.efi", "MZ FAKE SYSTEMD-BOOT"), Plan: w("plan.yaml", plan), HWDBExtra: filepath.Dir(w("hwdb/x.yaml", "rules: []\n"))}
	w("plan.yaml.sig", "FAKE SIGNATURE")
	usb, err := s.USB(filepath.Join(dir, "needle.img"), 0)
	if err != nil {
		t.Fatal(err)
	}
	iso, err := s.ISO(filepath.Join(dir, "needle.iso"))
	if err != nil {
		t.Fatal(err)
	}
	return images{usb: usb, iso: iso, plan: []byte(plan)}
}

// otherFAT is a FAT32 volume that is not needle's (an installed system's
// ESP), or is needle's relabelled when entry is true.
func otherFAT(t *testing.T, label string, entry bool) string {
	p := filepath.Join(t.TempDir(), "esp.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	content := fstest.MapFS{"EFI/debian/grubx64.efi": {Data: []byte("FAKE GRUB")}}
	if entry {
		content[EntryPath] = &fstest.MapFile{Data: []byte("title needle\n")}
		content[PlanPath] = &fstest.MapFile{Data: []byte("version: 1\n")}
	}
	const size = 40 << 20
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := disk.MakeFAT32(f, size, content, disk.FATOptions{Label: label}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFind(t *testing.T) {
	im := build(t)
	usb, iso := im.usb, im.iso
	for _, tc := range []struct {
		name   string
		setup  func(m *machine)
		want   Medium // MountPoint relative to the mount dir
		mounts int
	}{
		{
			name: "usb stick next to an installed disk",
			setup: func(m *machine) {
				m.add("vda", "", otherFAT(t, "EFI", false), 0, 40<<20, "")
				m.add("sda", "", usb.Path, 0, usb.Size, "")
				m.add("sda1", "sda", usb.Path, usb.ESPStart, usb.ESPSize, "NEEDLE")
			},
			want: Medium{Device: "sda", Partition: "sda1", FSType: VFAT, Label: "NEEDLE", MountPoint: "sda1",
				PlanPath: "sda1/needle/plan.yaml", PlanSigPath: "sda1/needle/plan.yaml.sig", HWDBDir: "sda1/needle/hwdb.d"},
			mounts: 1,
		},
		{
			name: "iso on a cd-rom",
			setup: func(m *machine) {
				m.add("sr0", "", iso.Path, 0, iso.Size, "")
				m.add("vda", "", "", 0, 1<<20, "")
			},
			want: Medium{Device: "sr0", FSType: ISO9660, Label: "NEEDLE", MountPoint: "sr0",
				PlanPath: "sr0/needle/plan.yaml", PlanSigPath: "sr0/needle/plan.yaml.sig", HWDBDir: "sr0/needle/hwdb.d"},
			mounts: 1,
		},
		{
			name: "hybrid iso written to a stick: its ESP wins over the iso9660 view",
			setup: func(m *machine) {
				m.add("sdb", "", iso.Path, 0, iso.Size, "")
				m.add("sdb1", "sdb", iso.Path, iso.ESPStart, iso.ESPSize, "NEEDLE")
			},
			want: Medium{Device: "sdb", Partition: "sdb1", FSType: VFAT, Label: "NEEDLE", MountPoint: "sdb1",
				PlanPath: "sdb1/needle/plan.yaml", PlanSigPath: "sdb1/needle/plan.yaml.sig", HWDBDir: "sdb1/needle/hwdb.d"},
			mounts: 1,
		},
		{
			name: "relabelled stick found by its loader entry, after an unrelated ESP",
			setup: func(m *machine) {
				m.add("sda", "", "", 0, 1<<20, "")
				m.add("sda1", "sda", otherFAT(t, "EFI", false), 0, 40<<20, "EFI System")
				m.add("sdc", "", "", 0, 1<<20, "")
				m.add("sdc1", "sdc", otherFAT(t, "MYSTICK", true), 0, 40<<20, "")
			},
			want:   Medium{Device: "sdc", Partition: "sdc1", FSType: VFAT, Label: "MYSTICK", MountPoint: "sdc1", PlanPath: "sdc1/needle/plan.yaml"},
			mounts: 2,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t)
			tc.setup(m)
			got, err := m.finder(0).Find(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := tc.want
			rel := func(p string) string {
				if p == "" {
					return ""
				}
				return filepath.Join(m.mnt, p)
			}
			want.MountPoint, want.PlanPath, want.PlanSigPath, want.HWDBDir = rel(want.MountPoint), rel(want.PlanPath), rel(want.PlanSigPath), rel(want.HWDBDir)
			if d := cmp.Diff(&want, got); d != "" {
				t.Errorf("Find() (-want +got):\n%s", d)
			}
			if len(m.mounts) != tc.mounts {
				t.Errorf("mounts %q, want %d", m.mounts, tc.mounts)
			}
			for _, mt := range m.mounts {
				if !strings.HasSuffix(mt, "ro=true") {
					t.Errorf("mount %q is not read-only", mt)
				}
			}
			if got.PlanPath != "" && !strings.Contains(tc.name, "relabelled") {
				if b, err := os.ReadFile(got.PlanPath); err != nil || !bytes.Equal(b, im.plan) {
					t.Errorf("plan on the medium = %q, %v; want %q", b, err, im.plan)
				}
			}
		})
	}
}

func TestFindNone(t *testing.T) {
	m := newMachine(t)
	m.add("vda", "", "", 0, 1<<20, "")
	m.add("vdb", "", "", 0, 0, "") // an empty CD tray reads nothing
	m.add("vdc", "", otherFAT(t, "EFI", false), 0, 40<<20, "")
	start := time.Now()
	_, err := m.finder(200 * time.Millisecond).Find(context.Background())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find() = %v, want ErrNotFound", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("Find gave up after %v, want it to wait 200ms", d)
	}
	// The unrelated ESP was looked into once, and released.
	if len(m.mounts) != 1 || len(m.umount) != 1 {
		t.Errorf("mounts %q, unmounts %q: want one of each", m.mounts, m.umount)
	}
}

// TestFindWaits: the stick shows up after the finder started looking, as
// a USB disk does some time after usb-storage binds.
func TestFindWaits(t *testing.T) {
	im := build(t)
	m := newMachine(t)
	done := make(chan struct{})
	go func() {
		time.Sleep(150 * time.Millisecond)
		m.add("sda", "", im.usb.Path, 0, im.usb.Size, "")
		m.add("sda1", "sda", im.usb.Path, im.usb.ESPStart, im.usb.ESPSize, "NEEDLE")
		close(done)
	}()
	got, err := m.finder(10 * time.Second).Find(context.Background())
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if got.Device != "sda" || got.Partition != "sda1" {
		t.Errorf("Find() = %+v, want sda/sda1", got)
	}
}

func TestFindMountError(t *testing.T) {
	im := build(t)
	m := newMachine(t)
	m.add("sda", "", im.usb.Path, 0, im.usb.Size, "")
	m.add("sda1", "sda", im.usb.Path, im.usb.ESPStart, im.usb.ESPSize, "NEEDLE")
	f := m.finder(0)
	f.Mount = func(source, target, fstype string, flags uintptr, data string) error {
		return errors.New("no such device")
	}
	_, err := f.Find(context.Background())
	if err == nil || !strings.Contains(err.Error(), "sda1") || !strings.Contains(err.Error(), "no such device") {
		t.Errorf("Find() = %v, want an error naming sda1 and the cause", err)
	}
}

func TestExpected(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"initrd=\\needle\\initrd needle.media=usb console=ttyS0", "usb"},
		{"needle.media=iso", "iso"},
		{"BOOTIF=01-52-54-00-12-34-56 ip=dhcp", ""},
	} {
		if got := Expected(strings.Fields(tc.line)); got != tc.want {
			t.Errorf("Expected(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
