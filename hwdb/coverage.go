package hwdb

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// RAIDDrivers are the kernel modules whose PCI tables the hwdb must cover:
// every vendor:device they claim gets a RAID tool decision (a tool, or
// raid_tool: none). Names in the kernel's spelling ('_'); mpt2sas exists
// before Linux 4.4 only, and a kernel without a module simply has no claims
// from it.
func RAIDDrivers() []string {
	return []string{
		"mpt3sas", "mpt2sas", "megaraid_sas", "mpi3mr", "aacraid", "hpsa", "smartpqi",
		"3w_9xxx", "3w_sas", "3w_xxxx", "mptsas", "mptspi",
	}
}

// Claim is one PCI alias of a driver with a literal vendor and device
// (pci_device_id entries with PCI_ANY_ID devices, such as hpsa's
// class-wide match, are no vendor:device claim).
type Claim struct {
	Module               string
	Vendor, Device       uint16
	SubVendor, SubDevice idMatch // any, or one id
	Pattern              string  // the alias as the kernel wrote it
	Pos                  string  // file:line it was read from
}

// ID is "1000:005b".
func (c Claim) ID() string { return fmt.Sprintf("%04x:%04x", c.Vendor, c.Device) }

// Sub is the claim's subsystem: "*:*", "1028:*" or "1028:1f2d".
func (c Claim) Sub() string { return shortID(c.SubVendor) + ":" + shortID(c.SubDevice) }

func shortID(m idMatch) string {
	if m.any {
		return "*"
	}
	return fmt.Sprintf("%04x", m.ranges[0].lo)
}

// pciAliasRe is a PCI alias as file2alias writes it (scripts/mod/
// file2alias.c, do_pci_entry): v, d, sv, sd as 8 hex digits or '*', then
// the class bytes.
var pciAliasRe = regexp.MustCompile(`^pci:v([0-9A-F]{8}|\*)d([0-9A-F]{8}|\*)sv([0-9A-F]{8}|\*)sd([0-9A-F]{8}|\*)bc`)

// ParseClaim reads one PCI alias. ok is false for an alias that is no
// vendor:device claim (another bus, or a '*' vendor or device).
func ParseClaim(module, pattern string) (c Claim, ok bool, err error) {
	if !strings.HasPrefix(pattern, "pci:") {
		return Claim{}, false, nil
	}
	m := pciAliasRe.FindStringSubmatch(pattern)
	if m == nil {
		return Claim{}, false, fmt.Errorf("%q is not a PCI alias (pci:vXXXXXXXXdXXXXXXXXsv…sd…bc…)", pattern)
	}
	if m[1] == "*" || m[2] == "*" {
		return Claim{}, false, nil
	}
	c = Claim{Module: module, Pattern: pattern}
	var ids [4]idMatch
	for i, s := range m[1:5] {
		if s == "*" {
			ids[i] = idMatch{any: true}
			continue
		}
		v, err := strconv.ParseUint(s, 16, 32)
		if err != nil || v > 0xffff {
			return Claim{}, false, fmt.Errorf("%q: id %s is not 16-bit", pattern, s)
		}
		ids[i] = idMatch{ranges: []idRange{{uint16(v), uint16(v)}}}
	}
	c.Vendor, c.Device = ids[0].ranges[0].lo, ids[1].ranges[0].lo
	c.SubVendor, c.SubDevice = ids[2], ids[3]
	return c, true, nil
}

// ReadClaims reads modules.alias lines ("alias PATTERN MODULE", '#'
// comments) and returns the vendor:device claims of the RAIDDrivers.
// Errors name file:line.
func ReadClaims(file string, data []byte) ([]Claim, error) {
	var out []Claim
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return nil, &Error{File: file, Line: n, Msg: fmt.Sprintf("not an \"alias PATTERN MODULE\" line: %q", line)}
		}
		module := strings.ReplaceAll(f[2], "-", "_")
		if !slices.Contains(RAIDDrivers(), module) {
			continue
		}
		c, ok, err := ParseClaim(module, f[1])
		if err != nil {
			return nil, &Error{File: file, Line: n, Msg: err.Error()}
		}
		if ok {
			c.Pos = fmt.Sprintf("%s:%d", file, n)
			out = append(out, c)
		}
	}
	return out, sc.Err()
}

// ClaimCoverage is the hwdb's answer for one claim.
type ClaimCoverage struct {
	Claim    Claim
	Decision *Decision // nil: uncovered
	Why      string    // why uncovered
}

