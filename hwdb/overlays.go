package hwdb

import "fmt"

// OverlayNeed is a rule that applies to a kernel release and names a
// patched module (overlay) for it.
type OverlayNeed struct {
	Module string
	Rule   string // the rule's name
	Pos    string // file:line
}

// Overlays lists, in load order, every rule whose kernel range contains
// kernel and which names an overlay: the modules an image for that kernel
// must carry. `needle hwdb overlays` prints it for build.sh, and
// `needle build` refuses an image lacking one; both call this, so what is
// built and what is checked cannot drift.
func (db *DB) Overlays(kernel string) ([]OverlayNeed, error) {
	v, err := parseKver(kernel)
	if err != nil {
		return nil, fmt.Errorf("kernel release %q: %w", kernel, err)
	}
	var out []OverlayNeed
	for _, r := range db.rules {
		if r.decision.Overlay && r.kernel.contains(v) {
			out = append(out, OverlayNeed{Module: r.decision.Module, Rule: r.Name, Pos: r.Pos()})
		}
	}
	return out, nil
}
