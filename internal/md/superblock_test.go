package md

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMdadmCapture reads the superblock the real mdadm 4.2 wrote (captured by
// TestQEMUKernel -update) and checks every field against mdadm's own
// --examine of the same disk, then re-encodes it byte for byte.
func TestMdadmCapture(t *testing.T) {
	raw, err := os.ReadFile("testdata/mdadm-raid1.sb")
	if err != nil {
		t.Fatal(err)
	}
	exam, err := os.ReadFile("testdata/mdadm-raid1.examine")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse(mdadm's superblock): %v", err)
	}
	checkAgainstExamine(t, "testdata/mdadm-raid1.sb", sb, parseExamine(string(exam)))
	if sb.Role() != 0 || !sb.Clean() || sb.MaxDev != 128 || Level(sb.Level) != RAID1 {
		t.Errorf("role %d clean %v max_dev %d level %d, want 0 true 128 1", sb.Role(), sb.Clean(), sb.MaxDev, sb.Level)
	}
	again, err := sb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, raw) {
		for i := range again {
			if again[i] != raw[i] {
				t.Fatalf("Marshal(Parse(mdadm's bytes)) differs first at byte %d: %#02x, mdadm %#02x", i, again[i], raw[i])
			}
		}
	}
}

// TestPlanMatchesCapture: Plan for the captured array's disks gives the
// geometry real mdadm chose (TestQEMUKernel checks the same live).
func TestPlanMatchesCapture(t *testing.T) {
	raw, err := os.ReadFile("testdata/mdadm-raid1.sb")
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Plan([]int64{256 << 20, 256 << 20}, Options{Level: RAID1, Name: "mdadm1", HomeHost: "needle",
		UUID: m.SetUUID, AssumeClean: true, Rand: bytes.NewReader(append(m.DeviceUUID[:], make([]byte, 16)...))})
	if err != nil {
		t.Fatal(err)
	}
	p := a.Superblocks[0]
	// What differs by nature: times, and the event count after the resync.
	p.CTime, p.UTime, p.Events = m.CTime, m.UTime, m.Events
	if _, err := p.Marshal(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(m, p); d != "" {
		t.Errorf("Plan vs mdadm --create (-mdadm +plan):\n%s", d)
	}
}

func fixedArray(t *testing.T, level Level, n int, size int64) *Array {
	t.Helper()
	sizes := make([]int64, n)
	for i := range sizes {
		sizes[i] = size
	}
	a, err := Plan(sizes, testOptions(level, "golden", 7))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestGolden pins the exact bytes Create writes for fixed inputs.
func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file  string
		level Level
		n     int
	}{{"raid1-2x256M.golden", RAID1, 2}, {"raid10-4x256M.golden", RAID10, 4}} {
		t.Run(tc.file, func(t *testing.T) {
			a := fixedArray(t, tc.level, tc.n, 256<<20)
			b, err := a.Superblocks[1].Marshal()
			if err != nil {
				t.Fatal(err)
			}
			b = b[:512] // the rest of the 4 KiB is zero
			p := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(want, b) {
				t.Errorf("superblock bytes differ from %s (run with -update after checking with mdadm --examine)", p)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		level Level
		n     int
	}{{RAID1, 2}, {RAID1, 5}, {RAID10, 4}, {RAID10, 3}, {RAID0, 2}, {RAID5, 4}} {
		t.Run(fmt.Sprintf("%s-%d", tc.level, tc.n), func(t *testing.T) {
			a := fixedArray(t, tc.level, tc.n, 1<<30)
			for i, sb := range a.Superblocks {
				b, err := sb.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				got, err := Parse(b)
				if err != nil {
					t.Fatalf("Parse(Marshal(member %d)): %v", i, err)
				}
				if d := cmp.Diff(sb, got); d != "" {
					t.Errorf("member %d round trip (-want +got):\n%s", i, d)
				}
				if got.Role() != uint16(i) {
					t.Errorf("member %d: role %d", i, got.Role())
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	good, err := fixedArray(t, RAID1, 2, 64<<20).Superblocks[0].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	le := binary.LittleEndian
	tests := []struct {
		name string
		in   []byte
		want string
		is   error
	}{
		{"short", good[:100], "need 256", nil},
		{"zeros", make([]byte, 4096), "no md v1 superblock", ErrNoSuperblock},
		{"version 0.90 magic position", mutate(func(b []byte) { le.PutUint32(b[4:], 0) }), "major_version 0", nil},
		{"max_dev too big", mutate(func(b []byte) { le.PutUint32(b[220:], 2000) }), "max_dev 2000", nil},
		{"max_dev past buffer", mutate(func(b []byte) { le.PutUint32(b[220:], 1000) })[:1024], "needs 2256 bytes", nil},
		{"unknown feature", mutate(func(b []byte) { le.PutUint32(b[8:], 1<<20) }), "unknown bits 0x100000", nil},
		{"pad0", mutate(func(b []byte) { b[12] = 1 }), "pad0", nil},
		{"pad3", mutate(func(b []byte) { b[230] = 1 }), "pad3", nil},
		{"flipped bit", mutate(func(b []byte) { b[40] ^= 1 }), "sb_csum", ErrChecksum},
		{"flipped role", mutate(func(b []byte) { b[300] ^= 1 }), "sb_csum", ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want error containing %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Parse = %v, want errors.Is %v", err, tc.is)
			}
		})
	}
	// Bytes past max_dev's roles are outside the checksum, as in the kernel.
	if _, err := Parse(mutate(func(b []byte) { b[1000] = 0x55 })); err != nil {
		t.Errorf("byte past the roles changed: Parse = %v, want nil", err)
	}
}

// TestChecksumCarry: the 64-bit sum folds its carry once, as the kernel's
// calc_sb_1_csum does (all-0xff roles make the sum exceed 32 bits).
func TestChecksumCarry(t *testing.T) {
	sb := fixedArray(t, RAID1, 2, 64<<20).Superblocks[0]
	sb.CTime, sb.UTime = ^uint64(0)>>24, ^uint64(0)>>24
	b, err := sb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var sum uint64
	for i := 0; i < 512; i += 4 {
		if i != 216 {
			sum += uint64(binary.LittleEndian.Uint32(b[i:]))
		}
	}
	if sum>>32 == 0 {
		t.Fatalf("test input does not overflow 32 bits (sum %#x)", sum)
	}
	if want := uint32(sum) + uint32(sum>>32); sb.Checksum != want {
		t.Errorf("checksum %#x, want %#x", sb.Checksum, want)
	}
}

func TestUUID(t *testing.T) {
	u := UUID{0x51, 0x63, 0x1d, 0x7e, 0x0d, 0xbb, 0xe8, 0x06, 0x75, 0xea, 0x8a, 0xe0, 0xff, 0x39, 0xe1, 0x4b}
	if got, want := u.String(), "51631d7e:0dbbe806:75ea8ae0:ff39e14b"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for _, s := range []string{"51631d7e:0dbbe806:75ea8ae0:ff39e14b", "51631d7e-0dbb-e806-75ea-8ae0ff39e14b", "51631D7E0DBBE80675EA8AE0FF39E14B"} {
		got, err := ParseUUID(s)
		if err != nil || got != u {
			t.Errorf("ParseUUID(%q) = %v, %v, want %v", s, got, err, u)
		}
	}
	for _, s := range []string{"", "51631d7e", "zz631d7e:0dbbe806:75ea8ae0:ff39e14b"} {
		if _, err := ParseUUID(s); err == nil {
			t.Errorf("ParseUUID(%q): want error", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/mdadm-raid1.sb"); err == nil {
		f.Add(b)
	}
	for _, l := range []Level{RAID1, RAID10, RAID5} {
		sizes := []int64{64 << 20, 64 << 20, 64 << 20}
		a, err := Plan(sizes, testOptions(l, "fuzz", 3))
		if err != nil {
			f.Fatal(err)
		}
		b, err := a.Superblocks[0].Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sb, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to something that parses the same.
		out, err := sb.Marshal()
		if err != nil {
			t.Fatalf("Marshal of parsed superblock: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(b))): %v", err)
		}
		// set_name stops at the first NUL; the rest of the field is lost.
		if d := cmp.Diff(sb, again); d != "" {
			t.Fatalf("round trip (-first +second):\n%s", d)
		}
		_ = ConfLine(sb)
	})
}
