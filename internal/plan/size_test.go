package plan

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in       string
		allowMax bool
		want     Size
		wantErr  string
	}{
		{"512MiB", false, Size{Bytes: 512 << 20}, ""},
		{"1.5 TiB", false, Size{Bytes: 3 << 39}, ""},
		{"480GB", false, Size{Bytes: 480e9}, ""},
		{"4096B", false, Size{Bytes: 4096}, ""},
		{"10%", false, Size{Percent: 10}, ""},
		{"100%", false, Size{Percent: 100}, ""},
		{"rest", false, Size{Rest: true}, ""},
		{"max", true, Size{Max: true}, ""},
		{"max", false, Size{}, `size "max" is for RAID volumes; a partition takes "rest"`},
		{"rest", true, Size{}, `size "rest" is for partitions; a RAID volume takes "max"`},
		{"512", false, Size{}, `size "512" has no unit (use KiB, MiB, GiB, TiB, KB, MB, GB, TB or B)`},
		{"512M", false, Size{}, `size "512M": unknown unit "M" (use KiB, MiB, GiB, TiB, KB, MB, GB, TB or B)`},
		{"0%", false, Size{}, `size "0%": a percentage is a whole number from 1 to 100`},
		{"05%", false, Size{}, `size "05%": a percentage is a whole number from 1 to 100`},
		{"1.2.3GiB", false, Size{}, `size "1.2.3GiB" does not start with a number`},
		{"99999999999TiB", false, Size{}, `size "99999999999TiB" is too large`},
		{"-1GiB", false, Size{}, `size "-1GiB" does not start with a number`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in, tt.allowMax)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || gotErr != tt.wantErr {
				t.Errorf("ParseSize(%q) = %+v, %q; want %+v, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLayout(t *testing.T) {
	const GiB = 1 << 30
	disk := func(table string, sizes ...Size) *Disk {
		d := &Disk{Table: table}
		for i, s := range sizes {
			d.Partitions = append(d.Partitions, Partition{Name: string(rune('a' + i)), SizeSpec: s})
		}
		return d
	}
	tests := []struct {
		name    string
		disk    *Disk
		size    uint64
		sector  int
		want    []Extent
		wantErr string
	}{
		{"esp and rest on gpt", disk("gpt", Size{Bytes: 512 * MiB}, Size{Rest: true}), 8 * GiB, 0, []Extent{
			{"a", MiB, 512 * MiB}, {"b", 513 * MiB, 8*GiB - 514*MiB}}, ""},
		{"rest in the middle", disk("gpt", Size{Bytes: MiB}, Size{Rest: true}, Size{Bytes: GiB}), 4 * GiB, 0, []Extent{
			{"a", MiB, MiB}, {"b", 2 * MiB, 4*GiB - 2*MiB - GiB - MiB}, {"c", 3*GiB - MiB, GiB}}, ""},
		{"fixed rounds up", disk("mbr", Size{Bytes: 1000}), GiB, 0, []Extent{{"a", MiB, MiB}}, ""},
		{"mbr keeps the last MiB", disk("mbr", Size{Rest: true}), GiB, 0, []Extent{{"a", MiB, GiB - MiB}}, ""},
		{"percent rounds down", disk("gpt", Size{Percent: 50}, Size{Percent: 50}), 1001 * MiB, 0, []Extent{
			{"a", MiB, 499 * MiB}, {"b", 500 * MiB, 499 * MiB}}, ""},
		{"odd disk size", disk("gpt", Size{Rest: true}), 10*GiB + 12345, 0, []Extent{{"a", MiB, 10*GiB - 2*MiB}}, ""},
		{"too big", disk("gpt", Size{Bytes: 8 * GiB}), 8 * GiB, 0, nil, "partitions need 8192 MiB, but the disk has 8190 MiB usable (8.0 GiB)"},
		{"no room for rest", disk("gpt", Size{Bytes: 8190 * MiB}, Size{Rest: true}), 8 * GiB, 0, nil,
			`partitions need 8190 MiB before "b" takes the rest, but the disk has 8190 MiB usable (8.0 GiB)`},
		{"unaligned end keeps the whole last MiB", disk("gpt", Size{Rest: true}), 10*GiB + 100<<10, 0, []Extent{{"a", MiB, 10*GiB - MiB}}, ""},
		{"4096-byte sectors", disk("gpt", Size{Rest: true}), 10*GiB + 100<<10, 4096, []Extent{{"a", MiB, 10*GiB - MiB}}, ""},
		{"percent of the usable space", disk("gpt", Size{Percent: 100}), 4 * GiB, 0, []Extent{{"a", MiB, 4*GiB - 2*MiB}}, ""},
		{"mbr stops at 2 TiB", disk("mbr", Size{Rest: true}), 3 << 40, 0, []Extent{{"a", MiB, 2<<40 - MiB}}, ""},
		{"tiny disk", disk("gpt", Size{Rest: true}), MiB, 0, nil, "disk of 1.0 MiB is too small for a partition table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.disk.Layout(tt.size, tt.sector)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Fatalf("Layout error = %q, want %q", gotErr, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Layout (-want +got):\n%s", diff)
			}
		})
	}
}
