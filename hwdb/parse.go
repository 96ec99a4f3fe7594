package hwdb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a problem in a rule file, at a line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var (
	// moduleRe is a module name as modprobe takes it (kmod treats - and _
	// alike; both are kept as written).
	moduleRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// paramRe is one module parameter as modprobe.d(5) "options" takes it.
	paramRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+(=[^\s"']*)?$`)
	// yamlLineRe finds the line in yaml.v3's syntax errors.
	yamlLineRe = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)
)

// ParseRules reads one rule file. Decoding is strict: unknown fields,
// duplicate keys, wrong types and malformed values are errors naming the
// file and line; all problems in the file are reported, joined.
func ParseRules(file string, data []byte) ([]*Rule, error) {
	p := &parser{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: file, Msg: "empty rule file: want a top-level \"rules:\" list"}
		}
		return nil, p.yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: file, Line: extra.Line, Msg: "more than one YAML document"}
	} else if !errors.Is(err, io.EOF) {
		return nil, p.yamlError(err)
	}
	rules := p.file_(&doc)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return rules, nil
}

type parser struct {
	file string
	errs []error
}

func (p *parser) errorf(n *yaml.Node, format string, a ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, a...)})
}

func (p *parser) yamlError(err error) error {
	msg := err.Error()
	if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: p.file, Line: line, Msg: "yaml: " + m[2]}
	}
	return &Error{File: p.file, Msg: msg}
}

// fields walks a mapping, rejecting unknown and duplicate keys, and calls
// visit for each known one. It returns false if n is not a mapping.
func (p *parser) fields(n *yaml.Node, what string, known []string, visit func(key string, k, v *yaml.Node)) bool {
	if n.Kind == yaml.AliasNode {
		p.errorf(n, "%s: YAML aliases are not supported", what)
		return false
	}
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s: want a mapping, got %s", what, kind(n))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%s: keys must be plain names", what)
			continue
		}
		if !slices.Contains(known, k.Value) {
			p.errorf(k, "%s: unknown field %q (known: %s)", what, k.Value, strings.Join(known, ", "))
			continue
		}
		if seen[k.Value] {
			p.errorf(k, "%s: duplicate field %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if v.Kind == yaml.AliasNode {
			p.errorf(v, "%s.%s: YAML aliases are not supported", what, k.Value)
			continue
		}
		visit(k.Value, k, v)
	}
	return true
}

