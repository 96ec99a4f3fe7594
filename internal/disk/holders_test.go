package disk

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/sysroot"
)

// fakeTree builds sysfs and proc for: sda with sda1 (mounted at
// /mnt/old/boot\040efi, a space in the name), sda2 under md0, md0 under
// dm-0 (LVM "vg0-root", mounted at /mnt/old), sda3 as swap; sdb unrelated
// and mounted at /srv.
func fakeTree(t *testing.T) (sys, proc string) {
	t.Helper()
	sys, proc = t.TempDir(), t.TempDir()
	mk := func(p, content string) {
		full := filepath.Join(sys, "class", "block", p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("sda/dev", "8:0\n")
	for i, p := range []string{"sda1", "sda2", "sda3"} {
		mk("sda/"+p+"/partition", string(rune('1'+i))+"\n")
		mk(p+"/dev", "8:"+string(rune('1'+i))+"\n")
	}
	mk("sda2/holders/md0", "")
	mk("md0/dev", "9:0\n")
	mk("md0/holders/dm-0", "")
	mk("dm-0/dev", "253:0\n")
	mk("dm-0/dm/name", "vg0-root\n")
	mk("sdb/dev", "8:16\n")
	mi := `22 1 0:21 / /proc rw - proc proc rw
30 1 253:0 / /mnt/old rw,relatime - ext4 /dev/mapper/vg0-root rw
31 30 8:1 / /mnt/old/boot\040efi rw - vfat /dev/sda1 rw
32 1 8:16 / /srv rw - xfs /dev/sdb rw
`
	os.MkdirAll(filepath.Join(proc, "self"), 0o755)
	os.WriteFile(filepath.Join(proc, "self", "mountinfo"), []byte(mi), 0o644)
	os.WriteFile(filepath.Join(proc, "swaps"), []byte("Filename\tType\tSize\tUsed\tPriority\n/dev/sda3 partition 1048572 0 -2\n"), 0o644)
	return sys, proc
}

func TestFindHoldersAndRelease(t *testing.T) {
	sys, proc := fakeTree(t)
	hs, err := FindHolders(sysroot.Root{Sys: sys, Proc: proc}, "sda")
	if err != nil {
		t.Fatal(err)
	}
	want := []Holder{
		{Kind: "mount", Name: "/mnt/old/boot efi", Device: "sda1"},
		{Kind: "mount", Name: "/mnt/old", Device: "dm-0"},
		{Kind: "swap", Name: "/dev/sda3", Device: "sda3"},
		{Kind: "dm", Name: "dm-0", Device: "md0", DMName: "vg0-root"},
		{Kind: "md", Name: "md0", Device: "sda2"},
	}
	if diff := cmp.Diff(want, hs); diff != "" {
		t.Fatalf("FindHolders (-want +got):\n%s", diff)
	}
	r := &fakeRunner{}
	if err := Release(context.Background(), hs, r, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	wantCalls := [][]string{
		{"umount", "/mnt/old/boot efi"},
		{"umount", "/mnt/old"},
		{"swapoff", "/dev/sda3"},
		{"dmsetup", "remove", "--retry", "vg0-root"},
		{"mdadm", "--stop", "/dev/md0"},
	}
	if diff := cmp.Diff(wantCalls, r.calls); diff != "" {
		t.Errorf("release commands (-want +got):\n%s", diff)
	}

	// A holder that cannot be released makes the disk busy: Release stops
	// there and says so.
	r = &fakeRunner{failOn: "dmsetup"}
	err = Release(context.Background(), hs, r, nil)
	if err == nil || !strings.Contains(err.Error(), "disk busy: release dm dm-0 on md0") {
		t.Fatalf("Release = %v, want disk busy naming dm-0", err)
	}
	if len(r.calls) != 4 {
		t.Errorf("Release ran %d commands after a failure, want it to stop at the 4th", len(r.calls))
	}
}

func TestFindHoldersNone(t *testing.T) {
	sys, proc := fakeTree(t)
	hs, err := FindHolders(sysroot.Root{Sys: sys, Proc: proc}, "sdb")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Holder{{Kind: "mount", Name: "/srv", Device: "sdb"}}, hs); diff != "" {
		t.Errorf("FindHolders(sdb) (-want +got):\n%s", diff)
	}
	if _, err := FindHolders(sysroot.Root{Sys: sys, Proc: proc}, "sdz"); err == nil {
		t.Error("FindHolders(sdz) found a missing disk")
	}
}

func TestReleaseUnknownHolder(t *testing.T) {
	err := Release(context.Background(), []Holder{{Kind: "holder", Name: "bcache0", Device: "sda"}}, &fakeRunner{}, nil)
	if err == nil || !strings.Contains(err.Error(), "disk busy") {
		t.Fatalf("Release(bcache0) = %v, want disk busy", err)
	}
}

// countWriter counts writes.
type countWriter struct{ n int }

func (c *countWriter) WriteAt(p []byte, _ int64) (int, error) { c.n++; return len(p), nil }

func TestEraseBusyWritesNothing(t *testing.T) {
	sys, proc := fakeTree(t)
	hs, err := FindHolders(sysroot.Root{Sys: sys, Proc: proc}, "sda")
	if err != nil {
		t.Fatal(err)
	}
	w := &countWriter{}
	_, err = Erase(context.Background(), w, 64<<20, hs, &fakeRunner{failOn: "mdadm"}, WipeOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk busy") {
		t.Fatalf("Erase with a busy md0 = %v, want disk busy", err)
	}
	if w.n != 0 {
		t.Errorf("Erase wrote %d times to a busy disk", w.n)
	}
	if _, err := Erase(context.Background(), w, 64<<20, hs, &fakeRunner{}, WipeOptions{}); err != nil || w.n == 0 {
		t.Errorf("Erase after releasing = %v with %d writes, want a wipe", err, w.n)
	}
}
