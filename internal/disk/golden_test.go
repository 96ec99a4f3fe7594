package disk

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestPlaceGolden pins the placements of typical plans: a change in
// alignment, rounding or PARTUUID derivation shows up as a diff (and would
// change every installed system's fstab). Refresh with -update.
func TestPlaceGolden(t *testing.T) {
	cases := []struct {
		name   string
		l      Layout
		size   int64
		sector int
	}{
		{"uefi-root-swap-480GB", espRootSwap(), 480e9, 512},
		{"uefi-4kn-2TB", espRootSwap(), 2e12, 4096},
		{"bios-mbr-100GiB", Layout{Table: "mbr", Partitions: []PartSpec{
			{Name: "boot", Type: "linux", Size: "1GiB", Bootable: true},
			{Name: "root", Type: "linux", Size: "rest"},
		}}, 100 << 30, 512},
		{"raid-member-1TB", Layout{Table: "gpt", Partitions: []PartSpec{
			{Name: "bios", Type: "bios-boot", Size: "1MiB"},
			{Name: "esp", Type: "esp", Size: "512MiB"},
			{Name: "md-root", Type: "raid", Size: "50%"},
			{Name: "md-data", Type: "raid", Size: "rest"},
		}}, 1e12, 512},
	}
	got := map[string]Placement{}
	for _, c := range cases {
		pl, err := Place(c.l, c.size, c.sector, "plan-"+c.name, "os")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got[c.name] = pl
	}
	path := filepath.Join("testdata", "placements.golden.json")
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var want map[string]Placement
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("placements (-want +got):\n%s", diff)
	}
}
