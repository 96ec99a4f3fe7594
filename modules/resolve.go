package modules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Policy is what modprobe.d would say: blacklisted modules, options, and
// extra softdeps. The zero Policy is modprobe without configuration.
type Policy struct {
	// Blacklist names modules that are not loaded when a lookup finds them
	// by alias; asked for by name they still load (modprobe's blacklist).
	Blacklist []string
	// Options are module parameters per module name ("param=v param2=w").
	Options map[string]string
	// Softdeps adds "softdep NAME pre: … post: …" values per module name,
	// on top of the modules' own MODULE_SOFTDEP.
	Softdeps map[string][]string
}

// Blacklisted reports whether the policy blacklists the module.
func (p Policy) Blacklisted(name string) bool {
	return slices.Contains(p.Blacklist, Normalize(name)) || slices.Contains(p.Blacklist, name)
}

// Step is one module of a load list.
type Step struct {
	Module *Module
	// Params are the module parameters from the policy.
	Params string
	// Why is the module in the list: "requested", "alias X",
	// "dependency of M", "softdep pre of M", "softdep post of M".
	Why string
}

// Plan is the ordered load list for one request.
type Plan struct {
	Steps []Step
	// Blacklisted are the modules the lookup found by alias but the policy
	// blacklists; they are not in Steps.
	Blacklisted []string
}

// Names lists the plan's modules in load order.
func (p Plan) Names() []string {
	out := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = s.Module.Name
	}
	return out
}

// ErrNotFound is returned when a name or alias matches no module.
var ErrNotFound = errors.New("no module or alias of that name")

// Resolve returns the ordered load list for a module name or alias, the way
// modprobe builds it (libkmod's __kmod_module_get_probe_list): for each
// module found, its dependencies from the deepest up, each preceded by its
// softdep "pre:" modules and followed by its "post:" ones, then the module
// itself with its own pre and post softdeps. A module appears once, at its
// first position. Builtin modules appear as steps with Module.Builtin set,
// so the caller can log them; loading them is a no-op.
func (ix *Index) Resolve(want string, pol Policy) (Plan, error) {
	mods, byAlias := ix.Lookup(want)
	if len(mods) == 0 {
		return Plan{}, fmt.Errorf("%s: %w", want, ErrNotFound)
	}
	r := resolver{ix: ix, pol: pol, visited: map[*Module]bool{}, placed: map[*Module]bool{}}
	for _, m := range mods {
		if byAlias && pol.Blacklisted(m.Name) {
			r.plan.Blacklisted = append(r.plan.Blacklisted, m.Name)
			continue
		}
		why := "requested"
		if byAlias {
			why = "alias " + want
		}
		r.probe(m, why)
	}
	return r.plan, nil
}

type resolver struct {
	ix      *Index
	pol     Policy
	plan    Plan
	visited map[*Module]bool
	placed  map[*Module]bool
}

// probe adds a module with its dependencies and softdeps.
func (r *resolver) probe(m *Module, why string) {
	if r.visited[m] {
		return
	}
	r.visited[m] = true
	for _, d := range slices.Backward(m.Deps) {
		if dm, ok := r.ix.byName[d]; ok {
			r.fill(dm, "dependency of "+m.Name)
		}
	}
	r.fill(m, why)
}

// fill adds a module between its pre and post softdeps.
func (r *resolver) fill(m *Module, why string) {
	pre, post := parseSoftdeps(append(slices.Clone(m.Info.Softdep), r.pol.Softdeps[m.Name]...))
	for _, name := range pre {
		r.soft(name, "softdep pre of "+m.Name)
	}
	if !r.placed[m] {
		r.placed[m] = true
		r.plan.Steps = append(r.plan.Steps, Step{Module: m, Params: r.params(m.Name), Why: why})
	}
	for _, name := range post {
		r.soft(name, "softdep post of "+m.Name)
	}
}

// soft resolves a softdep name (a module name or an alias such as
// "crypto-crc32c" or "platform:idma64"); a softdep that matches nothing is
// not an error, as with modprobe.
func (r *resolver) soft(name, why string) {
	mods, byAlias := r.ix.Lookup(name)
	for _, m := range mods {
		if byAlias && r.pol.Blacklisted(m.Name) {
			continue
		}
		r.probe(m, why)
	}
}

func (r *resolver) params(name string) string {
	if r.pol.Options == nil {
		return ""
	}
	return strings.TrimSpace(r.pol.Options[name])
}