func kind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// scalar returns a non-empty scalar's text.
func (p *parser) scalar(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || strings.TrimSpace(n.Value) == "" {
		p.errorf(n, "%s: want a value, got %s", what, kind(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) file_(doc *yaml.Node) []*Rule {
	root := doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			p.errorf(doc, "empty rule file: want a top-level \"rules:\" list")
			return nil
		}
		root = doc.Content[0]
	}
	var rules []*Rule
	found := false
	p.fields(root, "file", []string{"rules"}, func(_ string, _, v *yaml.Node) {
		found = true
		if v.Kind != yaml.SequenceNode {
			p.errorf(v, "rules: want a list, got %s", kind(v))
			return
		}
		for _, item := range v.Content {
			if r := p.rule(item); r != nil {
				rules = append(rules, r)
			}
		}
	})
	if !found && len(p.errs) == 0 {
		p.errorf(root, "no \"rules:\" list")
	}
	return rules
}

func (p *parser) rule(n *yaml.Node) *Rule {
	r := &Rule{File: p.file, Line: n.Line, vendor: idMatch{any: true}, device: idMatch{any: true},
		subvendor: idMatch{any: true}, subdevice: idMatch{any: true}}
	before := len(p.errs)
	var haveMatch bool
	var module, overlay *yaml.Node
	ok := p.fields(n, "rule", []string{"name", "match", "module", "overlay", "params", "blacklist", "raid_tool", "note", "reference"}, func(key string, k, v *yaml.Node) {
		switch key {
		case "name":
			r.Name, _ = p.scalar(v, "name")
		case "match":
			haveMatch = true
			p.match(r, v)
		case "module", "overlay":
			if key == "module" {
				module = v
			} else {
				overlay = v
			}
			s, ok := p.scalar(v, key)
			if !ok {
				return
			}
			if !moduleRe.MatchString(s) {
				p.errorf(v, "%s: %q is not a module name", key, s)
				return
			}
			r.decision.Overlay = key == "overlay"
			r.decision.Module = s
		case "params":
			s, ok := p.scalar(v, key)
			if !ok {
				return
			}
			for _, f := range strings.Fields(s) {
				if !paramRe.MatchString(f) {
					p.errorf(v, "params: %q is not name or name=value", f)
				}
			}
			r.decision.Params = strings.Join(strings.Fields(s), " ")
		case "blacklist":
			if v.Kind != yaml.SequenceNode {
				p.errorf(v, "blacklist: want a list of module names, got %s", kind(v))
				return
			}
			for _, item := range v.Content {
				s, ok := p.scalar(item, "blacklist")
				if ok && !moduleRe.MatchString(s) {
					p.errorf(item, "blacklist: %q is not a module name", s)
				} else if ok {
					r.decision.Blacklist = append(r.decision.Blacklist, s)
				}
			}
		case "raid_tool":
			s, ok := p.scalar(v, key)
			switch {
			case !ok:
			case s == NoTool:
				r.decision.NoRAIDTool = true
			case !slices.Contains(RAIDTools(), s):
				p.errorf(v, "raid_tool: %q is not one of %s, or %s", s, strings.Join(RAIDTools(), ", "), NoTool)
			default:
				r.decision.RAIDTool = s
			}
		case "note":
			r.decision.Note, _ = p.scalar(v, key)
		case "reference":
			r.decision.Reference, _ = p.scalar(v, key)
		}
	})
	if !ok {
		return nil
	}
	if !haveMatch && len(p.errs) == before {
		p.errorf(n, "rule: no \"match:\"")
	}
	if module != nil && overlay != nil {
		p.errorf(overlay, "rule: both module and overlay; an overlay is the module")
	}
	d := r.decision
	if d.Module == "" && len(d.Blacklist) == 0 && !d.HasToolDecision() && len(p.errs) == before {
		p.errorf(n, "rule decides nothing: give module, overlay, blacklist or raid_tool")
	}
	if d.NoRAIDTool && d.Note == "" {
		p.errorf(n, "rule: raid_tool: none needs a note saying why the card has no vendor tool (plain HBA, or which tool and why needle does not run it)")
	}
	if d.Params != "" && d.Module == "" && (module == nil && overlay == nil) {
		p.errorf(n, "rule: params without module or overlay")
	}
	if d.Module != "" && slices.Contains(d.Blacklist, d.Module) {
		p.errorf(n, "rule: blacklists its own module %q", d.Module)
	}
	if len(p.errs) > before {
		return nil
	}
	return r
}

func (p *parser) match(r *Rule, n *yaml.Node) {
	havePCI := false
	p.fields(n, "match", []string{"pci", "dmi", "kernel"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "pci":
			havePCI = true
			p.pci(r, v)
		case "dmi":
			p.fields(v, "dmi", dmiFields(), func(field string, _, v *yaml.Node) {
				if s, ok := p.scalar(v, "dmi."+field); ok {
					r.dmi = append(r.dmi, dmiMatch{field: field, glob: s})
				}
			})
		case "kernel":
			p.fields(v, "kernel", []string{"min", "max"}, func(bound string, _, v *yaml.Node) {
				s, ok := p.scalar(v, "kernel."+bound)
				if !ok {
					return
				}
				kv, err := parseKver(s)
				if err != nil {
					p.errorf(v, "kernel.%s: %v", bound, err)
					return
				}
				if bound == "min" {
					r.kernel.min, r.kernel.minSrc = &kv, s
				} else {
					r.kernel.max, r.kernel.maxSrc = &kv, s
				}
			})
			if k := r.kernel; k.min != nil && k.max != nil && k.min.cmp(*k.max) >= 0 {
				p.errorf(v, "kernel: min %s is not below max %s (max is exclusive)", k.minSrc, k.maxSrc)
			}
		}
	})
	if n.Kind == yaml.MappingNode && !havePCI {
		p.errorf(n, "match: no \"pci:\"; rules decide per PCI device")
	}
	// Keep DMI matches in a fixed order for explanations.
	slices.SortStableFunc(r.dmi, func(a, b dmiMatch) int {
		return slices.Index(dmiFields(), a.field) - slices.Index(dmiFields(), b.field)
	})
}

