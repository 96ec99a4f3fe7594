package disk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/google/go-cmp/cmp"
)

func espRootSwap() Layout {
	return Layout{Table: "gpt", Partitions: []PartSpec{
		{Name: "esp", Type: "esp", Size: "512MiB"},
		{Name: "root", Type: "linux-root-x86-64", Size: "rest"},
		{Name: "swap", Type: "swap", Size: "10%"},
	}}
}

func TestPlace(t *testing.T) {
	const gib = int64(1 << 30)
	got, err := Place(espRootSwap(), 20*gib, 512, "plan-web01", "os")
	if err != nil {
		t.Fatal(err)
	}
	want := Placement{Table: "gpt", DiskSize: 20 * gib, SectorSize: 512, DiskGUID: DeriveUUID("plan-web01", "os"),
		Partitions: []Placed{
			{Number: 1, Name: "esp", Type: "esp", TypeGUID: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", TypeID: 0xef,
				Start: 1 << 20, Size: 512 << 20, PartUUID: DeriveUUID("plan-web01", "os", "esp")},
			// swap = 10% of the usable 20 GiB - 2 MiB (1 MiB head, 1 MiB tail
			// for the backup GPT), aligned down: 2047 MiB; root takes the rest.
			{Number: 2, Name: "root", Type: "linux-root-x86-64", TypeGUID: "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", TypeID: 0x83,
				Start: 513 << 20, Size: 20*gib - 2<<20 - 512<<20 - 2047<<20, PartUUID: DeriveUUID("plan-web01", "os", "root")},
			{Number: 3, Name: "swap", Type: "swap", TypeGUID: "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", TypeID: 0x82,
				Start: 20*gib - 1<<20 - 2047<<20, Size: 2047 << 20, PartUUID: DeriveUUID("plan-web01", "os", "swap")},
		}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Place (-want +got):\n%s", diff)
	}
	// Deterministic, and different per disk.
	again, _ := Place(espRootSwap(), 20*gib, 512, "plan-web01", "os")
	other, _ := Place(espRootSwap(), 20*gib, 512, "plan-web01", "data")
	if again.Partitions[1].PartUUID != got.Partitions[1].PartUUID || other.Partitions[1].PartUUID == got.Partitions[1].PartUUID {
		t.Error("derived PARTUUIDs are not a function of (seed, disk, name)")
	}
}

func TestPlaceErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Layout
		size int64
		want string
	}{
		{"too big", Layout{Table: "gpt", Partitions: []PartSpec{{Name: "a", Type: "linux", Size: "10GiB"}, {Name: "b", Type: "linux", Size: "1GiB"}}},
			10 << 30, "needs 11GiB but the 10GiB disk has 10238MiB usable: 1026MiB short"},
		{"rest gets nothing", Layout{Table: "gpt", Partitions: []PartSpec{{Name: "a", Type: "linux", Size: "10238MiB"}, {Name: "b", Type: "linux", Size: "rest"}}},
			10 << 30, "1MiB short"},
		{"two rests", Layout{Table: "gpt", Partitions: []PartSpec{{Name: "a", Type: "linux", Size: "rest"}, {Name: "b", Type: "linux", Size: "rest"}}},
			10 << 30, "partition 1 already takes the rest"},
		{"unknown type", Layout{Table: "gpt", Partitions: []PartSpec{{Name: "a", Type: "ntfs", Size: "rest"}}},
			10 << 30, `type "ntfs": not a known name`},
		{"bios-boot on mbr", Layout{Table: "mbr", Partitions: []PartSpec{{Name: "a", Type: "bios-boot", Size: "1MiB"}}},
			10 << 30, "no MBR equivalent"},
		{"bad size", Layout{Table: "gpt", Partitions: []PartSpec{{Name: "a", Type: "linux", Size: "20G"}}},
			10 << 30, `size "20G"`},
		{"bad percent", Layout{Table: "gpt", Partitions: []PartSpec{{Name: "a", Type: "linux", Size: "120%"}}},
			10 << 30, "percentage"},
		{"duplicate", Layout{Table: "gpt", Partitions: []PartSpec{{Name: "a", Type: "linux", Size: "1GiB"}, {Name: "a", Type: "swap", Size: "1GiB"}}},
			10 << 30, "duplicate name"},
		{"five mbr", Layout{Table: "mbr", Partitions: make([]PartSpec, 5)}, 10 << 30, "at most 4"},
		{"bad table", Layout{Table: "apm"}, 10 << 30, `table "apm"`},
		{"bad partuuid", Layout{Table: "gpt", Partitions: []PartSpec{{Name: "a", Type: "linux", Size: "rest", PartUUID: "nope"}}},
			10 << 30, "not a UUID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Place(tc.l, tc.size, 512, "seed", "os")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Place = %v, want error containing %q", err, tc.want)
			}
		})
	}
}

