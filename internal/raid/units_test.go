package raid

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in    string
		units map[string]float64
		want  uint64
		ok    bool
	}{
		{"10.691 TB", binaryUnits, 11754878812553, true}, // storcli: binary TB
		{"446.625 GB", binaryUnits, 479559942144, true},
		{"2861588MB", binaryUnits, 2861588 << 20, true}, // arcconf segment
		{"512B", binaryUnits, 512, true},
		{"600 GB", decimalUnits, 600e9, true}, // ssacli: decimal
		{"0 KB", binaryUnits, 0, true},
		{"???", binaryUnits, 0, false},
		{"12 XB", binaryUnits, 0, false},
		{"", binaryUnits, 0, false},
		{"1e400 TB", binaryUnits, 0, false},
		{"99999999999999999999 PB", binaryUnits, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseSize(tt.in, tt.units)
			if got != tt.want || ok != tt.ok {
				t.Errorf("parseSize(%q) = %d, %v, want %d, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestNormLevel(t *testing.T) {
	tests := map[string]string{
		"RAID1": "raid1", "RAID1E": "raid1e", "RAID-10": "raid10", "1+0": "raid10", "RAID 5": "raid5",
		"5+0": "raid50", "6": "raid6", "SINGLE": "jbod", "RAID60": "raid60", "NytroCache1": "unknown: NytroCache1", "6 Reed-Solomon": "raid6", "": "",
	}
	for in, want := range tests {
		if got := normLevel(in); got != want {
			t.Errorf("normLevel(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseTruncated cuts every accepted output of the tools that print an
// end marker (sas2ircu/sas3ircu, storcli JSON, arcconf) after each line
// before its last non-blank one: every cut must be refused, never parsed
// into a shorter model. tw_cli and ssacli print no end marker, so a cut
// between two of their records cannot be told from a complete output.
func TestParseTruncated(t *testing.T) {
	marked := map[string]bool{"sas2ircu": true, "sas3ircu": true, "storcli": true, "perccli": true, "arcconf": true}
	n := 0
	for _, f := range fixtures(t) {
		if !marked[f.tool] {
			continue
		}
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(f.tool, "", data); err != nil {
			continue // refused already; nothing to cut
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n \t"), "\n")
		// Every line for short outputs, about 60 evenly spread cuts for the
		// long JSON ones (each cut is a full decode).
		step := max(1, len(lines)/60)
		for cut := 1; cut < len(lines); cut += step {
			part := []byte(strings.Join(lines[:cut], "\n") + "\n")
			if strings.HasSuffix(strings.TrimSpace(string(part)), "Command completed successfully.") {
				continue // arcconf's end marker, before a trailing rule: complete
			}
			r, err := Parse(f.tool, "", part)
			n++
			if err == nil {
				t.Errorf("%s cut after line %d of %d: parsed as %s with %d volumes, %d disks; want an error",
					f.path, cut, len(lines), r.Command, len(r.Volumes), len(r.Disks))
				continue
			}
			var pe *ParseError
			var te *ToolError
			if !errors.As(err, &pe) && !errors.As(err, &te) {
				t.Errorf("%s cut after line %d: untyped error %v", f.path, cut, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no truncations tried")
	}
	t.Logf("%d truncated outputs refused", n)
}

func TestParseEmpty(t *testing.T) {
	for _, tool := range Tools() {
		for _, in := range []string{"", "\n\n", "   \r\n"} {
			_, err := Parse(tool, "", []byte(in))
			if !errors.Is(err, ErrTruncated) {
				t.Errorf("Parse(%q, \"\", %q) = %v, want ErrTruncated", tool, in, err)
			}
		}
	}
}

func TestParseUnknown(t *testing.T) {
	if _, err := Parse("megacli", "", []byte("x")); err == nil || !strings.Contains(err.Error(), "unknown tool") {
		t.Errorf("Parse(megacli) = %v, want unknown tool", err)
	}
	if _, err := Parse("sas2ircu", "frobnicate", []byte("x")); err == nil || !strings.Contains(err.Error(), "no command") {
		t.Errorf("Parse(sas2ircu, frobnicate) = %v, want no command", err)
	}
	// Another tool's output is not guessed at.
	data, err := os.ReadFile("testdata/sas2ircu/checkraid-test1-display-raid1-optimal.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"storcli", "arcconf", "tw_cli", "ssacli"} {
		if r, err := Parse(tool, "", data); err == nil {
			t.Errorf("Parse(%q, sas2ircu output) = %s result, want an error", tool, r.Command)
		}
	}
}

func TestCheck(t *testing.T) {
	good := &Result{
		Disks:   []PhysicalDisk{{Location: "1:0", State: DiskOnline}, {Location: "1:1", State: DiskOnline}},
		Volumes: []Volume{{ID: "1", Level: "raid1", Members: []string{"1:0", "1:1"}, State: VolumeOptimal}},
	}
	if err := Check(good); err != nil {
		t.Fatalf("Check(good) = %v", err)
	}
	tests := []struct {
		name string
		edit func(r *Result)
		want string
	}{
		{"unknown member", func(r *Result) { r.Volumes[0].Members[1] = "1:7" }, "member 1:7"},
		{"member on other controller", func(r *Result) { r.Volumes[0].Controller = 1 }, "member 1:0"},
		{"raw disk state", func(r *Result) { r.Disks[0].State = "Onln" }, "not a normalised state"},
		{"raw volume state", func(r *Result) { r.Volumes[0].State = "OKY" }, "not a normalised state"},
		{"empty id", func(r *Result) { r.Volumes[0].ID = "" }, "empty id"},
		{"empty location", func(r *Result) { r.Disks[1].Location = "" }, "empty location"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Result{
				Disks:   append([]PhysicalDisk(nil), good.Disks...),
				Volumes: []Volume{good.Volumes[0]},
			}
			r.Volumes[0].Members = append([]string(nil), good.Volumes[0].Members...)
			tt.edit(r)
			if err := Check(r); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want error containing %q", err, tt.want)
			}
		})
	}
}
