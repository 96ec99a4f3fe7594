package disk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/google/go-cmp/cmp"
)

// usedDisk builds a 256 MiB image looking like a previous install: a GPT
// with an ESP (FAT32), swap, an md 1.2 member, an ext4 (host mkfs.ext4 when
// present, else its magic), plus an md 0.90 superblock at the disk's end.
func usedDisk(t *testing.T) (string, Placement) {
	t.Helper()
	const size = 256 << 20
	l := Layout{Table: "gpt", Partitions: []PartSpec{
		{Name: "esp", Type: "esp", Size: "64MiB"},
		{Name: "swap", Type: "swap", Size: "16MiB"},
		{Name: "md", Type: "raid", Size: "32MiB"},
		{Name: "root", Type: "linux", Size: "rest"},
	}}
	pl, err := Place(l, size, 512, "old", "os")
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "used.img")
	b, err := file.CreateFromPath(img, size)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteTable(b, pl, nil); err != nil {
		t.Fatal(err)
	}
	b.Close()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := pl.Partitions
	if err := MakeFAT32(io.NewOffsetWriter(f, p[0].Start), p[0].Size, nil, FATOptions{Label: "OLD"}); err != nil {
		t.Fatal(err)
	}
	if err := MakeSwap(io.NewOffsetWriter(f, p[1].Start), p[1].Size, SwapOptions{}); err != nil {
		t.Fatal(err)
	}
	md := []byte{0xfc, 0x4e, 0x2b, 0xa9}
	f.WriteAt(md, p[2].Start+4096)
	f.WriteAt(md, (size&^(64<<10-1))-64<<10)
	if mkfs, err := exec.LookPath("mkfs.ext4"); err == nil {
		out, err := exec.Command(mkfs, "-q", "-F", "-E", "offset="+itoa(p[3].Start), img, itoa(p[3].Size>>10)+"k").CombinedOutput()
		if err != nil {
			t.Fatalf("mkfs.ext4: %v\n%s", err, out)
		}
	} else {
		f.WriteAt([]byte{0x53, 0xef}, p[3].Start+1024+0x38)
		f.WriteAt([]byte{0x40}, p[3].Start+1024+0x60)
	}
	// Data in the middle of the old root must survive: Wipe is not a
	// full erase.
	f.WriteAt([]byte("still here"), p[3].Start+50<<20)
	return img, pl
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestWipe(t *testing.T) {
	img, pl := usedDisk(t)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 256 << 20
	p := pl.Partitions
	rep, err := Wipe(f, size, WipeOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := []Signature{
		{"gpt", 512, "disk"},
		{"gpt-backup", size - 512, "disk"},
		{"md-0.90", size - 64<<10, "disk"},
		{"vfat", p[0].Start, "partition 1"},
		{"swap", p[1].Start, "partition 2"},
		{"md-1.2", p[2].Start + 4096, "partition 3"},
		{"ext4", p[3].Start + 1024, "partition 4"},
	}
	if diff := cmp.Diff(want, rep.Found); diff != "" {
		t.Errorf("signatures found (-want +got):\n%s", diff)
	}
	// Nothing is found on a second pass, the table is gone for sfdisk and
	// blkid, and data outside the signature areas is untouched.
	again, err := Wipe(f, size, WipeOptions{})
	if err != nil || len(again.Found) != 0 {
		t.Errorf("second Wipe found %v, %v; want nothing", again.Found, err)
	}
	if sfdisk, err := exec.LookPath("sfdisk"); err == nil {
		out, err := exec.Command(sfdisk, "--dump", img).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "does not contain a recognized partition table") {
			t.Errorf("sfdisk --dump after Wipe: %v\n%s", err, out)
		}
	}
	if blkid, err := exec.LookPath("blkid"); err == nil {
		out, err := exec.Command(blkid, "-p", img).CombinedOutput()
		if err == nil {
			t.Errorf("blkid -p still finds something after Wipe:\n%s", out)
		}
	}
	buf := make([]byte, 10)
	f.ReadAt(buf, p[3].Start+50<<20)
	if string(buf) != "still here" {
		t.Errorf("data in the old root changed: %q", buf)
	}
	for _, rg := range rep.Cleared {
		b := make([]byte, rg.Len)
		f.ReadAt(b, rg.Off)
		if !bytes.Equal(b, make([]byte, rg.Len)) {
			t.Errorf("region %+v not zero", rg)
		}
	}
}

