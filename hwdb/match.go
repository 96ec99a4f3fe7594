package hwdb

import (
	"fmt"
	"strings"

	"github.com/needle-boot/needle/internal/inventory"
)

// idRange is an inclusive range of 16-bit PCI ids; a single id has lo == hi.
type idRange struct{ lo, hi uint16 }

// idMatch is one of vendor, device, subvendor, subdevice: any value (absent
// or "*"), or a set of ids and ranges.
type idMatch struct {
	any    bool
	ranges []idRange
}

func (m idMatch) matches(v uint16) bool {
	if m.any {
		return true
	}
	for _, r := range m.ranges {
		if v >= r.lo && v <= r.hi {
			return true
		}
	}
	return false
}

func (m idMatch) overlaps(o idMatch) bool {
	if m.any || o.any {
		return true
	}
	for _, a := range m.ranges {
		for _, b := range o.ranges {
			if a.lo <= b.hi && b.lo <= a.hi {
				return true
			}
		}
	}
	return false
}

// weight: exact ids count more than wildcards.
func (m idMatch) weight() int {
	if m.any {
		return 0
	}
	return 2
}

func (m idMatch) String() string {
	if m.any {
		return "*"
	}
	var s []string
	for _, r := range m.ranges {
		if r.lo == r.hi {
			s = append(s, fmt.Sprintf("0x%04x", r.lo))
		} else {
			s = append(s, fmt.Sprintf("0x%04x-0x%04x", r.lo, r.hi))
		}
	}
	return strings.Join(s, ",")
}

// classMatch is a 24-bit class code with wildcard nibbles: "0x0104xx" is
// every RAID controller (class 01, subclass 04) whatever its prog-if.
type classMatch struct {
	value, mask uint32 // mask has 0xf for every fixed nibble
	src         string
}

func (c classMatch) matches(class uint32) bool { return class&c.mask == c.value&c.mask }

func (c classMatch) overlaps(o classMatch) bool {
	both := c.mask & o.mask
	return c.value&both == o.value&both
}

// weight: a full class code is exact, a masked one partial.
func (c classMatch) weight() int {
	switch c.mask {
	case 0:
		return 0
	case 0xffffff:
		return 2
	}
	return 1
}

// dmiMatch is one DMI field against a glob.
type dmiMatch struct {
	field string // sys_vendor, product_name, board_vendor, board_name
	glob  string
}

// dmiFields are the DMI fields a rule may match, in the order explanations
// list them.
func dmiFields() []string {
	return []string{"sys_vendor", "product_name", "board_vendor", "board_name"}
}

func dmiValue(d inventory.DMI, field string) string {
	switch field {
	case "sys_vendor":
		return d.SysVendor
	case "product_name":
		return d.ProductName
	case "board_vendor":
		return d.BoardVendor
	case "board_name":
		return d.BoardName
	}
	return ""
}

// weight: a literal name is exact, a glob partial.
func (m dmiMatch) weight() int {
	if strings.ContainsAny(m.glob, "*?") {
		return 1
	}
	return 2
}

// globMatch matches s against a glob where '*' is any run of characters
// (including '/', which DMI strings may contain) and '?' is one character.
// Everything else is literal; there are no character classes.
func globMatch(glob, s string) bool {
	// Iterative matching with single backtrack point (the last star).
	gi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case gi < len(glob) && (glob[gi] == '?' || glob[gi] == s[si]):
			gi++
			si++
		case gi < len(glob) && glob[gi] == '*':
			star, mark = gi, si
			gi++
		case star >= 0:
			gi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for gi < len(glob) && glob[gi] == '*' {
		gi++
	}
	return gi == len(glob)
}

// globsOverlap reports whether some string matches both globs: the
// intersection of two star/question-mark patterns, by dynamic programming
// over positions in both.
func globsOverlap(p, q string) bool {
	// One byte of state per (i, j): 0 unknown, 1 false, 2 true; patterns
	// are at most maxGlob bytes (the parser refuses longer), so this is
	// at most 256 KiB, where a map of pairs took gigabytes on 8 KB rules.
	state := make([]byte, (len(p)+1)*(len(q)+1))
	var f func(i, j int) bool
	f = func(i, j int) bool {
		k := i*(len(q)+1) + j
		if state[k] != 0 {
			return state[k] == 2
		}
		state[k] = 1 // a cycle is not a match until proven
		var r bool
		switch {
		case i == len(p) && j == len(q):
			r = true
		case i < len(p) && p[i] == '*':
			// The star matches nothing, or absorbs one character of
			// whatever q's next element matches.
			r = f(i+1, j) || (j < len(q) && f(i, j+1))
		case j < len(q) && q[j] == '*':
			r = f(i, j+1) || (i < len(p) && f(i+1, j))
		case i == len(p) || j == len(q):
			r = false
		default:
			r = (p[i] == '?' || q[j] == '?' || p[i] == q[j]) && f(i+1, j+1)
		}
		if r {
			state[k] = 2
		}
		return r
	}
	return f(0, 0)
}

// maxGlob bounds a DMI pattern: SMBIOS strings are at most a few dozen
// bytes in practice (and 255 by the format's counts), and the overlap check
// costs the product of two patterns' lengths.
const maxGlob = 512