func (p *parser) pci(r *Rule, n *yaml.Node) {
	p.fields(n, "pci", []string{"vendor", "device", "subvendor", "subdevice", "class"}, func(key string, _, v *yaml.Node) {
		switch key {
		case "vendor":
			r.vendor = p.ids(v, "pci.vendor")
		case "device":
			r.device = p.ids(v, "pci.device")
		case "subvendor":
			r.subvendor = p.ids(v, "pci.subvendor")
		case "subdevice":
			r.subdevice = p.ids(v, "pci.subdevice")
		case "class":
			s, ok := p.scalar(v, "pci.class")
			if !ok {
				return
			}
			c, err := parseClass(s)
			if err != nil {
				p.errorf(v, "pci.class: %v", err)
				return
			}
			r.class = c
		}
	})
	if n.Kind == yaml.MappingNode && r.vendor.any && r.class.mask == 0 {
		p.errorf(n, "pci: give at least a vendor or a class")
	}
}

// ids reads "*", an id, a range, or a list of ids and ranges.
func (p *parser) ids(n *yaml.Node, what string) idMatch {
	if n.Kind == yaml.SequenceNode {
		if len(n.Content) == 0 {
			p.errorf(n, "%s: empty list", what)
			return idMatch{any: true}
		}
		var m idMatch
		for _, item := range n.Content {
			s, ok := p.scalar(item, what)
			if !ok {
				continue
			}
			r, err := parseIDRange(s)
			if err != nil {
				p.errorf(item, "%s: %v", what, err)
				continue
			}
			m.ranges = append(m.ranges, r)
		}
		return m
	}
	s, ok := p.scalar(n, what)
	if !ok {
		return idMatch{any: true}
	}
	if s == "*" {
		return idMatch{any: true}
	}
	r, err := parseIDRange(s)
	if err != nil {
		p.errorf(n, "%s: %v", what, err)
		return idMatch{any: true}
	}
	return idMatch{ranges: []idRange{r}}
}

// parseIDRange reads "0x1000", "1000" or "0x0080-0x0087".
func parseIDRange(s string) (idRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parseID(strings.TrimSpace(lo))
	if err != nil {
		return idRange{}, err
	}
	if !isRange {
		return idRange{a, a}, nil
	}
	b, err := parseID(strings.TrimSpace(hi))
	if err != nil {
		return idRange{}, err
	}
	if b < a {
		return idRange{}, fmt.Errorf("range %q runs backwards", s)
	}
	return idRange{a, b}, nil
}

// parseID reads a 16-bit PCI id: 0x and one to four hex digits, or exactly
// four hex digits as lspci -n prints them.
func parseID(s string) (uint16, error) {
	digits, prefixed := strings.CutPrefix(strings.ToLower(s), "0x")
	if digits == "" || len(digits) > 4 || (!prefixed && len(digits) != 4) {
		return 0, fmt.Errorf("%q is not a PCI id (want 0x1000 or 1000)", s)
	}
	v, err := strconv.ParseUint(digits, 16, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is not a PCI id (want 0x1000 or 1000)", s)
	}
	return uint16(v), nil
}

// parseClass reads "*", "0x010400" or a masked "0x0104xx" / "0x01xxxx".
func parseClass(s string) (classMatch, error) {
	if s == "*" {
		return classMatch{src: s}, nil
	}
	digits, _ := strings.CutPrefix(strings.ToLower(s), "0x")
	if len(digits) != 6 {
		return classMatch{}, fmt.Errorf("%q is not a class code (want 0x010400, or 0x0104xx with x for any nibble)", s)
	}
	c := classMatch{src: s}
	for _, ch := range digits {
		c.value <<= 4
		c.mask <<= 4
		switch {
		case ch == 'x':
		case ch >= '0' && ch <= '9':
			c.value |= uint32(ch - '0')
			c.mask |= 0xf
		case ch >= 'a' && ch <= 'f':
			c.value |= uint32(ch-'a') + 10
			c.mask |= 0xf
		default:
			return classMatch{}, fmt.Errorf("%q is not a class code (want 0x010400, or 0x0104xx with x for any nibble)", s)
		}
	}
	return c, nil
}
