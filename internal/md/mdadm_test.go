package md

// Oracle tests: the host's real mdadm reads what Create wrote.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/testenv"
)

// needHost skips when a host resource is missing, or fails when
// NEEDLE_QEMU=required (CI) says it must be there.
func needHost(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	testenv.Unavailable(t, "%s missing", what)
}

func mdadmPath(t *testing.T) string {
	t.Helper()
	return testenv.HostTool(t, "mdadm")
}

// examine runs mdadm --examine and returns its "Key : Value" lines.
func examine(t *testing.T, mdadm, img string) map[string]string {
	t.Helper()
	out, err := exec.Command(mdadm, "--examine", img).CombinedOutput()
	if err != nil {
		t.Fatalf("mdadm --examine %s: %v\n%s", img, err, out)
	}
	return parseExamine(string(out))
}

func parseExamine(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, " : ")
		if !ok {
			continue
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m
}

// makeImages creates n sparse image files of size bytes each.
func makeImages(t *testing.T, n int, size int64) ([]Member, []*os.File) {
	t.Helper()
	dir := t.TempDir()
	var ms []Member
	var fs []*os.File
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("d%d.img", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		if err := f.Truncate(size); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, Member{Name: p, Dev: f, Size: size})
		fs = append(fs, f)
	}
	return ms, fs
}

func testOptions(level Level, name string, seed byte) Options {
	return Options{
		Level: level, Name: name, HomeHost: "needle",
		Now:  func() time.Time { return time.Unix(1700000000, 0) },
		Rand: rand.NewChaCha8([32]byte{seed}),
	}
}

func TestMdadmExamine(t *testing.T) {
	mdadm := mdadmPath(t)
	tests := []struct {
		level    Level
		n        int
		size     int64
		clean    bool
		extra    map[string]string // further --examine fields expected
		wantSize string            // "Array Size"
	}{
		{RAID1, 2, 256 << 20, false, map[string]string{"Data Offset": "2048 sectors"}, "261120 KiB (255.00 MiB 267.39 MB)"},
		{RAID1, 3, 64 << 20, true, map[string]string{"Data Offset": "2048 sectors"}, "64512 KiB (63.00 MiB 66.06 MB)"},
		{RAID10, 2, 256 << 20, false, map[string]string{"Layout": "near=2", "Chunk Size": "512K", "Data Offset": "4096 sectors"}, "260096 KiB (254.00 MiB 266.34 MB)"},
		{RAID10, 4, 64 << 20, true, map[string]string{"Layout": "near=2", "Chunk Size": "512K"}, ""},
		{RAID5, 3, 64 << 20, false, map[string]string{"Layout": "left-symmetric", "Chunk Size": "512K"}, ""},
		{RAID0, 2, 64 << 20, true, map[string]string{"Chunk Size": "512K"}, ""},
	}
	for i, tc := range tests {
		name := fmt.Sprintf("%s-%dx%dM", tc.level, tc.n, tc.size>>20)
		t.Run(name, func(t *testing.T) {
			ms, _ := makeImages(t, tc.n, tc.size)
			o := testOptions(tc.level, "t"+tc.level.String(), byte(i))
			o.AssumeClean = tc.clean
			a, err := Create(context.Background(), nil, ms, o)
			if err != nil {
				t.Fatal(err)
			}
			state := "active" // mdadm prints a dirty (to be resynced) array as active
			if tc.clean {
				state = "clean"
			}
			roles := strings.Repeat("A", tc.n)
			for d, m := range ms {
				got := examine(t, mdadm, m.Name)
				want := map[string]string{
					"Magic":         "a92b4efc",
					"Version":       "1.2",
					"Feature Map":   fmt.Sprintf("%#x", a.Superblocks[d].FeatureMap),
					"Array UUID":    a.UUID.String(),
					"Name":          "needle:t" + tc.level.String(),
					"Raid Level":    tc.level.String(),
					"Raid Devices":  fmt.Sprint(tc.n),
					"Super Offset":  "8 sectors",
					"State":         state,
					"Device UUID":   a.Superblocks[d].DeviceUUID.String(),
					"Device Role":   fmt.Sprintf("Active device %d", d),
					"Array State":   roles + " ('A' == active, '.' == missing, 'R' == replacing)",
					"Events":        "0",
					"Bad Block Log": "512 entries available at offset 16 sectors",
				}
				for k, v := range tc.extra {
					want[k] = v
				}
				if tc.wantSize != "" {
					want["Array Size"] = tc.wantSize
				}
				sub := map[string]string{}
				for k := range want {
					sub[k] = got[k]
				}
				if d := cmp.Diff(want, sub); d != "" {
					t.Errorf("mdadm --examine %s mismatch (-want +got):\n%s", m.Name, d)
				}
				if c := got["Checksum"]; !strings.HasSuffix(c, " - correct") {
					t.Errorf("mdadm --examine %s: Checksum %q, want \"… - correct\"", m.Name, c)
				}
				if c, want := got["Checksum"], fmt.Sprintf("%x - correct", a.Superblocks[d].Checksum); c != want {
					t.Errorf("Checksum %q, want %q", c, want)
				}
			}
			// The mdadm.conf line agrees with mdadm's own (token order and
			// spacing aside).
			out, err := exec.Command(mdadm, "--examine", "--brief", ms[0].Name).CombinedOutput()
			if err != nil {
				t.Fatalf("mdadm --examine --brief: %v\n%s", err, out)
			}
			gotTok := strings.Fields(string(out))
			wantTok := strings.Fields(a.ConfLine())
			slices.Sort(gotTok)
			slices.Sort(wantTok)
			if d := cmp.Diff(wantTok, gotTok); d != "" {
				t.Errorf("ConfLine %q vs mdadm --examine --brief %q (-want +got):\n%s", a.ConfLine(), out, d)
			}
		})
	}
}

// TestMdadmWipesOldSignatures: a member that held an older array (written by
// us, standing in for any earlier v1.2 array) and a backup GPT is reused; only
// the new array is visible afterwards.
func TestMdadmWipesOldSignatures(t *testing.T) {
	mdadm := mdadmPath(t)
	ms, fs := makeImages(t, 2, 64<<20)
	if _, err := Create(context.Background(), nil, ms, testOptions(RAID1, "old", 1)); err != nil {
		t.Fatal(err)
	}
	// A stale "EFI PART" backup header in the last sector.
	if _, err := fs[0].WriteAt([]byte("EFI PART"), 64<<20-512); err != nil {
		t.Fatal(err)
	}
	a, err := Create(context.Background(), nil, ms, testOptions(RAID1, "new", 2))
	if err != nil {
		t.Fatal(err)
	}
	got := examine(t, mdadm, ms[0].Name)
	if got["Name"] != "needle:new" || got["Array UUID"] != a.UUID.String() {
		t.Errorf("after re-create: Name %q UUID %q, want needle:new %s", got["Name"], got["Array UUID"], a.UUID)
	}
	tail := make([]byte, 8)
	if _, err := fs[0].ReadAt(tail, 64<<20-512); err != nil {
		t.Fatal(err)
	}
	if string(tail) != "\x00\x00\x00\x00\x00\x00\x00\x00" {
		t.Errorf("backup GPT signature survived: %q", tail)
	}
}
