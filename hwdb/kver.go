package hwdb

import (
	"fmt"
	"strconv"
	"strings"
)

// kver is a kernel release reduced to what orders it: the dotted upstream
// version, then a pre-release (-rcN) or a distribution's ABI/build number.
//
//	"6.1.0-56-amd64" -> 6.1.0, abi 56 (Debian: the ABI number, not the stable sublevel)
//	"5.15.0-91-generic" -> 5.15.0, abi 91 (Ubuntu)
//	"4.18.0-513.el8.x86_64" -> 4.18.0, abi 513 (RHEL)
//	"4.4.0-rc3" -> 4.4.0, before 4.4.0
//	"4.4" == "4.4.0"
//
// Debian and Ubuntu releases carry the ABI, not the stable sublevel, so a
// bound finer than major.minor should be written in the distribution's own
// numbering (min: "6.1.0-20").
type kver struct {
	nums [4]int
	pre  bool // -rcN: sorts before the release
	n    int  // rc number or ABI number
}

// parseKver accepts releases as uname -r prints them.
func parseKver(s string) (kver, error) {
	var v kver
	if s == "" {
		return v, fmt.Errorf("empty kernel release")
	}
	head, tail, _ := strings.Cut(s, "-")
	// "6.1.0+" and "6.1.0_custom" end the numeric part too.
	if i := strings.IndexFunc(head, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }); i >= 0 {
		head, tail = head[:i], ""
	}
	parts := strings.Split(head, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return v, fmt.Errorf("kernel release %q: want MAJOR.MINOR[.PATCH]", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("kernel release %q: %q is not a number", s, p)
		}
		v.nums[i] = n
	}
	if tail != "" {
		first, _, _ := strings.Cut(tail, "-")
		first, _, _ = strings.Cut(first, ".")
		if rc, ok := strings.CutPrefix(first, "rc"); ok {
			if n, err := strconv.Atoi(rc); err == nil {
				v.pre, v.n = true, n
			}
		} else if n, err := strconv.Atoi(first); err == nil {
			v.n = n
		}
	}
	return v, nil
}

// cmp orders two releases: -1, 0, +1.
func (a kver) cmp(b kver) int {
	for i := range a.nums {
		if a.nums[i] != b.nums[i] {
			return sign(a.nums[i] - b.nums[i])
		}
	}
	if a.pre != b.pre {
		if a.pre {
			return -1
		}
		return 1
	}
	return sign(a.n - b.n)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// kernelRange is [min, max): min inclusive, max exclusive, so a fix that
// first appears in release R is written max: R, and a rule split at a
// release (mpt2sas before 4.4, mpt3sas from 4.4) uses the same number on
// both sides without overlap.
type kernelRange struct {
	min, max       *kver
	minSrc, maxSrc string
}

func (k kernelRange) contains(v kver) bool {
	if k.min != nil && v.cmp(*k.min) < 0 {
		return false
	}
	if k.max != nil && v.cmp(*k.max) >= 0 {
		return false
	}
	return true
}

// overlaps reports whether some release lies in both ranges.
func (k kernelRange) overlaps(o kernelRange) bool {
	lo, hi := k.min, k.max
	if o.min != nil && (lo == nil || o.min.cmp(*lo) > 0) {
		lo = o.min
	}
	if o.max != nil && (hi == nil || o.max.cmp(*hi) < 0) {
		hi = o.max
	}
	return lo == nil || hi == nil || lo.cmp(*hi) < 0
}

func (k kernelRange) bounds() int {
	n := 0
	if k.min != nil {
		n++
	}
	if k.max != nil {
		n++
	}
	return n
}

func (k kernelRange) String() string {
	switch {
	case k.min != nil && k.max != nil:
		return fmt.Sprintf("%s <= kernel < %s", k.minSrc, k.maxSrc)
	case k.min != nil:
		return "kernel >= " + k.minSrc
	case k.max != nil:
		return "kernel < " + k.maxSrc
	}
	return "any kernel"
}
