package disk

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/google/go-cmp/cmp"
)

// espContent is a realistic ESP: 8.3 names, long and lower-case names,
// nested directories, an empty file and an empty directory, and a file
// spanning many clusters.
func espContent() fstest.MapFS {
	big := bytes.Repeat([]byte("0123456789abcdef"), 300000) // 4.8 MB
	return fstest.MapFS{
		"EFI/BOOT/BOOTX64.EFI":                      {Data: big},
		"EFI/debian/grubx64.efi":                    {Data: []byte("grub image")},
		"EFI/debian/grub.cfg":                       {Data: []byte("search.fs_uuid 1234 root\n")},
		"EFI/debian/a very long file name.conf":     {Data: []byte("long")},
		"loader/entries/needle-6.1.0-56.conf":       {Data: []byte("title needle\nlinux /vmlinuz\n")},
		"loader/loader.conf":                        {Data: []byte("timeout 3\n")},
		"EMPTY.TXT":                                 {Data: nil},
		"empty-dir":                                 {Mode: fs.ModeDir | 0o755},
		"deep/a/b/c/d/e/f/g/leaf.bin":               {Data: []byte{0, 1, 2, 3}},
		"ünïcode-ñame.txt":                          {Data: []byte("utf-16 in the long name")},
		"README":                                    {Data: []byte("no extension")},
		"many/" + strings.Repeat("x", 100) + ".txt": {Data: []byte("a name over several LFN entries")},
	}
}

func fsckVfat(t *testing.T, img string, offset int64) {
	t.Helper()
	bin := needTool(t, "fsck.vfat")
	args := []string{"-n", "-v"}
	if offset != 0 {
		t.Fatalf("fsck.vfat needs the volume at offset 0")
	}
	out, err := exec.Command(bin, append(args, img)...).CombinedOutput()
	if err != nil {
		t.Fatalf("fsck.vfat -n %s: %v\n%s", img, err, out)
	}
	// fsck.vfat -n exits 0 even for some repairs it would make; any of
	// these words means it found something.
	for _, bad := range []string{"Fixing", "Invalid", "differ", "uninitialized", "wrong", "Bad", "unchanged", "Free cluster summary"} {
		if strings.Contains(string(out), bad) {
			t.Fatalf("fsck.vfat -n %s reports %q:\n%s", img, bad, out)
		}
	}
	t.Logf("fsck.vfat -n: %s", lastLine(string(out)))
}

func lastLine(s string) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return l[len(l)-1]
}

func TestMakeFAT32(t *testing.T) {
	content := espContent()
	for _, mib := range []int64{64, 100, 256, 512} {
		t.Run(fmt.Sprintf("%dMiB", mib), func(t *testing.T) {
			size := mib << 20
			img := filepath.Join(t.TempDir(), "esp.img")
			f, err := os.Create(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(size); err != nil {
				t.Fatal(err)
			}
			if err := MakeFAT32(f, size, content, FATOptions{Label: "esp", VolumeID: 0x1234abcd, Hidden: 2048}); err != nil {
				t.Fatalf("MakeFAT32(%d MiB) = %v", mib, err)
			}
			fsckVfat(t, img, 0)
			checkFATContent(t, img, size, content)
			if blkid, err := exec.LookPath("blkid"); err == nil {
				out, err := exec.Command(blkid, "-p", "-o", "export", img).Output()
				if err != nil {
					t.Fatalf("blkid -p %s: %v", img, err)
				}
				for _, want := range []string{"TYPE=vfat", "LABEL=ESP", "UUID=1234-ABCD", "VERSION=FAT32"} {
					if !strings.Contains(string(out), want+"\n") {
						t.Errorf("blkid -p: want %s in\n%s", want, out)
					}
				}
			}
		})
	}
}

// checkFATContent reads every file back with go-diskfs' FAT32 reader.
func checkFATContent(t *testing.T, img string, size int64, content fstest.MapFS) {
	t.Helper()
	b, err := file.OpenFromPath(img, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	vol, err := fat32.Read(b, size, 0, 512)
	if err != nil {
		t.Fatalf("go-diskfs fat32.Read: %v", err)
	}
	for name, want := range content {
		if want.Mode.IsDir() {
			ents, err := vol.ReadDir(name)
			if err != nil {
				t.Errorf("ReadDir(/%s) = %v", name, err)
			} else if len(ents) != 0 {
				t.Errorf("ReadDir(/%s) has %d entries, want 0", name, len(ents))
			}
			continue
		}
		if len(want.Data) == 0 {
			// go-diskfs v1.9.4 cannot open an empty file: it has first
			// cluster 0, as fatgen103 requires, which its reader rejects.
			ents, err := vol.ReadDir(filepath.Dir(name))
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range ents {
				if info, err := e.Info(); err == nil && e.Name() == filepath.Base(name) && info.Size() == 0 {
					found = true
				}
			}
			if !found {
				t.Errorf("empty file /%s not listed with size 0", name)
			}
			continue
		}
		f, err := vol.OpenFile("/"+name, os.O_RDONLY)
		if err != nil {
			t.Errorf("open /%s: %v", name, err)
			continue
		}
		got, err := io.ReadAll(f)
		if err != nil {
			t.Errorf("read /%s: %v", name, err)
		}
		if !bytes.Equal(got, want.Data) {
			t.Errorf("/%s: read back %d bytes, want %d (equal: false)", name, len(got), len(want.Data))
		}
	}
	ents, err := vol.ReadDir("EFI/debian")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"a very long file name.conf", "grub.cfg", "grubx64.efi"}, names); diff != "" {
		t.Errorf("ReadDir(/EFI/debian) (-want +got):\n%s", diff)
	}
}