type sfdiskJSON struct {
	PartitionTable struct {
		Label      string `json:"label"`
		ID         string `json:"id"`
		SectorSize int    `json:"sectorsize"`
		Partitions []struct {
			Node     string `json:"node"`
			Start    uint64 `json:"start"`
			Size     uint64 `json:"size"`
			Type     string `json:"type"`
			UUID     string `json:"uuid"`
			Name     string `json:"name"`
			Bootable bool   `json:"bootable"`
		} `json:"partitions"`
	} `json:"partitiontable"`
}

// sfdiskCheck runs the host oracle on img: --verify must be clean and
// --json must show exactly pl's partitions.
func sfdiskCheck(t *testing.T, img string, pl Placement) {
	t.Helper()
	sfdisk := needTool(t, "sfdisk")
	out, err := exec.Command(sfdisk, "--verify", img).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "No errors detected") {
		t.Errorf("sfdisk --verify %s: %v\n%s", img, err, out)
	}
	js, err := exec.Command(sfdisk, "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk --json %s: %v", img, err)
	}
	var d sfdiskJSON
	if err := json.Unmarshal(js, &d); err != nil {
		t.Fatalf("sfdisk --json: %v\n%s", err, js)
	}
	type part struct {
		Start, Size uint64
		Type, UUID  string
		Name        string
		Bootable    bool
	}
	var got, want []part
	for _, p := range d.PartitionTable.Partitions {
		got = append(got, part{p.Start, p.Size, strings.ToUpper(p.Type), strings.ToLower(p.UUID), p.Name, p.Bootable})
	}
	for _, p := range pl.Partitions {
		typ := p.TypeGUID
		uuid := p.PartUUID
		if pl.Table == "mbr" {
			typ = fmt.Sprintf("%X", p.TypeID)
			uuid = "" // sfdisk --json shows no MBR PARTUUIDs; the disk id is checked below
		}
		want = append(want, part{p.StartLBA(pl.SectorSize), p.Sectors(pl.SectorSize), typ, uuid, map[bool]string{true: p.Name}[pl.Table == "gpt"], p.Bootable})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sfdisk --json partitions (-want +got):\n%s", diff)
	}
	wantID := strings.ToUpper(pl.DiskGUID)
	if pl.Table == "mbr" {
		wantID = "0X" + strings.ToUpper(pl.DiskGUID)
	}
	if got := strings.ToUpper(d.PartitionTable.ID); got != wantID {
		t.Errorf("sfdisk disk id %s, want %s", got, wantID)
	}
}

