package modules

import (
	"slices"
	"sort"
	"strings"
)

// Fnmatch reports whether s matches the shell pattern the way glibc's
// fnmatch(pattern, s, 0) does, which is what kmod uses for module aliases
// (libkmod-index.c): no FNM_PATHNAME, so '*' and '?' match '/' too (Go's
// path.Match stops at '/'); no FNM_PERIOD; '[...]' classes with '!' or '^'
// negation, ranges and [:class:] names; backslash quotes the next character.
// A '[' without its closing ']' is an ordinary character; a trailing
// backslash matches nothing. TestFnmatchGlibc checks all this against glibc.
func Fnmatch(pattern, s string) bool {
	p, i := 0, 0
	// Backtrack point of the last '*': pattern index after it and the
	// position in s it currently stands for. Only the last star needs
	// revisiting because without FNM_PATHNAME a star matches anything.
	starP, starI := -1, 0
	for i < len(s) || p < len(pattern) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				for p < len(pattern) && pattern[p] == '*' {
					p++
				}
				if p == len(pattern) {
					return true
				}
				starP, starI = p, i
				continue
			case '?':
				if i < len(s) {
					p++
					i++
					continue
				}
			case '[':
				if i < len(s) {
					if ok, n, valid := matchBracket(pattern[p:], s[i]); valid {
						if ok {
							p += n
							i++
							continue
						}
					} else if s[i] == '[' { // no closing ']': literal '['
						p++
						i++
						continue
					}
				}
			case '\\':
				// A trailing backslash is a malformed pattern: glibc
				// matches nothing with it.
				if p+1 == len(pattern) {
					return false
				}
				if i < len(s) && s[i] == pattern[p+1] {
					p += 2
					i++
					continue
				}
			default:
				if i < len(s) && s[i] == c {
					p++
					i++
					continue
				}
			}
		}
		if starP >= 0 && starI < len(s) {
			starI++
			p, i = starP, starI
			continue
		}
		return false
	}
	return true
}

// matchBracket matches c against the bracket expression at the start of
// pat (pat[0] == '['). n is the length of the expression; valid is false
// when the expression has no closing ']'.
func matchBracket(pat string, c byte) (ok bool, n int, valid bool) {
	j := 1
	negate := false
	if j < len(pat) && (pat[j] == '!' || pat[j] == '^') {
		negate = true
		j++
	}
	first := true
	for j < len(pat) {
		if pat[j] == ']' && !first {
			return ok != negate, j + 1, true
		}
		first = false
		if pat[j] == '[' && j+1 < len(pat) && pat[j+1] == ':' {
			// glibc reads a class name of characters in [a, z) up to
			// ":]"; any other character makes the '[' an ordinary
			// member. An unknown name fails the whole match.
			if name, ok2 := className(pat[j+2:]); ok2 {
				known, in := classMember(name, c)
				if !known {
					return false, 0, true
				}
				if in {
					ok = true
				}
				j += len(name) + 4
				continue
			}
		}
		lo := pat[j]
		if lo == '\\' && j+1 < len(pat) {
			j++
			lo = pat[j]
		}
		j++
		hi := lo
		if j+1 < len(pat) && pat[j] == '-' && pat[j+1] != ']' {
			hi = pat[j+1]
			j += 2
			if hi == '\\' && j < len(pat) {
				hi = pat[j]
				j++
			}
		}
		if lo <= c && c <= hi {
			ok = true
		}
	}
	return false, 0, false
}

// className returns the class name at the start of s (after "[:") if s
// holds one terminated by ":]".
func className(s string) (string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' && i+1 < len(s) && s[i+1] == ']' {
			return s[:i], true
		}
		if s[i] < 'a' || s[i] >= 'z' {
			return "", false
		}
	}
	return "", false
}

// classMember reports whether the class name is known and c is in it.
func classMember(name string, c byte) (known, in bool) {
	switch name {
	case "alpha", "digit", "alnum", "upper", "lower", "xdigit", "space", "blank", "punct", "print", "graph", "cntrl":
		return true, inClass(name, c)
	}
	return false, false
}

// inClass implements the POSIX character classes for ASCII.
func inClass(name string, c byte) bool {
	lower := 'a' <= c && c <= 'z'
	upper := 'A' <= c && c <= 'Z'
	digit := '0' <= c && c <= '9'
	switch name {
	case "alpha":
		return lower || upper
	case "digit":
		return digit
	case "alnum":
		return lower || upper || digit
	case "upper":
		return upper
	case "lower":
		return lower
	case "xdigit":
		return digit || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
	case "space":
		return c == ' ' || ('\t' <= c && c <= '\r')
	case "blank":
		return c == ' ' || c == '\t'
	case "punct":
		return c > 32 && c < 127 && !(lower || upper || digit)
	case "print":
		return c >= 32 && c < 127
	case "graph":
		return c > 32 && c < 127
	case "cntrl":
		return c < 32 || c == 127
	}
	return false
}