func TestMakeFAT32Deterministic(t *testing.T) {
	var imgs [2][]byte
	for i := range imgs {
		p := filepath.Join(t.TempDir(), "esp.img")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := MakeFAT32(f, 64<<20, espContent(), FATOptions{Label: "ESP", VolumeID: 7}); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if imgs[i], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Error("two MakeFAT32 runs on the same input differ")
	}
}

func TestFAT32Geometry(t *testing.T) {
	// The cluster size is the largest of 4 KiB, 2 KiB, 1 KiB, 512 bytes
	// that gives FAT32 its minimum of 65525 clusters.
	for _, tc := range []struct {
		mib int64
		spc uint32
	}{
		{64, 1}, {100, 2}, {256, 4}, {512, 8}, {4096, 8},
	} {
		g, err := fat32Geometry(tc.mib << 20)
		if err != nil {
			t.Fatalf("fat32Geometry(%d MiB) = %v", tc.mib, err)
		}
		if g.spc != tc.spc {
			t.Errorf("fat32Geometry(%d MiB) = %d sectors per cluster, want %d", tc.mib, g.spc, tc.spc)
		}
		// The FAT maps every cluster, wastes under 2%, and the sectors add up.
		if g.clusters < fatMinClusters || (g.clusters+2) > g.fatSectors*128 || g.fatSectors*128 > (g.clusters+2)*102/100 {
			t.Errorf("fat32Geometry(%d MiB): %d clusters for a FAT of %d entries", tc.mib, g.clusters, g.fatSectors*128)
		}
		if used := fatReserved + 2*g.fatSectors + g.clusters*g.spc; used > g.totalSectors || g.totalSectors-used >= g.spc {
			t.Errorf("fat32Geometry(%d MiB): %d of %d sectors used", tc.mib, used, g.totalSectors)
		}
	}
	if _, err := fat32Geometry(32 << 20); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Errorf("fat32Geometry(32 MiB) = %v, want too small", err)
	}
}

func TestMakeFAT32Errors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content fs.FS
		opts    FATOptions
		want    string
	}{
		{"does not fit", fstest.MapFS{"big": {Data: make([]byte, 70<<20)}}, FATOptions{}, "does not fit"},
		{"long label", nil, FATOptions{Label: "TWELVE-CHARS"}, "longer than 11"},
		{"bad label", nil, FATOptions{Label: "A/B"}, "not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := MakeFAT32(discardAt{}, 64<<20, tc.content, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("MakeFAT32 = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

type discardAt struct{}

func (discardAt) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }

func TestShortName(t *testing.T) {
	used := map[[11]byte]bool{}
	for _, tc := range []struct {
		in, want string
		lfn      bool
	}{
		{"BOOTX64.EFI", "BOOTX64 EFI", false},
		{"README", "README     ", false},
		{"grubx64.efi", "GRUBX6~1EFI", true},
		{"grubx64.efi2", "GRUBX6~2EFI", true},
		{"a very long file name.conf", "AVERYL~1CON", true},
		{"x.tar.gz", "XTAR~1  GZ ", true},
	} {
		sn, lfn, err := shortName(tc.in, used)
		if err != nil {
			t.Fatalf("shortName(%q) = %v", tc.in, err)
		}
		used[sn] = true
		if string(sn[:]) != tc.want || lfn != tc.lfn {
			t.Errorf("shortName(%q) = %q, %v; want %q, %v", tc.in, sn, lfn, tc.want, tc.lfn)
		}
	}
}

// FuzzShortName: any name either is refused or gets an 11-byte upper-case
// short name fsck.vfat accepts, distinct from the ones already used.
func FuzzShortName(f *testing.F) {
	for _, s := range []string{"BOOTX64.EFI", "grub.cfg", "a b.c.d", "ünï", ".hidden", "x~1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		used := map[[11]byte]bool{}
		sn, _, err := shortName(name, used)
		if err != nil {
			return
		}
		if sn[0] == ' ' || sn[0] == 0 || sn[0] == 0xe5 {
			t.Fatalf("shortName(%q) = %q: bad first byte", name, sn)
		}
		for _, c := range sn {
			if c != ' ' && !okShort(string(rune(c))) {
				t.Fatalf("shortName(%q) = %q: byte %q not allowed", name, sn, c)
			}
		}
		used[sn] = true
		if sn2, _, err := shortName(name, used); err == nil && sn2 == sn {
			t.Fatalf("shortName(%q) reused %q", name, sn)
		}
	})
}
