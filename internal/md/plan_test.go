package md

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	mib = int64(1) << 20
	gib = int64(1) << 30
	tib = int64(1) << 40
)

// TestPlanGeometry checks data offset, component and array sizes and the
// bad-block log position against mdadm's rules (super1.c
// validate_geometry1 and write_init_super1, Create.c rounding); the 256 MiB
// RAID1 row is the one TestQEMUKernel compares with a live mdadm --create.
func TestPlanGeometry(t *testing.T) {
	type geom struct {
		DataOffset, Size, ArraySize uint64
		ChunkSize, Layout           uint32
		BBLogOffset                 uint32
		BBLogSize                   uint16
		FeatureMap                  uint32
	}
	tests := []struct {
		name  string
		level Level
		sizes []int64
		chunk int
		want  geom
	}{
		// 1 MiB data offset on small disks: headroom shrinks to 512 sectors.
		{"raid1 2x256M", RAID1, []int64{256 * mib, 256 * mib}, 0,
			geom{DataOffset: 2048, Size: 522240, ArraySize: 522240, BBLogOffset: 16, BBLogSize: 8}},
		// Component size is the smallest member, rounded down to 64 KiB.
		{"raid1 uneven", RAID1, []int64{256 * mib, 200*mib + 4096}, 0,
			geom{DataOffset: 2048, Size: 407552, ArraySize: 407552, BBLogOffset: 16, BBLogSize: 8}},
		// 16 GiB: 64 KiB bitmap space, headroom 16 MiB (0.1%) → 34816.
		{"raid1 2x16G", RAID1, []int64{16 * gib, 16 * gib}, 0,
			geom{DataOffset: 34816, Size: 33519616, ArraySize: 33519616, BBLogOffset: 136, BBLogSize: 8}},
		// Large disks: the familiar 264192-sector (129 MiB) data offset.
		{"raid1 2x1T", RAID1, []int64{tib, tib}, 0,
			geom{DataOffset: 264192, Size: 2147219456, ArraySize: 2147219456, BBLogOffset: 264, BBLogSize: 8}},
		// With chunks, headroom stays at least two chunks: 2048+32 → 4096.
		{"raid10 2x256M", RAID10, []int64{256 * mib, 256 * mib}, 0,
			geom{DataOffset: 4096, Size: 520192, ArraySize: 520192, ChunkSize: 1024, Layout: 0x102, BBLogOffset: 16, BBLogSize: 8}},
		{"raid10 4x256M", RAID10, []int64{256 * mib, 256 * mib, 256 * mib, 256 * mib}, 0,
			geom{DataOffset: 4096, Size: 520192, ArraySize: 1040384, ChunkSize: 1024, Layout: 0x102, BBLogOffset: 16, BBLogSize: 8}},
		// Odd member count: 3 x 508 chunks / 2 copies = 762 chunks.
		{"raid10 3x256M", RAID10, []int64{256 * mib, 256 * mib, 256 * mib}, 0,
			geom{DataOffset: 4096, Size: 520192, ArraySize: 780288, ChunkSize: 1024, Layout: 0x102, BBLogOffset: 16, BBLogSize: 8}},
		{"raid10 64K chunk", RAID10, []int64{256 * mib, 256 * mib}, 64,
			geom{DataOffset: 2048, Size: 522240, ArraySize: 522240, ChunkSize: 128, Layout: 0x102, BBLogOffset: 16, BBLogSize: 8}},
		{"raid5 3x256M", RAID5, []int64{256 * mib, 256 * mib, 256 * mib}, 0,
			geom{DataOffset: 4096, Size: 520192, ArraySize: 1040384, ChunkSize: 1024, Layout: 2, BBLogOffset: 16, BBLogSize: 8}},
		{"raid0 2x256M", RAID0, []int64{256 * mib, 256 * mib}, 0,
			geom{DataOffset: 4096, Size: 520192, ArraySize: 1040384, ChunkSize: 1024, Layout: 1, BBLogOffset: 16, BBLogSize: 8, FeatureMap: FeatureRAID0Layout}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := testOptions(tc.level, "g", 1)
			o.ChunkKiB = tc.chunk
			a, err := Plan(tc.sizes, o)
			if err != nil {
				t.Fatal(err)
			}
			sb := a.Superblocks[0]
			got := geom{a.DataOffset, a.Size, a.ArraySize, a.ChunkSize, a.Layout, sb.BBLogOffset, sb.BBLogSize, sb.FeatureMap}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Plan(%s) geometry (-want +got):\n%s", tc.name, d)
			}
			for i, sb := range a.Superblocks {
				if want := uint64(tc.sizes[i])/512 - a.DataOffset; sb.DataSize != want {
					t.Errorf("member %d data_size %d, want %d", i, sb.DataSize, want)
				}
				if sb.DevNumber != uint32(i) || sb.Role() != uint16(i) || sb.RaidDisks != uint32(len(tc.sizes)) {
					t.Errorf("member %d: dev_number %d role %d raid_disks %d", i, sb.DevNumber, sb.Role(), sb.RaidDisks)
				}
				if sb.SetUUID != a.UUID || sb.SuperOffset != 8 || sb.Clean() {
					t.Errorf("member %d: uuid %s super_offset %d clean %v", i, sb.SetUUID, sb.SuperOffset, sb.Clean())
				}
				if i > 0 && sb.DeviceUUID == a.Superblocks[0].DeviceUUID {
					t.Errorf("member %d shares device uuid with member 0", i)
				}
			}
		})
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name  string
		sizes []int64
		o     Options
		want  string
	}{
		{"raid1 one disk", []int64{gib}, Options{Level: RAID1, Name: "a"}, "at least 2"},
		{"raid5 two disks", []int64{gib, gib}, Options{Level: RAID5, Name: "a"}, "at least 3"},
		{"raid6", []int64{gib, gib, gib, gib}, Options{Level: 6, Name: "a"}, "unsupported level 6"},
		{"raid1 chunk", []int64{gib, gib}, Options{Level: RAID1, Name: "a", ChunkKiB: 64}, "no chunk size"},
		{"odd chunk", []int64{gib, gib}, Options{Level: RAID10, Name: "a", ChunkKiB: 100}, "power of two"},
		{"no name", []int64{gib, gib}, Options{Level: RAID1}, "name is empty"},
		{"slash", []int64{gib, gib}, Options{Level: RAID1, Name: "a/b"}, "'/'"},
		{"long", []int64{gib, gib}, Options{Level: RAID1, Name: "os", HomeHost: strings.Repeat("h", 29)}, "limit 31"},
		{"odd size", []int64{gib, gib + 100}, Options{Level: RAID1, Name: "a"}, "member 1: size"},
		{"tiny", []int64{mib, mib}, Options{Level: RAID1, Name: "a"}, "no room"},
		{"offset in superblock", []int64{gib, gib}, Options{Level: RAID1, Name: "a", DataOffset: 16}, "overlaps"},
		{"too many", make([]int64, 129), Options{Level: RAID1, Name: "a"}, "limit 128"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Plan(tc.sizes, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Plan = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

func TestSetName(t *testing.T) {
	tests := []struct{ name, host, want string }{
		{"os", "web1", "web1:os"},
		{"os", "", "os"},
		{"other:os", "web1", "other:os"}, // an explicit host wins, as in mdadm
	}
	for _, tc := range tests {
		got, err := setName(tc.name, tc.host)
		if err != nil || got != tc.want {
			t.Errorf("setName(%q, %q) = %q, %v, want %q", tc.name, tc.host, got, err, tc.want)
		}
		if dn := DevName(got); dn != tc.name[strings.LastIndex(tc.name, ":")+1:] {
			t.Errorf("DevName(%q) = %q", got, dn)
		}
	}
}

func TestConfLine(t *testing.T) {
	a := fixedArray(t, RAID1, 2, 64<<20)
	a.SetName = "web1:os"
	want := "ARRAY /dev/md/os metadata=1.2 UUID=" + a.UUID.String() + " name=web1:os"
	if got := a.ConfLine(); got != want {
		t.Errorf("ConfLine() = %q, want %q", got, want)
	}
	if got := ConfLine(&Superblock{SetUUID: a.UUID}); got != "ARRAY <ignore> metadata=1.2 UUID="+a.UUID.String() {
		t.Errorf("ConfLine(no name) = %q", got)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]Level{"raid1": RAID1, "mirror": RAID1, "10": RAID10, "RAID5": RAID5, "stripe": RAID0} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("raid6"); err == nil {
		t.Error("ParseLevel(raid6): want error")
	}
	if RAID5.Module() != "raid456" || RAID10.Module() != "raid10" {
		t.Errorf("Module() = %q %q", RAID5.Module(), RAID10.Module())
	}
}

// failWriter fails writes at or after a byte offset.
type failWriter struct {
	at     int64
	writes []int64
}

var errDisk = errors.New("I/O error")

func (f *failWriter) WriteAt(p []byte, off int64) (int, error) {
	f.writes = append(f.writes, off)
	if off >= f.at {
		return 0, errDisk
	}
	return len(p), nil
}

// TestCreateOrder: every member is wiped before any superblock is written,
// and a failing member is named.
func TestCreateOrder(t *testing.T) {
	good := &failWriter{at: 1 << 62}
	bad := &failWriter{at: 63 * mib} // the tail wipe fails
	_, err := Create(context.Background(), nil, []Member{{"/dev/good", good, 64 * mib}, {"/dev/bad", bad, 64 * mib}}, testOptions(RAID1, "x", 1))
	if err == nil || !strings.Contains(err.Error(), "/dev/bad") || !errors.Is(err, errDisk) {
		t.Fatalf("Create = %v, want an error naming /dev/bad wrapping %v", err, errDisk)
	}
	if slices := good.writes; len(slices) != 2 || slices[0] != 0 || slices[1] != 63*mib {
		t.Errorf("good member writes at %v, want only the wipes [0 %d] (no superblock before all wipes succeed)", good.writes, 63*mib)
	}
}