// NormalizeAlias spells an alias the way kmod's alias_normalize does before
// both indexing and lookup: '-' becomes '_' outside bracket expressions, so
// "platform:leds-gpio" and "platform:leds_gpio" are the same alias.
func NormalizeAlias(a string) string {
	if strings.IndexByte(a, '-') < 0 {
		return a
	}
	b := []byte(a)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '-':
			b[i] = '_'
		case '[':
			if end := strings.IndexByte(a[i:], ']'); end > 0 {
				i += end
			}
		}
	}
	return string(b)
}

// AliasEntry is one "alias PATTERN MODULE" line.
type AliasEntry struct {
	Pattern string
	Module  *Module
}

// Matcher finds the modules whose alias patterns match a modalias.
//
// Patterns are grouped by their literal prefix (the part before the first
// wildcard). A lookup only runs fnmatch on the patterns whose prefix is a
// prefix of the modalias: for each distinct prefix length of the alias's
// bus ("pci", "usb", … the text before ':') one map probe.
//
// Some prefixes are shared by hundreds of patterns, e.g. the 708
// "acpi*:PNP0A03:*" ACPI aliases, the HID ones
// ("hid:b0003g*v0000046Dp0000C52B") or the PCI class matches
// ("pci:v*d*sv*sd*bc01sc06i01*"). Such a bucket is indexed a second time
// by an anchor: a literal segment of each pattern, all starting with the
// same character. A pattern can only match if its anchor occurs in the
// modalias, so the lookup probes the anchors at each occurrence of that
// character instead of running fnmatch on the whole bucket.
type Matcher struct {
	entries  []matchEntry
	byPrefix map[string]*bucket
	lens     map[string][]int // bus → distinct prefix lengths, ascending
}

// bucket holds the patterns sharing one literal prefix.
type bucket struct {
	direct []int32 // fnmatch each
	// Anchored patterns, by anchor; every anchor starts with lead.
	lead     byte
	anchored map[string][]int32
	alens    []int // distinct anchor lengths
}

// minAnchored is the bucket size from which the anchor index pays off, and
// minAnchor the shortest anchor worth indexing.
const (
	minAnchored = 16
	minAnchor   = 4
)

type matchEntry struct {
	pattern string // normalized
	prefix  int    // length of the literal prefix
	module  *Module
}

// NewMatcher indexes the entries. Their order is the order of results:
// callers put loadable modules first, in module order, as modprobe sorts
// matches by module index.
func NewMatcher(entries []AliasEntry) *Matcher {
	m := &Matcher{byPrefix: map[string]*bucket{}, lens: map[string][]int{}}
	for _, e := range entries {
		p := NormalizeAlias(e.Pattern)
		n := literalPrefix(p)
		b := m.byPrefix[p[:n]]
		if b == nil {
			b = &bucket{}
			m.byPrefix[p[:n]] = b
		}
		b.direct = append(b.direct, int32(len(m.entries)))
		m.entries = append(m.entries, matchEntry{pattern: p, prefix: n, module: e.Module})
		bus := busOf(p[:n])
		if !slices.Contains(m.lens[bus], n) {
			m.lens[bus] = append(m.lens[bus], n)
		}
	}
	for _, l := range m.lens {
		sort.Ints(l)
	}
	for _, b := range m.byPrefix {
		if len(b.direct) >= minAnchored {
			m.anchor(b)
		}
	}
	return m
}

// segments returns the literal runs of a pattern remainder: the text
// between wildcards ('*', '?', bracket expressions, backslash escapes).
// Every one of them must occur in a string the pattern matches.
func segments(rest string) []string {
	var out []string
	for len(rest) > 0 {
		n := literalPrefix(rest)
		if n > 0 {
			out = append(out, rest[:n])
			rest = rest[n:]
			continue
		}
		switch rest[0] {
		case '[':
			// Skip the bracket expression as Fnmatch parses it ("[]a]"
			// is one expression); stop at anything unusual, since
			// fewer segments is always safe.
			_, n, valid := matchBracket(rest, 'a')
			if !valid || n == 0 {
				return out
			}
			rest = rest[n:]
		case '\\':
			return out
		default:
			rest = rest[1:]
		}
	}
	return out
}

