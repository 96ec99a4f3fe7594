// Package bisect finds the driver change that fixes (or breaks) a box: the
// build side (`needle bisect build`) compiles one module per prefix of an
// upstream patch series and describes them in a Manifest; the box side
// (`needle bisect run`, `needle.bisect=URL`) swaps each candidate in for
// the loaded driver, runs a probe, and binary-searches for the first
// candidate whose result differs from the base's.
package bisect

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// ManifestFile is the manifest's name in OUT/.
const ManifestFile = "bisect.json"

// Manifest describes a bisection set: OUT/bisect.json, next to the
// candidates' modules (plain files, served by any static HTTP server or
// carried on a stick).
type Manifest struct {
	Module string `json:"module"` // the driver, as /proc/modules names it (megaraid_sas)
	Recipe string `json:"recipe"` // the overlay recipe the candidates were built from
	Kernel string `json:"kernel"` // the kernel release they were built for (uname -r)
	// Probe is the command the box runs after each load (sh -c); exit 0
	// is good, anything else bad.
	Probe string `json:"probe"`
	// ProbeTimeout bounds each probe run, in seconds (0: 120).
	ProbeTimeout int `json:"probe_timeout,omitempty"`
	// Tools are programs OUT/bin/NAME the probe needs (a vendor tool), put
	// on the probe's PATH.
	Tools []File `json:"tools,omitempty"`
	// Candidates are in series order: index 0 is the base (the recipe's
	// own patches, none of the series), index i the base plus patches
	// 1..i.
	Candidates []Candidate `json:"candidates"`
}

// File is a file of OUT/ with its digest.
type File struct {
	Path   string `json:"path"` // relative to OUT/
	SHA256 string `json:"sha256"`
}

// Candidate is one module build.
type Candidate struct {
	Index   int    `json:"index"`
	Patch   string `json:"patch,omitempty"`   // the series file applied last ("" for the base)
	Subject string `json:"subject,omitempty"` // its Subject: line
	// Module is the built .ko; empty when Skip says why there is none.
	Module *File `json:"module,omitempty"`
	// Srcversion is the module's srcversion (modinfo), which the loaded
	// module shows in /sys/module/MODULE/srcversion: the box can check
	// that the candidate it loaded is the one running.
	Srcversion string `json:"srcversion,omitempty"`
	// Skip is why this candidate cannot be tested: its patch did not apply
	// or the module did not build (git bisect skip).
	Skip         string  `json:"skip,omitempty"`
	BuildSeconds float64 `json:"build_seconds,omitempty"`
}

// Name is how reports name a candidate: "#3 0003-scsi-fix.patch (scsi:
// megaraid_sas: fix …)", or "#0 base" for the base.
func (c Candidate) Name() string {
	if c.Index == 0 || c.Patch == "" {
		return fmt.Sprintf("#%d base", c.Index)
	}
	if c.Subject == "" {
		return fmt.Sprintf("#%d %s", c.Index, c.Patch)
	}
	return fmt.Sprintf("#%d %s (%s)", c.Index, c.Patch, c.Subject)
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ParseManifest reads and checks a manifest; src names it in errors.
func ParseManifest(src string, data []byte) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return &m, nil
}

func (m *Manifest) check() error {
	switch {
	case m.Module == "":
		return fmt.Errorf("no module named")
	case m.Kernel == "":
		return fmt.Errorf("no kernel named")
	case strings.TrimSpace(m.Probe) == "":
		return fmt.Errorf("no probe command")
	case len(m.Candidates) < 2:
		return fmt.Errorf("%d candidates: a bisection needs the base and at least one patch", len(m.Candidates))
	}
	for i, c := range m.Candidates {
		if c.Index != i {
			return fmt.Errorf("candidate %d has index %d: candidates must be in series order from 0", i, c.Index)
		}
		if (c.Module == nil) == (c.Skip == "") {
			return fmt.Errorf("candidate %s: want either a module or a skip reason", c.Name())
		}
		if c.Module != nil {
			if err := checkFile(*c.Module); err != nil {
				return fmt.Errorf("candidate %s: %w", c.Name(), err)
			}
		}
	}
	for _, t := range m.Tools {
		if err := checkFile(t); err != nil {
			return fmt.Errorf("tool: %w", err)
		}
	}
	first, last := m.Candidates[0], m.Candidates[len(m.Candidates)-1]
	if first.Skip != "" {
		return fmt.Errorf("the base did not build (%s): nothing to compare against", first.Skip)
	}
	if last.Skip != "" {
		return fmt.Errorf("the full series did not build (%s): drop the failing patch from the series", last.Skip)
	}
	return nil
}

// checkFile refuses paths that leave OUT/ and malformed digests.
func checkFile(f File) error {
	p := path.Clean(f.Path)
	if f.Path == "" || path.IsAbs(p) || p == ".." || strings.HasPrefix(p, "../") {
		return fmt.Errorf("path %q is not inside the bisection set", f.Path)
	}
	if !sha256Re.MatchString(f.SHA256) {
		return fmt.Errorf("%s: sha256 %q is not 64 hex digits", f.Path, f.SHA256)
	}
	return nil
}
