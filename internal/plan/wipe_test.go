package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDecodeWipe: wipe is a bool or a mapping; a mapping means wipe: true.
func TestDecodeWipe(t *testing.T) {
	type got struct {
		Enabled, Discard, ZeroOut bool
		Steps                     []string
		Line, ZeroOutLine         int
	}
	tests := []struct {
		name, wipe string // the text after "wipe:", "" for no wipe key
		want       got
	}{
		{"absent", "", got{}},
		{"true", " true", got{Enabled: true, Line: 5, ZeroOutLine: 5}},
		{"false", " false", got{Line: 5, ZeroOutLine: 5}},
		{"empty mapping", " {}", got{Enabled: true, Line: 5, ZeroOutLine: 5}},
		{"discard", " {discard: true}", got{Enabled: true, Discard: true, Steps: []string{"discard"}, Line: 5, ZeroOutLine: 5}},
		{"zeroout", " {zeroout: true}", got{Enabled: true, ZeroOut: true, Steps: []string{"zero-out"}, Line: 5, ZeroOutLine: 5}},
		{"both, block style", "\n      discard: true\n      zeroout: true", got{Enabled: true, Discard: true, ZeroOut: true,
			Steps: []string{"discard", "zero-out"}, Line: 6, ZeroOutLine: 7}},
		{"mapping of falses", " {discard: false, zeroout: false}", got{Enabled: true, Line: 5, ZeroOutLine: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "version: 1\ndisks:\n  - id: d\n    select: {serial: S}\n"
			if tt.wipe != "" {
				src += "    wipe:" + tt.wipe + "\n"
			}
			p, err := Decode("w.yaml", []byte(src))
			if err != nil {
				t.Fatalf("Decode(%q): %v", src, err)
			}
			w := p.Disks[0].Wipe
			g := got{w.Enabled, w.Discard, w.ZeroOut, w.Steps(), w.Pos.Line, w.Pos.Of("zeroout")}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("wipe:%s (-want +got):\n%s", tt.wipe, diff)
			}
		})
	}
}

// TestDecodeWipeErrors: the mapping is as strict as every other; each
// error names the file, the line and the field.
func TestDecodeWipeErrors(t *testing.T) {
	tests := []struct{ wipe, want string }{
		{"{zeroout: true, zero: true}", `w.yaml:5: unknown field "zero" in wipe`},
		{"{zeroout: yes}", `w.yaml:5: disks[0].wipe.zeroout: want true or false, got "yes"`},
		{"{discard: 1}", `w.yaml:5: disks[0].wipe.discard: want true or false, got "1"`},
		{"{zeroout: {}}", `w.yaml:5: disks[0].wipe.zeroout: want true or false, got a mapping`},
		{"[zeroout]", `w.yaml:5: disks[0].wipe: want true, false or a mapping such as {zeroout: true}, got a list`},
		{"zeroout", `w.yaml:5: disks[0].wipe: want true, false or a mapping such as {zeroout: true}, got "zeroout"`},
		{`"true"`, `w.yaml:5: disks[0].wipe: want true, false or a mapping such as {zeroout: true}, got "true"`},
		{"", `w.yaml:5: disks[0].wipe: want true, false or a mapping such as {zeroout: true}, got nothing`},
		{"{zeroout: true, zeroout: true}", `w.yaml:5: disks[0].wipe: field "zeroout" given twice (first at line 5)`},
	}
	for _, tt := range tests {
		src := "version: 1\ndisks:\n  - id: d\n    select: {serial: S}\n    wipe: " + tt.wipe + "\n"
		_, err := Decode("w.yaml", []byte(src))
		var es Errors
		if !errors.As(err, &es) {
			t.Errorf("Decode(wipe: %s) = %v, want Errors", tt.wipe, err)
			continue
		}
		if got := es.Error(); got != tt.want {
			t.Errorf("Decode(wipe: %s) = %q, want %q", tt.wipe, got, tt.want)
		}
	}
}

// TestCheckWipe: the semantic rules around wipe's steps.
func TestCheckWipe(t *testing.T) {
	const md = "md:\n  - {name: data, level: raid1, devices: [a, b]}\n"
	tests := []struct {
		name, plan string
		want       string // "" for a valid plan
	}{
		{"zeroout and discard together", qemuPlan(`
  - id: d
    select: {serial: S}
    wipe: {discard: true, zeroout: true}
    image: {url: "https://h/i.img", sha256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}
`), ""},
		{"zeroout on a disk with nothing else", qemuPlan(`
  - {id: d, select: {serial: S}, wipe: {zeroout: true}}
`), ""},
		{"steps on the md array", strings.Replace(qemuPlan(`
  - {id: a, select: {serial: A}, wipe: true}
  - {id: b, select: {serial: B}, wipe: {}}
  - {id: m, select: {md: data}, wipe: {discard: true, zeroout: true}, partitions: [{name: srv, size: rest, filesystem: {format: ext4}}]}
`), "disks:", md+"disks:", 1), ""},
		{"zeroout on an md member", strings.Replace(qemuPlan(`
  - {id: a, select: {serial: A}, wipe: {zeroout: true}}
  - {id: b, select: {serial: B}, wipe: true}
  - {id: m, select: {md: data}, wipe: true}
`), "disks:", md+"disks:", 1), `c.yaml:7: disk "a": wipe zeroout would not run on a whole-disk md member (the raid stage writes it directly); put it on the disk that selects md: data`},
		{"a mapping is consent", qemuPlan(`
  - id: d
    select: {serial: S}
    wipe: {}
    partitions: [{name: root, size: rest, filesystem: {format: ext4}}]
`), ""},
		{"false is no consent", qemuPlan(`
  - id: d
    select: {serial: S}
    wipe: false
    partitions: [{name: root, size: rest, filesystem: {format: ext4}}]
`), `c.yaml:5: disk "d": writing it erases it; say wipe: true to agree`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.plan))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Parse(%q)\n = %q\nwant %q", tt.plan, got, tt.want)
			}
		})
	}
}