// anchorFor picks the pattern's longest literal segment that starts with
// lead and is long enough to index.
func anchorFor(rest string, lead byte) string {
	best := ""
	for _, seg := range segments(rest) {
		for i := 0; i < len(seg); i++ {
			if seg[i] == lead && len(seg)-i > len(best) {
				best = seg[i:]
			}
		}
	}
	if len(best) < minAnchor {
		return ""
	}
	return best
}

// anchor moves the bucket's patterns that have a literal segment starting
// with the most common lead character into the anchor index: a string
// can only match them if it contains that segment.
func (m *Matcher) anchor(b *bucket) {
	count := map[byte]int{}
	for _, i := range b.direct {
		e := &m.entries[i]
		leads := map[byte]bool{}
		for _, seg := range segments(e.pattern[e.prefix:]) {
			for j := 0; j+minAnchor <= len(seg); j++ {
				leads[seg[j]] = true
			}
		}
		for c := range leads {
			count[c]++
		}
	}
	best := 0
	for c, k := range count {
		if k > best || (k == best && c < b.lead) {
			b.lead, best = c, k
		}
	}
	if best < minAnchored {
		return
	}
	b.anchored = map[string][]int32{}
	var direct []int32
	for _, i := range b.direct {
		e := &m.entries[i]
		a := anchorFor(e.pattern[e.prefix:], b.lead)
		if a == "" {
			direct = append(direct, i)
			continue
		}
		b.anchored[a] = append(b.anchored[a], i)
		if !slices.Contains(b.alens, len(a)) {
			b.alens = append(b.alens, len(a))
		}
	}
	b.direct = direct
}

// busOf is the text up to and including the first ':' of s, or all of s
// when it has none (a prefix shorter than the bus name, e.g. "*").
func busOf(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i+1]
	}
	return ""
}

// Match returns the modules with an alias matching the modalias, each once,
// in entry order.
func (m *Matcher) Match(modalias string) []*Module {
	return m.match(modalias, nil)
}

// MatchPatterns is Match that also returns, per module, the first alias
// pattern that matched (for the coldplug log).
func (m *Matcher) MatchPatterns(modalias string) ([]*Module, []string) {
	var pats []string
	mods := m.match(modalias, &pats)
	return mods, pats
}

func (m *Matcher) match(modalias string, pats *[]string) []*Module {
	s := NormalizeAlias(modalias)
	var hits []int32
	probe := func(lens []int, limit int) {
		for _, n := range lens {
			if n > limit {
				break
			}
			b := m.byPrefix[s[:n]]
			if b == nil {
				continue
			}
			for _, i := range b.direct {
				if Fnmatch(m.entries[i].pattern[n:], s[n:]) {
					hits = append(hits, i)
				}
			}
			if b.anchored == nil {
				continue
			}
			rest := s[n:]
			for at := strings.IndexByte(rest, b.lead); at >= 0; {
				for _, l := range b.alens {
					if at+l > len(rest) {
						continue
					}
					for _, i := range b.anchored[rest[at:at+l]] {
						if !slices.Contains(hits, i) && Fnmatch(m.entries[i].pattern[n:], rest) {
							hits = append(hits, i)
						}
					}
				}
				next := strings.IndexByte(rest[at+1:], b.lead)
				if next < 0 {
					break
				}
				at += next + 1
			}
		}
	}
	// Patterns whose literal prefix reaches past the bus name are filed
	// under that bus; shorter ones (e.g. "*" or "pc*") under "".
	limit := len(s)
	if bus := busOf(s); bus != "" {
		probe(m.lens[bus], len(s))
		limit = len(bus) - 1
	}
	probe(m.lens[""], limit)
	slices.Sort(hits)
	return m.collect(hits, pats)
}

// matchNaive is the baseline: fnmatch against every pattern.
func (m *Matcher) matchNaive(modalias string) []*Module {
	s := NormalizeAlias(modalias)
	var hits []int32
	for i := range m.entries {
		if Fnmatch(m.entries[i].pattern, s) {
			hits = append(hits, int32(i))
		}
	}
	return m.collect(hits, nil)
}

func (m *Matcher) collect(hits []int32, pats *[]string) []*Module {
	var out []*Module
	for _, i := range hits {
		e := &m.entries[i]
		if !slices.Contains(out, e.module) {
			out = append(out, e.module)
			if pats != nil {
				*pats = append(*pats, e.pattern)
			}
		}
	}
	return out
}

// literalPrefix is the length of the pattern before its first special
// character.
func literalPrefix(p string) int {
	if i := strings.IndexAny(p, "*?[\\"); i >= 0 {
		return i
	}
	return len(p)
}

// Len is the number of alias patterns.
func (m *Matcher) Len() int { return len(m.entries) }