func TestWipeRegions(t *testing.T) {
	const size = 1 << 30
	for _, tc := range []struct {
		sector int
		want   []Region
	}{
		{512, []Region{
			{0, 1 << 20, "first MiB of disk"},
			{size - 33*512, 33 * 512, "backup GPT (512-byte sectors)"},
			{size - 64<<10, 4 << 10, "md-0.90 superblock of disk"},
			{size - 8<<10, 4 << 10, "md-1.0 superblock of disk"},
		}},
		{4096, []Region{
			{0, 1 << 20, "first MiB of disk"},
			{size - 5*4096, 5 * 4096, "backup GPT (4096-byte sectors)"},
			{size - 64<<10, 4 << 10, "md-0.90 superblock of disk"},
			{size - 8<<10, 4 << 10, "md-1.0 superblock of disk"},
		}},
	} {
		got := wipeRegions(area{0, size, "disk"}, tc.sector)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("wipeRegions(sector %d) (-want +got):\n%s", tc.sector, diff)
		}
	}
	merged := mergeRegions(wipeRegions(area{0, size, "disk"}, 0))
	if len(merged) != 3 || merged[1].Off != size-64<<10 || merged[2].Off != size-5*4096 || merged[2].Len != 5*4096 {
		t.Errorf("merged regions for unknown sector size: %+v", merged)
	}
}

func TestWipeZeroOutAndDiscard(t *testing.T) {
	img := filepath.Join(t.TempDir(), "d.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(8 << 20)
	var calls []string
	k := Kernel{
		Discard: func(_ *os.File, s, l int64) error {
			calls = append(calls, "discard")
			return errors.New("operation not supported")
		},
		ZeroOut: func(_ *os.File, s, l int64) error { calls = append(calls, "zeroout"); return nil },
	}
	rep, err := Wipe(f, 8<<20, WipeOptions{Discard: true, ZeroOut: true, Device: f, Kernel: k})
	if err != nil || !rep.Zeroed {
		t.Fatalf("Wipe = %+v, %v; want zeroed despite the failed discard", rep, err)
	}
	if diff := cmp.Diff([]string{"discard", "zeroout"}, calls); diff != "" {
		t.Errorf("ioctls (-want +got):\n%s", diff)
	}
	k.ZeroOut = func(*os.File, int64, int64) error { return errors.New("input/output error") }
	if _, err := Wipe(f, 8<<20, WipeOptions{ZeroOut: true, Device: f, Kernel: k}); err == nil {
		t.Error("Wipe with a failing BLKZEROOUT succeeded")
	}
}

// failWriter fails every write: Wipe must report the offset.
type failWriter struct{}

func (failWriter) WriteAt(p []byte, off int64) (int, error) { return 0, errors.New("EIO") }

func TestWipeWriteError(t *testing.T) {
	_, err := Wipe(failWriter{}, 8<<20, WipeOptions{})
	if err == nil || !strings.Contains(err.Error(), "at offset 0") {
		t.Fatalf("Wipe = %v, want an error naming offset 0", err)
	}
}

func FuzzDetect(f *testing.F) {
	f.Add(make([]byte, 4096))
	f.Fuzz(func(t *testing.T, b []byte) {
		img := make([]byte, 256<<10)
		copy(img, b)
		r := bytes.NewReader(img)
		if _, err := detect(r, area{0, int64(len(img)), "disk"}); err != nil {
			t.Fatal(err)
		}
		if _, err := oldPartitions(r, int64(len(img))); err != nil {
			t.Fatal(err)
		}
	})
}

type fakeRunner struct {
	calls  [][]string
	failOn string
}

func (r *fakeRunner) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	r.calls = append(r.calls, append([]string{name}, args...))
	if name == r.failOn {
		return nil, errors.New("exit status 1: device or resource busy")
	}
	return nil, nil
}
