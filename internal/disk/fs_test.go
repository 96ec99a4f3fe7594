package disk

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"github.com/google/uuid"
)

func TestMakeSwap(t *testing.T) {
	const size = 64 << 20
	u := uuid.MustParse("2f6a8c1e-5d4b-4e3a-9c2b-1a0f9e8d7c6b")
	img := filepath.Join(t.TempDir(), "swap.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	// An old ext4 signature in the first page must not survive.
	if _, err := f.WriteAt([]byte{0x53, 0xef}, 1024+0x38); err != nil {
		t.Fatal(err)
	}
	if err := MakeSwap(f, size, SwapOptions{UUID: u, Label: "needle-swap"}); err != nil {
		t.Fatal(err)
	}
	blkid := needTool(t, "blkid")
	out, err := exec.Command(blkid, "-p", "-o", "export", img).Output()
	if err != nil {
		t.Fatalf("blkid -p %s: %v", img, err)
	}
	for _, want := range []string{"TYPE=swap", "UUID=" + u.String(), "LABEL=needle-swap", "VERSION=1"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("blkid -p: want %s in\n%s", want, out)
		}
	}
	if sl, err := exec.LookPath("swaplabel"); err == nil {
		out, err := exec.Command(sl, img).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "needle-swap") || !strings.Contains(string(out), u.String()) {
			t.Errorf("swaplabel %s: %v\n%s", img, err, out)
		}
	}
	// last_page as mkswap computes it: pages - 1.
	hdr := make([]byte, 4)
	f.ReadAt(hdr, 1028)
	if got := uint32(hdr[0]) | uint32(hdr[1])<<8 | uint32(hdr[2])<<16 | uint32(hdr[3])<<24; got != size/4096-1 {
		t.Errorf("last_page = %d, want %d", got, size/4096-1)
	}
}

func TestMakeSwapErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
		opts SwapOptions
		want string
	}{
		{"tiny", 9 * 4096, SwapOptions{}, "fewer than 10 pages"},
		{"label", 1 << 20, SwapOptions{Label: "a label that is too long"}, "longer than 15"},
		{"page", 1 << 20, SwapOptions{PageSize: 3000}, "power of two"},
	} {
		if err := MakeSwap(discardAt{}, tc.size, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: MakeSwap = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestMakeExt4(t *testing.T) {
	const start, size = 1 << 20, 32 << 20
	img := filepath.Join(t.TempDir(), "disk.img")
	b, err := file.CreateFromPath(img, start+size)
	if err != nil {
		t.Fatal(err)
	}
	content := fstest.MapFS{
		"etc/needle/plan.yaml":       {Data: []byte("version: 1\n")},
		"etc/hostname":               {Data: []byte("node1\n")},
		"var/log/needle/events.json": {Data: bytes.Repeat([]byte(`{"stage":"image"}`+"\n"), 5000)},
	}
	u := uuid.MustParse("d1b5e0a4-0000-4c1e-8000-00000000abcd")
	if err := MakeExt4(b, start, size, content, Ext4Options{Label: "cfg", UUID: u}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// e2fsck works on a file holding only the filesystem: cut it out.
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	fsImg := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(fsImg, raw[start:], 0o644); err != nil {
		t.Fatal(err)
	}
	e2fsck := needTool(t, "e2fsck")
	out, err := exec.Command(e2fsck, "-fn", fsImg).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
	t.Logf("e2fsck -fn: %s", lastLine(string(out)))
	rb, err := file.OpenFromPath(img, true)
	if err != nil {
		t.Fatal(err)
	}
	defer rb.Close()
	vol, err := ext4.Read(rb, size, start, 512)
	if err != nil {
		t.Fatal(err)
	}
	if vol.Label() != "cfg" {
		t.Errorf("label %q, want cfg", vol.Label())
	}
	for name, want := range content {
		f, err := vol.OpenFile("/"+name, os.O_RDONLY)
		if err != nil {
			t.Errorf("open /%s: %v", name, err)
			continue
		}
		got, _ := io.ReadAll(f)
		if !bytes.Equal(got, want.Data) {
			t.Errorf("/%s: read back %d bytes, want %d", name, len(got), len(want.Data))
		}
	}
}
