package hwdb

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/needle-boot/needle/internal/yamlstrict"
	"gopkg.in/yaml.v3"
)

// Error is a problem in a rule file, at a line: yamlstrict's, like the
// plan's.
type Error = yamlstrict.Error

var (
	// moduleRe is a module name as modprobe takes it (kmod treats - and _
	// alike; both are kept as written).
	moduleRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// paramRe is one module parameter as modprobe.d(5) "options" takes it.
	paramRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+(=[^\s"']*)?$`)
)

// ParseRules reads one rule file. Decoding is strict: unknown fields,
// duplicate keys, wrong types and malformed values are errors naming the
// file and line; all problems in the file are reported, joined.
func ParseRules(file string, data []byte) ([]*Rule, error) {
	doc, err := yamlstrict.Document(file, data, "rule file")
	if err != nil {
		return nil, err
	}
	p := &parser{l: &yamlstrict.List{File: file}}
	rules := p.file_(doc)
	if err := p.l.Err(); err != nil {
		return nil, err
	}
	return rules, nil
}

type parser struct {
	l *yamlstrict.List
}

func (p *parser) errorf(n *yaml.Node, format string, a ...any) { p.l.At(n, format, a...) }

// fields walks a mapping strictly (yamlstrict.List.Fields).
func (p *parser) fields(n *yaml.Node, what string, known []string, visit func(key string, k, v *yaml.Node)) bool {
	return p.l.Fields(n, what, known, visit)
}

func kind(n *yaml.Node) string { return yamlstrict.Kind(n) }

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
	if !found && p.l.Len() == 0 {
		p.errorf(root, "no \"rules:\" list")
	}
	return rules
}

func (p *parser) rule(n *yaml.Node) *Rule {
	r := &Rule{File: p.l.File, Line: n.Line, vendor: idMatch{any: true}, device: idMatch{any: true},
		subvendor: idMatch{any: true}, subdevice: idMatch{any: true}}
	before := p.l.Len()
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
	if !haveMatch && p.l.Len() == before {
		p.errorf(n, "rule: no \"match:\"")
	}
	if module != nil && overlay != nil {
		p.errorf(overlay, "rule: both module and overlay; an overlay is the module")
	}
	d := r.decision
	if d.Module == "" && len(d.Blacklist) == 0 && !d.HasToolDecision() && p.l.Len() == before {
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
	if p.l.Len() > before {
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
					if len(s) > maxGlob {
						p.errorf(v, "dmi.%s: a pattern of %d bytes; DMI strings are short, the limit is %d", field, len(s), maxGlob)
						return
					}
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
