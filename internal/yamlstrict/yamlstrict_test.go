package yamlstrict

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestDocument(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "f.yaml: empty rule file"},
		{"# only a comment\n", "f.yaml: empty rule file"},
		{"a: 1\n---\nb: 2\n", "f.yaml:2: a second YAML document; a rule file is one document"},
		{"a: [1, 2\n", "f.yaml:1: YAML syntax: did not find expected ',' or ']'"},
		{"a: 1\n\tb: 2\n", "f.yaml:2: YAML syntax: found a tab character that violates indentation"},
	} {
		_, err := Document("f.yaml", []byte(tc.in), "rule file")
		var es Errors
		if !errors.As(err, &es) || err.Error() != tc.want {
			t.Errorf("Document(%q) = %v, want Errors %q", tc.in, err, tc.want)
		}
	}
	n, err := Document("f.yaml", []byte("a: 1\n"), "rule file")
	if err != nil || n.Kind != yaml.MappingNode {
		t.Fatalf("Document(a: 1) = %v, %v; want the mapping", n, err)
	}
}

func TestFields(t *testing.T) {
	src := "name: x\nname: y\nbogus: 1\nref: &a 1\nalias: *a\n[k]: 1\n"
	n, err := Document("f.yaml", []byte(src), "rule file")
	if err != nil {
		t.Fatal(err)
	}
	l := &List{File: "f.yaml"}
	var visited []string
	l.Fields(n, "rule", []string{"name", "ref", "alias"}, func(key string, _, _ *yaml.Node) { visited = append(visited, key) })
	if got := strings.Join(visited, ","); got != "name,ref" {
		t.Errorf("visited %s, want name,ref", got)
	}
	want := `f.yaml:2: rule: duplicate field "name"
f.yaml:3: rule: unknown field "bogus" (known: name, ref, alias)
f.yaml:5: rule.alias: YAML aliases are not supported
f.yaml:6: rule: keys must be plain names`
	if err := l.Err(); err == nil || err.Error() != want {
		t.Errorf("errors:\n%v\nwant:\n%s", err, want)
	}
	l = &List{File: "f.yaml"}
	if l.Fields(&yaml.Node{Kind: yaml.SequenceNode, Line: 4}, "rule", nil, nil) || l.Err().Error() != "f.yaml:4: rule: want a mapping, got a list" {
		t.Errorf("a list as a mapping: %v", l.Err())
	}
}

func TestListSortsAndBounds(t *testing.T) {
	l := &List{File: "f"}
	for i := MaxErrors + 5; i > 0; i-- {
		l.Add(i, "e%d", i)
	}
	var es Errors
	if !errors.As(l.Err(), &es) {
		t.Fatal("Err is not Errors")
	}
	if len(es) != MaxErrors+1 || es[0].Line != 6 || es[len(es)-1].Msg != "and 5 more errors" {
		t.Errorf("got %d errors, first %v, last %v", len(es), es[0], es[len(es)-1])
	}
	if l.Len() != MaxErrors+1 {
		t.Errorf("Len = %d", l.Len())
	}
	if (&List{}).Err() != nil {
		t.Error("an empty list is an error")
	}
}

// TestAddCutsValues: a megabyte value quoted in a message is cut, so an
// error list cannot amplify its input.
func TestAddCutsValues(t *testing.T) {
	l := &List{File: "f.yaml"}
	big := strings.Repeat("A", 1<<20)
	for i := range 100 {
		l.Add(i+1, "field %q: bad value %q", "name", big)
	}
	err := l.Err()
	if n := len(err.Error()); n > 100*200 {
		t.Errorf("100 errors quoting a 1 MB value: %d bytes, want under %d", n, 100*200)
	}
	want := `f.yaml:1: field "name": bad value "` + strings.Repeat("A", 64) + `"…`
	if got := strings.Split(err.Error(), "\n")[0]; got != want {
		t.Errorf("first error = %q, want %q", got, want)
	}
}
