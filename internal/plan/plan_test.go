package plan

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/yamlstrict"
)

var update = flag.Bool("update", false, "rewrite golden files from the current output")

// golden compares got with testdata/NAME, or rewrites it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", file, diff)
	}
}

// TestParseErrors parses every plan under testdata/errors and compares the
// error text, file:line included, with its .golden file.
func TestParseErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no error cases: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(name+".yaml", data)
			if err == nil {
				t.Fatalf("Parse(%s) succeeded, want errors", f)
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse(%s) error is %T, want Errors", f, err)
			}
			for _, e := range es {
				if e.File != name+".yaml" {
					t.Errorf("error %q names file %q, want %q", e, e.File, name+".yaml")
				}
			}
			golden(t, "errors/"+name+".golden", err.Error()+"\n")
		})
	}
}

// TestParseExamples checks that the documented examples parse and that the
// parsed fields come out as documented.
func TestParseExamples(t *testing.T) {
	for _, f := range []string{"full.yaml", "qemu.yaml"} {
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", f))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(f, data); err != nil {
				t.Fatalf("Parse(%s): %v", f, err)
			}
		})
	}
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Parse("full.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]any{
		"name":           p.Name,
		"raid tool":      p.RAID[0].Controller.Tool,
		"volume size":    p.RAID[0].Volumes[0].SizeSpec,
		"md metadata":    p.MD[0].Metadata,
		"esp type":       p.Disks[0].Partitions[0].TypeSpec,
		"esp size":       p.Disks[0].Partitions[0].SizeSpec,
		"root size":      p.Disks[0].Partitions[1].SizeSpec,
		"swap type":      p.Disks[0].Partitions[2].TypeSpec.Name,
		"disk-a table":   p.Disks[1].Table,
		"disk-a min":     p.Disks[1].Select.Size.MinBytes,
		"authkeys mode":  p.Files[1].ModeBits,
		"hostname mode":  p.Files[0].ModeBits,
		"hostname text":  *p.Files[0].Contents.Inline,
		"kexec root":     p.Boot.Kexec.Root,
		"esp label line": p.Disks[0].Partitions[0].Filesystem.Pos.Line,
		"size line":      p.Disks[0].Partitions[0].Pos.Of("size"),
		"system wipe":    p.Disks[0].Wipe.Steps(),
		"data wipe":      p.Disks[3].Wipe.Steps(),
		"scratch wipe":   p.Disks[4].Wipe.Steps(),
	}
	want := map[string]any{
		"name":           "db-07",
		"raid tool":      "sas2ircu",
		"volume size":    Size{Max: true},
		"md metadata":    "1.2",
		"esp type":       PartType{Name: "esp", GUID: "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", MBR: 0xef},
		"esp size":       Size{Bytes: 512 * MiB},
		"root size":      Size{Rest: true},
		"swap type":      "swap",
		"disk-a table":   "gpt",
		"disk-a min":     uint64(3_500_000_000_000),
		"authkeys mode":  uint32(0o600),
		"hostname mode":  uint32(0o644),
		"hostname text":  "db-07\n",
		"kexec root":     "root",
		"esp label line": 36,
		"size line":      35,
		"system wipe":    []string(nil),
		"data wipe":      []string{"zero-out"},
		"scratch wipe":   []string{"discard", "zero-out"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("full.yaml parsed fields (-want +got):\n%s", diff)
	}
}

// TestDecodeKeepsScalarText: a serial of digits stays as written, where
// yaml.v3's own typing would turn "0012" into 12 or 10.
func TestDecodeKeepsScalarText(t *testing.T) {
	p, err := Decode("p.yaml", []byte("version: 1\ndisks:\n  - id: d\n    select: {serial: 0012, wwn: 0x5000c500}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := []string{p.Disks[0].Select.Serial, p.Disks[0].Select.WWN}
	if diff := cmp.Diff([]string{"0012", "0x5000c500"}, got); diff != "" {
		t.Errorf("scalars (-want +got):\n%s", diff)
	}
}

// TestDecodeAliasBomb: aliases re-used at every level multiply the nodes
// the decoder walks; the walk is bounded rather than left to eat memory.
func TestDecodeAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\ndisks:\n  - &d\n    id: a\n    partitions: [&p {name: x, size: 1GiB}")
	b.WriteString(strings.Repeat(", *p", 500))
	b.WriteString("]\n")
	b.WriteString(strings.Repeat("  - *d\n", 500))
	_, err := Decode("bomb.yaml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), "plan too large") {
		t.Fatalf("Decode(alias bomb) = %v, want a \"plan too large\" error", err)
	}
}

// TestBareReboot: `reboot:` with nothing after it still selects reboot.
func TestBareReboot(t *testing.T) {
	p, err := Parse("r.yaml", []byte("version: 1\ndisks:\n  - {id: d, select: {serial: S}, wipe: true}\nboot:\n  reboot:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Boot.Reboot == nil || p.Boot.Kexec != nil {
		t.Errorf("boot = %+v, want reboot only", p.Boot)
	}
	if p.Boot.Reboot.Pos.Line != 5 {
		t.Errorf("reboot line = %d, want 5", p.Boot.Reboot.Pos.Line)
	}
}

// TestErrorCap: a garbage plan yields a bounded error list with a count of
// the rest.
func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\n")
	for i := range 150 {
		b.WriteString("junk" + strings.Repeat("x", i) + ": 1\n")
	}
	_, err := Decode("junk.yaml", []byte(b.String()))
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("Decode = %v, want Errors", err)
	}
	if len(es) != yamlstrict.MaxErrors+1 || es[len(es)-1].Msg != "and 50 more errors" {
		t.Errorf("got %d errors ending %q, want %d ending \"and 50 more errors\"", len(es), es[len(es)-1].Msg, yamlstrict.MaxErrors+1)
	}
}