// IDCoverage is one vendor:device of a driver with all its claims.
type IDCoverage struct {
	Vendor, Device uint16
	Claims         []ClaimCoverage
}

// Covered reports whether every claim of the id has a decision.
func (c IDCoverage) Covered() bool {
	for _, cl := range c.Claims {
		if cl.Decision == nil {
			return false
		}
	}
	return true
}

// DriverCoverage is one driver's ids, in id order.
type DriverCoverage struct {
	Module string
	IDs    []IDCoverage
}

// Covered counts the driver's ids with a decision for every claim.
func (d DriverCoverage) Covered() int {
	n := 0
	for _, id := range d.IDs {
		if id.Covered() {
			n++
		}
	}
	return n
}

// Coverage answers, for every claim, which rule decides the RAID tool for
// every device the claim admits on the kernel: grouped by driver (in
// RAIDDrivers order, drivers without claims left out) and vendor:device.
func (db *DB) Coverage(claims []Claim, kernel string) ([]DriverCoverage, error) {
	kv, err := parseKver(kernel)
	if err != nil {
		return nil, fmt.Errorf("kernel release %q: %w", kernel, err)
	}
	byDriver := map[string]map[[2]uint16][]ClaimCoverage{}
	for _, c := range claims {
		d, why := db.cover(c, kv)
		if byDriver[c.Module] == nil {
			byDriver[c.Module] = map[[2]uint16][]ClaimCoverage{}
		}
		k := [2]uint16{c.Vendor, c.Device}
		byDriver[c.Module][k] = append(byDriver[c.Module][k], ClaimCoverage{Claim: c, Decision: d, Why: why})
	}
	var out []DriverCoverage
	for _, mod := range RAIDDrivers() {
		ids := byDriver[mod]
		if len(ids) == 0 {
			continue
		}
		dc := DriverCoverage{Module: mod}
		for k, cl := range ids {
			dc.IDs = append(dc.IDs, IDCoverage{Vendor: k[0], Device: k[1], Claims: cl})
		}
		slices.SortFunc(dc.IDs, func(a, b IDCoverage) int {
			return cmp.Or(cmp.Compare(a.Vendor, b.Vendor), cmp.Compare(a.Device, b.Device))
		})
		out = append(out, dc)
	}
	return out, nil
}

// cover finds the decision for a claim: the most specific rule that
// matches every device the claim admits (no DMI or class limit, its
// subsystem at least as wide as the claim's, its kernel range holding the
// kernel) and settles the tool. A more specific rule that matches part of
// the claim and settles no tool would take those devices back out, so it
// makes the claim uncovered.
func (db *DB) cover(c Claim, kv kver) (*Decision, string) {
	var base *Rule
	for _, r := range db.rules {
		if !r.decision.HasToolDecision() || !r.coversClaim(c, kv) {
			continue
		}
		if base == nil || r.Specificity().cmp(base.Specificity()) > 0 {
			base = r
		}
	}
	if base == nil {
		return nil, "no rule decides a RAID tool for every device it claims"
	}
	for _, r := range db.rules {
		if r.decision.HasToolDecision() || !r.kernel.contains(kv) || !r.meetsClaim(c) ||
			r.Specificity().cmp(base.Specificity()) <= 0 {
			continue
		}
		return nil, fmt.Sprintf("%s overrides %s for some of its devices and decides no RAID tool", r.Pos(), base.Pos())
	}
	d := base.Decision()
	return &d, ""
}

// coversClaim: the rule matches every device the claim admits.
func (r *Rule) coversClaim(c Claim, kv kver) bool {
	if len(r.dmi) > 0 || r.class.mask != 0 || !r.kernel.contains(kv) ||
		!r.vendor.matches(c.Vendor) || !r.device.matches(c.Device) {
		return false
	}
	return covers(r.subvendor, c.SubVendor) && covers(r.subdevice, c.SubDevice)
}

// meetsClaim: the rule can match some device the claim admits.
func (r *Rule) meetsClaim(c Claim) bool {
	return r.vendor.matches(c.Vendor) && r.device.matches(c.Device) &&
		r.subvendor.overlaps(c.SubVendor) && r.subdevice.overlaps(c.SubDevice)
}

// covers: every id claim admits, rule admits.
func covers(rule, claim idMatch) bool {
	if rule.any {
		return true
	}
	return !claim.any && rule.matches(claim.ranges[0].lo)
}