func TestWriteTable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		l      Layout
		size   int64
		sector int
	}{
		{"gpt 512", espRootSwap(), 2 << 30, 512},
		{"gpt 4096", espRootSwap(), 2 << 30, 4096},
		{"gpt odd size", Layout{Table: "gpt", Partitions: []PartSpec{
			{Name: "bios", Type: "bios-boot", Size: "1MiB"},
			{Name: "boot", Type: "xbootldr", Size: "300MB"},
			{Name: "md0", Type: "raid", Size: "rest", PartUUID: "01234567-89AB-CDEF-0123-456789ABCDEF"},
			{Name: "lvm", Type: "lvm", Size: "5%"},
			{Name: "home", Type: "933AC7E1-2EB4-4F13-B844-0E14E2AEF915", Size: "64MiB"},
		}}, 1<<30 + 12345*512, 512},
		{"mbr", Layout{Table: "mbr", Partitions: []PartSpec{
			{Name: "boot", Type: "linux", Size: "256MiB", Bootable: true},
			{Name: "swap", Type: "swap", Size: "128MiB"},
			{Name: "root", Type: "0x83", Size: "rest"},
		}}, 1 << 30, 512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, err := Place(tc.l, tc.size, tc.sector, "plan", "os")
			if err != nil {
				t.Fatal(err)
			}
			img := filepath.Join(t.TempDir(), "disk.img")
			b, err := file.CreateFromPath(img, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if err := WriteTable(b, pl, testLogger(t)); err != nil {
				t.Fatal(err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.sector == 512 {
				sfdiskCheck(t, img, pl)
			} else {
				// sfdisk 2.38 reads image files with 512-byte sectors
				// only (--sector-size came in 2.39): read back with
				// go-diskfs instead.
				readBackGPT(t, img, pl)
			}
		})
	}
}

func readBackGPT(t *testing.T, img string, pl Placement) {
	t.Helper()
	b, err := file.OpenFromPath(img, true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	tbl, err := partition.Read(b, pl.SectorSize, pl.SectorSize)
	if err != nil {
		t.Fatalf("read GPT back: %v", err)
	}
	g, ok := tbl.(*gpt.Table)
	if !ok {
		t.Fatalf("read back a %T, want a GPT", tbl)
	}
	if err := g.Verify(b, uint64(pl.DiskSize)); err != nil {
		t.Errorf("go-diskfs Verify: %v", err)
	}
	var got, want []string
	for _, p := range g.Partitions {
		if p.Type == gpt.Unused {
			continue
		}
		got = append(got, fmt.Sprintf("%d %d %s %s %s", p.Start, p.End, strings.ToUpper(string(p.Type)), strings.ToLower(p.GUID), p.Name))
	}
	for _, p := range pl.Partitions {
		want = append(want, fmt.Sprintf("%d %d %s %s %s", p.StartLBA(pl.SectorSize), p.StartLBA(pl.SectorSize)+p.Sectors(pl.SectorSize)-1, p.TypeGUID, p.PartUUID, p.Name))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GPT read back (-want +got):\n%s", diff)
	}
}

func TestReread(t *testing.T) {
	pl, err := Place(espRootSwap(), 4<<30, 512, "p", "d")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "dev"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type add struct {
		n           int
		start, size int64
	}
	for _, tc := range []struct {
		name    string
		rrpart  error
		addErr  error
		wantAdd []add
		wantErr string
	}{
		{"BLKRRPART works", nil, nil, nil, ""},
		{"busy, BLKPG adds", syscall.EBUSY, nil, []add{{1, 1 << 20, 512 << 20}, {2, 513 << 20, pl.Partitions[1].Size}, {3, pl.Partitions[2].Start, pl.Partitions[2].Size}}, ""},
		{"busy, BLKPG fails", syscall.EBUSY, syscall.EBUSY, []add{{1, 1 << 20, 512 << 20}}, "BLKPG add partition 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var adds []add
			k := Kernel{
				RereadTable: func(*os.File) error { return tc.rrpart },
				AddPartition: func(_ *os.File, n int, s, l int64) error {
					adds = append(adds, add{n, s, l})
					return tc.addErr
				},
			}
			err := Reread(f, pl, k, testLogger(t))
			if (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Reread = %v, want %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.wantAdd, adds, cmp.AllowUnexported(add{})); diff != "" {
				t.Errorf("BLKPG calls (-want +got):\n%s", diff)
			}
		})
	}
}

// fakeSysfs writes class/block/<disk>/<part>/{start,size} as the kernel
// shows them after a re-read.
func fakeSysfs(t *testing.T, root, disk string, pl Placement, skip int) {
	t.Helper()
	for _, p := range pl.Partitions {
		if p.Number == skip {
			continue
		}
		dir := filepath.Join(root, "class", "block", disk, PartName(disk, p.Number))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range map[string]int64{"start": p.Start / 512, "size": p.Size / 512, "partition": int64(p.Number)} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintln(v)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestVerifySysfs(t *testing.T) {
	pl, err := Place(espRootSwap(), 4<<30, 4096, "p", "d")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("present", func(t *testing.T) {
		root := t.TempDir()
		fakeSysfs(t, root, "nvme0n1", pl, 0)
		if err := VerifySysfs(context.Background(), root, "nvme0n1", pl, time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("appears late", func(t *testing.T) {
		root := t.TempDir()
		go func() {
			time.Sleep(250 * time.Millisecond)
			fakeSysfs(t, root, "sda", pl, 0)
		}()
		if err := VerifySysfs(context.Background(), root, "sda", pl, 5*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("missing partition times out", func(t *testing.T) {
		root := t.TempDir()
		fakeSysfs(t, root, "sda", pl, 2)
		err := VerifySysfs(context.Background(), root, "sda", pl, 300*time.Millisecond)
		if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "sda2") {
			t.Fatalf("VerifySysfs = %v, want sda2 missing", err)
		}
	})
	t.Run("wrong size", func(t *testing.T) {
		root := t.TempDir()
		other := pl
		other.Partitions = append([]Placed(nil), pl.Partitions...)
		other.Partitions[0].Size += 1 << 20
		fakeSysfs(t, root, "sda", other, 0)
		err := VerifySysfs(context.Background(), root, "sda", pl, 200*time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "sda1/size is 1050624, want 1048576") {
			t.Fatalf("VerifySysfs = %v, want a size mismatch", err)
		}
	})
}

func TestPartName(t *testing.T) {
	for _, tc := range []struct {
		disk string
		n    int
		want string
	}{{"sda", 1, "sda1"}, {"vdb", 12, "vdb12"}, {"nvme0n1", 2, "nvme0n1p2"}, {"mmcblk0", 1, "mmcblk0p1"}, {"md127", 1, "md127p1"}} {
		if got := PartName(tc.disk, tc.n); got != tc.want {
			t.Errorf("PartName(%q, %d) = %q, want %q", tc.disk, tc.n, got, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"512MiB", 512 << 20, true}, {"20GiB", 20 << 30, true}, {"1.5GiB", 3 << 29, true},
		{"480GB", 480e9, true}, {"4096", 4096, true}, {"1KiB", 1024, true}, {"2TiB", 2 << 40, true},
		{"20G", 0, false}, {"", 0, false}, {"-1MiB", 0, false}, {"MiB", 0, false}, {"9999999999TiB", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"512MiB", "1.5GiB", "480GB", "4096", "1e3KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Errorf("ParseSize(%q) = %d", s, n)
		}
	})
}

func FuzzPlace(f *testing.F) {
	f.Add("512MiB", "rest", "10%", int64(20<<30))
	f.Fuzz(func(t *testing.T, a, b, c string, size int64) {
		l := Layout{Table: "gpt", Partitions: []PartSpec{{Name: "a", Type: "esp", Size: a}, {Name: "b", Type: "linux", Size: b}, {Name: "c", Type: "swap", Size: c}}}
		pl, err := Place(l, size, 512, "s", "d")
		if err != nil {
			return
		}
		end := int64(Align)
		for _, p := range pl.Partitions {
			if p.Start != end || p.Size <= 0 || p.Start%Align != 0 || p.Size%Align != 0 {
				t.Fatalf("Place(%q,%q,%q,%d): partition %+v misplaced", a, b, c, size, p)
			}
			end += p.Size
		}
		if end > size-33*512 {
			t.Fatalf("Place(%q,%q,%q,%d): ends at %d, past the backup GPT", a, b, c, size, end)
		}
	})
}
