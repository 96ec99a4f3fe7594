// Package yamlstrict reads YAML the way needle's operator-written inputs
// (the plan, the hwdb rules) are read: exactly one document, no aliases
// where a schema walks the tree, unknown and duplicate keys refused, and
// every problem an error naming the file and line. A file is checked as a
// whole, so the operator fixes it in one round trip rather than one error
// per attempt.
package yamlstrict

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/needle-boot/needle/internal/quote"
	"gopkg.in/yaml.v3"
)

// Error is one problem, at a line of a file.
type Error struct {
	File string
	Line int // 0 when the problem has no single place
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errors is every problem found in one pass, in source order as far as the
// pass allows.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap lets errors.As find the single errors.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// MaxErrors keeps a garbage input from producing pages of errors; the
// first hundred say enough.
const MaxErrors = 100

// List collects the errors of one file.
type List struct {
	File    string
	errs    Errors
	dropped int
}

// Add records a problem at line (0: the file as a whole). String and
// error arguments quoted with %q are cut to quote.MaxRunes (others to
// quote.MaxArg), so a megabyte value, aliased into a hundred fields, gives
// a hundred short lines and not 100 MB.
func (l *List) Add(line int, format string, args ...any) {
	if len(l.errs) >= MaxErrors {
		l.dropped++
		return
	}
	l.errs = append(l.errs, &Error{File: l.File, Line: line, Msg: fmt.Sprintf(format, quote.Args(format, args)...)})
}

// At records a problem at a node's line.
func (l *List) At(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	l.Add(line, format, args...)
}

// Len is the number of problems recorded so far.
func (l *List) Len() int { return len(l.errs) + l.dropped }

// Err returns the errors sorted by line (stable, so errors on one line keep
// the order the checks found them in) as Errors, or nil.
func (l *List) Err() error {
	if len(l.errs) == 0 {
		return nil
	}
	sort.SliceStable(l.errs, func(i, j int) bool { return l.errs[i].Line < l.errs[j].Line })
	if l.dropped > 0 {
		l.errs = append(l.errs, &Error{File: l.File, Msg: fmt.Sprintf("and %d more errors", l.dropped)})
		l.dropped = 0
	}
	return l.errs
}

// Document decodes data as exactly one YAML document and returns its
// top node; what names the kind of file for the messages ("plan", "rule
// file"). Empty input, a second document and YAML syntax errors are
// Errors naming the file and line.
func Document(file string, data []byte, what string) (*yaml.Node, error) {
	l := &List{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.Add(0, "empty %s", what)
			return nil, l.Err()
		}
		return nil, syntaxError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.Add(extra.Line, "a second YAML document; a %s is one document", what)
		return nil, l.Err()
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			l.Add(0, "empty %s", what)
			return nil, l.Err()
		}
		root = root.Content[0]
	}
	return root, nil
}

// syntaxError turns yaml.v3's "yaml: line N: msg" into "file:N: YAML
// syntax: msg".
func syntaxError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ": "); ok {
			if v, err := strconv.Atoi(n); err == nil {
				line, msg = v, after
			}
		}
	}
	return Errors{{File: file, Line: line, Msg: "YAML syntax: " + msg}}
}

// Kind describes a node for a message: "a mapping", "a list", "nothing"
// or the scalar quoted.
func Kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return quote.Value(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "something else"
}

// Fields walks the mapping n (what names it in messages), refusing
// aliases, non-scalar, unknown and duplicate keys, and calls visit for each
// known key in order. It returns false when n is not a mapping.
func (l *List) Fields(n *yaml.Node, what string, known []string, visit func(key string, k, v *yaml.Node)) bool {
	if n.Kind == yaml.AliasNode {
		l.At(n, "%s: YAML aliases are not supported", what)
		return false
	}
	if n.Kind != yaml.MappingNode {
		l.At(n, "%s: want a mapping, got %s", what, Kind(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			l.At(k, "%s: keys must be plain names", what)
		case !slices.Contains(known, k.Value):
			l.At(k, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(known, ", "))
		case seen[k.Value]:
			l.At(k, "%s: duplicate field %q", what, k.Value)
		case v.Kind == yaml.AliasNode:
			seen[k.Value] = true
			l.At(v, "%s.%s: YAML aliases are not supported", what, k.Value)
		default:
			seen[k.Value] = true
			visit(k.Value, k, v)
		}
	}
	return true
}
