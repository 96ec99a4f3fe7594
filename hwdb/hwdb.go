// Package hwdb is needle's hardware database: YAML rule files that say, for
// a PCI device on a given machine and kernel, which kernel module drives it
// (the stock one, or a patched overlay built under modules/), with which
// parameters, what not to load, and which vendor tool manages its RAID.
// Devices no rule decides get the stock modalias match.
//
// A rule file:
//
//	rules:
//	  - name: lsi-sas2008-c5220-sas2ircu-segfault
//	    match:
//	      pci: {vendor: 0x1000, device: 0x0072}          # ids, ranges 0x0080-0x0087, lists, "*"
//	      dmi: {sys_vendor: "Dell Inc.", product_name: "PowerEdge C5220*"}   # globs: * and ?
//	      kernel: {max: "4.4"}                            # min inclusive, max exclusive
//	    overlay: mpt2sas                                  # or module: NAME for a stock module
//	    params: "max_queue_depth=1024"
//	    blacklist: [mptsas]
//	    raid_tool: sas2ircu
//	    note: why
//	    reference: upstream commit or bug
//
// Precedence is by Specificity (DMI, then PCI, then kernel); see there.
//
// It is public on purpose: the rule format and its matcher are what
// operators and provisioning systems outside needle read and test rules
// with (`needle hwdb check|match` wraps it); its API follows the rule
// format's version.
package hwdb

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"

	"github.com/needle-boot/needle/internal/inventory"
)

//go:embed rules/*.yaml
var builtinRules embed.FS

// namedFS is a rule directory with the name errors and decisions use for
// its files.
type namedFS struct {
	fs.FS
	name string
}

func (n namedFS) Name() string { return n.name }

// Builtin is the rule set compiled into needle (hwdb/rules/*.yaml).
func Builtin() fs.FS {
	// fs.Sub fails only for an invalid path, and "rules" is valid.
	sub, _ := fs.Sub(builtinRules, "rules")
	return namedFS{FS: sub, name: "hwdb/rules"}
}

// Dir is a rule directory on disk (needle.hwdb=, --hwdb-extra); files in it
// are named path/file in errors and decisions.
func Dir(dir string) fs.FS { return namedFS{FS: os.DirFS(dir), name: dir} }

// Named labels an fs.FS for errors and decisions.
func Named(name string, fsys fs.FS) fs.FS { return namedFS{FS: fsys, name: name} }

// DB is a loaded, conflict-checked rule set.
type DB struct {
	rules []*Rule
}

// Rules are the loaded rules in load order (file by file, top to bottom).
func (db *DB) Rules() []*Rule { return slices.Clone(db.rules) }

// Load reads every *.yaml and *.yml file at the top of fsys and of each
// extra, in name order, and checks the whole set for conflicts: two rules of
// equal specificity that can match the same device and decide differently
// are an error naming both (a rule in an extra directory that should win
// must be more specific, not merely later).
func Load(fsys fs.FS, extra ...fs.FS) (*DB, error) {
	db := &DB{}
	var errs []error
	for i, f := range append([]fs.FS{fsys}, extra...) {
		name := fmt.Sprintf("rules[%d]", i)
		if n, ok := f.(interface{ Name() string }); ok {
			name = n.Name()
		}
		rules, err := loadFS(name, f)
		if err != nil {
			errs = append(errs, err)
		}
		db.rules = append(db.rules, rules...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := db.conflicts(); err != nil {
		return nil, err
	}
	return db, nil
}

func loadFS(name string, fsys fs.FS) ([]*Rule, error) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := fs.Glob(fsys, pat)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	var rules []*Rule
	var errs []error
	for _, f := range files {
		label := path.Join(name, f)
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", label, err))
			continue
		}
		rs, err := ParseRules(label, b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, rs...)
	}
	return rules, errors.Join(errs...)
}

// ConflictError is two rules that tie and disagree.
type ConflictError struct{ A, B *Rule }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s: rule conflicts with %s: both can match %s with equal specificity (%s) but decide %q vs %q; make one more specific (add subvendor/subdevice, dmi or kernel bounds) or make them agree",
		e.A.Pos(), e.B.Pos(), e.A.Describe(), e.A.Specificity(), e.A.decision, e.B.decision)
}

func (db *DB) conflicts() error {
	var errs []error
	for i, a := range db.rules {
		for _, b := range db.rules[i+1:] {
			if a.Specificity() != b.Specificity() || a.decision.same(b.decision) || !a.overlaps(b) {
				continue
			}
			errs = append(errs, &ConflictError{A: a, B: b})
		}
	}
	return errors.Join(errs...)
}

// Candidate is one rule considered for a device in an explanation.
type Candidate struct {
	Rule        *Rule
	Matched     bool
	Reason      string // why it matched or why not
	Specificity Specificity
	Decides     bool // the winning rule
}

// Explain lists the rules considered for a device (those whose vendor and
// class admit it; others cannot concern it) with why each matched or not,
// and the decision if any rule matched.
func (db *DB) Explain(dev inventory.PCIDevice, dmi inventory.DMI, kernel string) ([]Candidate, *Decision) {
	var out []Candidate
	best := -1
	for _, r := range db.rules {
		if !r.vendor.matches(dev.Vendor) || !r.class.matches(dev.Class) {
			continue
		}
		ok, why := r.Match(dev, dmi, kernel)
		out = append(out, Candidate{Rule: r, Matched: ok, Reason: why, Specificity: r.Specificity()})
		if ok && (best < 0 || r.Specificity().cmp(out[best].Specificity) > 0) {
			best = len(out) - 1
		}
	}
	if best < 0 {
		return out, nil
	}
	out[best].Decides = true
	d := out[best].Rule.Decision()
	return out, &d
}

// Decide returns the deciding rule's decision for a device, or false when
// no rule matches and the stock modalias match applies. Ties cannot happen:
// Load rejects them (the first rule in load order would win).
func (db *DB) Decide(dev inventory.PCIDevice, dmi inventory.DMI, kernel string) (Decision, bool) {
	var kv *kver
	if v, err := parseKver(kernel); err == nil {
		kv = &v
	}
	var best *Rule
	var bestSpec Specificity
	for _, r := range db.rules {
		if !r.matches(dev, dmi, kv) {
			continue
		}
		if s := r.Specificity(); best == nil || s.cmp(bestSpec) > 0 {
			best, bestSpec = r, s
		}
	}
	if best == nil {
		return Decision{}, false
	}
	return best.Decision(), true
}
