package raid

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/needle-boot/needle/internal/plan"
)

// ActionKind is what apply does about one wanted volume.
type ActionKind string

const (
	// Keep: the volume exists as the plan wants it.
	Keep ActionKind = "keep"
	// Create a volume that does not exist.
	Create ActionKind = "create"
	// Delete a volume that differs from the plan, which said recreate.
	Delete ActionKind = "delete"
)

// Action is one step of an apply.
type Action struct {
	Kind       ActionKind
	Controller int
	// Volume is the plan's volume name.
	Volume string
	// VolumeID is the tool's id of the existing volume (keep, delete).
	VolumeID string
	// Spec is the volume to create.
	Spec VolumeSpec
	// Reason says why, for the log and the dry run.
	Reason string
}

func (a Action) String() string {
	switch a.Kind {
	case Create:
		size := "max"
		if a.Spec.SizeBytes > 0 {
			size = plan.HumanBytes(a.Spec.SizeBytes)
		}
		return fmt.Sprintf("create %s on controller %d: %s of %s, size %s (%s)", a.Volume, a.Controller, a.Spec.Level, strings.Join(a.Spec.Members, ","), size, a.Reason)
	case Delete:
		return fmt.Sprintf("delete volume %s on controller %d for %s (%s)", a.VolumeID, a.Controller, a.Volume, a.Reason)
	}
	return fmt.Sprintf("keep %s on controller %d as volume %s (%s)", a.Volume, a.Controller, a.VolumeID, a.Reason)
}

// FieldDiff is one field in which an existing volume differs from the plan.
type FieldDiff struct {
	Field string
	Want  string
	Have  string
}

func (f FieldDiff) String() string {
	return fmt.Sprintf("%s: want %s, have %s", f.Field, f.Want, f.Have)
}

// MismatchError is an existing volume that differs from the plan, which did
// not ask to recreate it.
type MismatchError struct {
	Volume     string // the plan's name
	Line       int    // the plan's line, 0 when unknown
	Controller int
	VolumeID   string
	Diffs      []FieldDiff
}

func (e *MismatchError) Error() string {
	var d []string
	for _, f := range e.Diffs {
		d = append(d, f.String())
	}
	at := ""
	if e.Line > 0 {
		at = fmt.Sprintf(" (plan line %d)", e.Line)
	}
	return fmt.Sprintf("raid volume %q%s: controller %d volume %s differs from the plan: %s; needle leaves it alone: set recreate: true to delete and recreate it (its data is lost)",
		e.Volume, at, e.Controller, e.VolumeID, strings.Join(d, "; "))
}

// SizeTolerance is how far a volume's reported size may be from the plan's
// and still count as the same: the tools print rounded sizes (storcli
// "3.637 TB" is ±0.0005 TiB) and firmware coerces sizes to its stripe, so
// the larger of 0.2 % and 8 MiB.
func SizeTolerance(want uint64) uint64 { return max(want/500, 8<<20) }

func sizeClose(have, want uint64) bool {
	d := have - want
	if want > have {
		d = want - have
	}
	return d <= SizeTolerance(want)
}

// compareVolume lists how an existing volume differs from a wanted one;
// named is false for a tool that stores no names (VolumeNames).
func compareVolume(w plan.Volume, have Volume, named bool) []FieldDiff {
	var out []FieldDiff
	if wl := normLevel(w.Level); wl != have.Level {
		out = append(out, FieldDiff{"level", wl, have.Level})
	}
	if named && w.Name != have.Name {
		out = append(out, FieldDiff{"name", strconv.Quote(w.Name), strconv.Quote(have.Name)})
	}
	switch {
	case len(w.Members) > 0:
		if !sameSet(w.Members, have.Members) {
			out = append(out, FieldDiff{"members", "[" + strings.Join(sortedLocs(w.Members), " ") + "]", "[" + strings.Join(sortedLocs(have.Members), " ") + "]"})
		}
	case w.Count > 0:
		if have.Members == nil {
			out = append(out, FieldDiff{"members", fmt.Sprintf("%d disks", w.Count), "unknown (the tool did not list them)"})
		} else if len(have.Members)+have.MissingMembers != w.Count {
			out = append(out, FieldDiff{"members", fmt.Sprintf("%d disks", w.Count), fmt.Sprintf("%d disks [%s]", len(have.Members)+have.MissingMembers, strings.Join(have.Members, " "))})
		}
	}
	if want := wantSize(w); want > 0 && !sizeClose(have.SizeBytes, want) {
		out = append(out, FieldDiff{"size", fmt.Sprintf("%s (%d bytes)", plan.HumanBytes(want), want), fmt.Sprintf("%s (%d bytes)", plan.HumanBytes(have.SizeBytes), have.SizeBytes)})
	}
	return out
}

// wantSize is the plan's size in bytes, 0 for max. Plans that were not
// through plan.Check have only the Size string.
func wantSize(w plan.Volume) uint64 {
	if w.SizeSpec.Bytes > 0 || w.SizeSpec.Max {
		return w.SizeSpec.Bytes
	}
	if w.Size == "" || w.Size == "max" {
		return 0
	}
	if s, err := plan.ParseSize(w.Size, true); err == nil {
		return s.Bytes
	}
	return 0
}

func sameSet(a, b []string) bool {
	return slices.Equal(sortedLocs(a), sortedLocs(b))
}

// sortedLocs sorts enclosure:slot locations numerically.
func sortedLocs(l []string) []string {
	out := slices.Clone(l)
	sort.Slice(out, func(i, j int) bool { return locLess(out[i], out[j]) })
	return out
}

func locLess(a, b string) bool {
	ea, sa, _ := strings.Cut(a, ":")
	eb, sb, _ := strings.Cut(b, ":")
	na, _ := strconv.Atoi(ea)
	nb, _ := strconv.Atoi(eb)
	if na != nb {
		return na < nb
	}
	ma, _ := strconv.Atoi(sa)
	mb, _ := strconv.Atoi(sb)
	if ma != mb {
		return ma < mb
	}
	return a < b
}

// resolveMembers turns the plan's members into the tool's Locations: a
// member that is no disk's Location but exactly one disk's Slot (the
// enclosure:slot a tw_cli or ssacli disk also has) becomes that disk's
// Location. Members that match nothing are left for Plan to report; bad
// holds the volumes (by index) with a member that matches several disks.
func resolveMembers(disks []PhysicalDisk, ctrl int, want []plan.Volume) (out []plan.Volume, bad map[int]error) {
	loc := map[string]bool{}
	slot := map[string][]string{}
	for _, d := range disks {
		if d.Controller != ctrl {
			continue
		}
		loc[d.Location] = true
		if d.Slot != "" {
			slot[d.Slot] = append(slot[d.Slot], d.Location)
		}
	}
	out = slices.Clone(want)
	bad = map[int]error{}
	for i, w := range out {
		if len(w.Members) == 0 {
			continue
		}
		ms := slices.Clone(w.Members)
		var amb []string
		for j, m := range ms {
			switch l := slot[m]; {
			case loc[m] || len(l) == 0:
			case len(l) == 1:
				ms[j] = l[0]
			default:
				amb = append(amb, fmt.Sprintf("member %s is the enclosure:slot of %d disks (%s)", m, len(l), strings.Join(l, ", ")))
			}
		}
		if amb != nil {
			bad[i] = fmt.Errorf("%s: %s: name them by the tool's own address", volWhere(w), strings.Join(amb, "; "))
		}
		out[i].Members = ms
	}
	return out, bad
}

func volWhere(w plan.Volume) string {
	s := fmt.Sprintf("raid volume %q", w.Name)
	if w.Pos.Line > 0 {
		s += fmt.Sprintf(" (plan line %d)", w.Pos.Line)
	}
	return s
}

// counterpart finds the existing volume a wanted one stands for among
// vols (one controller's), skipping those already used: the volume of the
// same name; else the one with exactly the wanted members; else, on a
// tool that stores no names, one of the wanted level, disk count and size.
func counterpart(vols []Volume, w plan.Volume, named bool, used map[string]bool) *Volume {
	for i := range vols {
		if named && vols[i].Name == w.Name && w.Name != "" && !used[vols[i].ID] {
			return &vols[i]
		}
	}
	if len(w.Members) > 0 {
		for i := range vols {
			if !used[vols[i].ID] && sameSet(vols[i].Members, w.Members) {
				return &vols[i]
			}
		}
		return nil
	}
	if named || w.Count == 0 {
		return nil
	}
	for i := range vols {
		v := &vols[i]
		size := wantSize(w)
		if !used[v.ID] && v.Members != nil && v.Level == normLevel(w.Level) && len(v.Members)+v.MissingMembers == w.Count && (size == 0 || sizeClose(v.SizeBytes, size)) {
			return v
		}
	}
	return nil
}

// Plan computes what to do on controller ctrl so that it carries the
// wanted volumes, from its current state. It is pure: nothing runs.
//
// Members are the tool's disk Locations, or the enclosure:slot a disk
// also has (resolveMembers). A wanted volume's counterpart is the existing
// volume of the same name, else (members given) the one with exactly those
// members; a tool that stores no names (ssacli, see VolumeNames) matches
// by members only, or for a count by level, disk count and size. A
// counterpart that matches level, name, members (or member count) and
// size is kept; a different one is deleted and created again only when
// the plan says recreate, otherwise Plan fails with a *MismatchError
// showing each differing field. Volumes the plan does not name are never
// touched, and a wanted member that belongs to one of them is an error.
// A count picks that many free (ready, unclaimed) disks of one size and
// media, the smallest such group that holds enough, lowest slots first.
// A counterpart in an unknown, transient or failed state (unsettled) is
// neither deleted nor used: Plan stops naming the controller, the volume
// and its state. All deletes come before all creates.
func Plan(current *Result, want []plan.Volume, ctrl int) ([]Action, error) {
	named := VolumeNames(current.Tool)
	want, bad := resolveMembers(current.Disks, ctrl, want)
	var errs []error
	disks := map[string]PhysicalDisk{}
	var order []string
	for _, d := range current.Disks {
		if d.Controller == ctrl {
			disks[d.Location] = d
			order = append(order, d.Location)
		}
	}
	var vols []Volume
	for _, v := range current.Volumes {
		if v.Controller == ctrl {
			vols = append(vols, v)
		}
	}
	owner := map[string]string{} // location → volume id, live volumes
	for _, v := range vols {
		for _, m := range v.Members {
			owner[m] = v.ID
		}
	}
	for _, d := range current.Disks {
		if d.Controller == ctrl && d.Volume != "" {
			owner[d.Location] = d.Volume
		}
	}
	volByID := map[string]Volume{}
	for _, v := range vols {
		volByID[v.ID] = v
	}
	deleted := map[string]bool{}
	used := map[string]bool{} // counterparts already matched
	claimed := map[string]string{}
	var deletes, creates, keeps []Action

	for i, w := range want {
		if err := bad[i]; err != nil {
			errs = append(errs, err)
			continue
		}
		where := volWhere(w)
		cp := counterpart(vols, w, named, used)
		if cp != nil {
			used[cp.ID] = true
			diffs := compareVolume(w, *cp, named)
			if err := unsettled(*cp, ctrl, len(diffs) == 0, current.Tool); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			if len(diffs) == 0 {
				for _, m := range cp.Members {
					claimed[m] = w.Name
				}
				reason := "exists as planned"
				if cp.State != VolumeOptimal {
					reason += ", state " + cp.State
				}
				if !named {
					reason += fmt.Sprintf("; %s stores no volume names, so it is found by its disks", current.Tool)
				}
				keeps = append(keeps, Action{Kind: Keep, Controller: ctrl, Volume: w.Name, VolumeID: cp.ID, Reason: reason})
				continue
			}
			if !w.Recreate {
				errs = append(errs, &MismatchError{Volume: w.Name, Line: w.Pos.Line, Controller: ctrl, VolumeID: cp.ID, Diffs: diffs})
				continue
			}
			var why []string
			for _, d := range diffs {
				why = append(why, d.String())
			}
			deletes = append(deletes, Action{Kind: Delete, Controller: ctrl, Volume: w.Name, VolumeID: cp.ID, Reason: "recreate: " + strings.Join(why, "; ")})
			deleted[cp.ID] = true
		}
		free := func(loc string) error {
			d, ok := disks[loc]
			if !ok {
				return fmt.Errorf("no disk at %s on controller %d (disks: %s)", loc, ctrl, strings.Join(sortedLocs(order), " "))
			}
			if c, ok := claimed[loc]; ok {
				return fmt.Errorf("disk %s is already taken by raid volume %q of the plan", loc, c)
			}
			if id, ok := owner[loc]; ok && !deleted[id] {
				named := ""
				if n := volByID[id].Name; n != "" {
					named = fmt.Sprintf(" (%q)", n)
				}
				return fmt.Errorf("disk %s is in use by volume %s%s, which the plan does not recreate", loc, id, named)
			}
			if _, ok := owner[loc]; !ok && d.State != DiskReady {
				return fmt.Errorf("disk %s is %s (%s), not ready", loc, d.State, d.RawState)
			}
			return nil
		}
		var members []string
		switch {
		case len(w.Members) > 0:
			var bad []string
			for _, m := range w.Members {
				if err := free(m); err != nil {
					bad = append(bad, err.Error())
				}
			}
			if len(bad) > 0 {
				errs = append(errs, fmt.Errorf("%s: %s", where, strings.Join(bad, "; ")))
				continue
			}
			members = slices.Clone(w.Members)
		case w.Count > 0:
			var cands []PhysicalDisk
			for _, loc := range order {
				if free(loc) == nil {
					cands = append(cands, disks[loc])
				}
			}
			pick, err := pickDisks(cands, normLevel(w.Level), w.Count, wantSize(w))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
				continue
			}
			members = pick
		default:
			errs = append(errs, fmt.Errorf("%s: no members and no count", where))
			continue
		}
		for _, m := range members {
			claimed[m] = w.Name
		}
		reason := "absent"
		if cp != nil {
			reason = "recreated"
		}
		creates = append(creates, Action{Kind: Create, Controller: ctrl, Volume: w.Name, Reason: reason,
			// The tools take whole MiB; a decimal size ("1.5TB") is
			// rounded down, within SizeTolerance of the plan's.
			Spec: VolumeSpec{Controller: ctrl, Level: normLevel(w.Level), Members: members, SizeBytes: wantSize(w) &^ (1<<20 - 1), Name: w.Name}})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return slices.Concat(deletes, creates, keeps), nil
}

// unsettled refuses a volume apply must not act on. Deleting it (recreate)
// needs a settled volume (Volume.Settled) that is optimal or degraded:
// never one that is rebuilding, verifying, initialising, erasing, failed,
// offline or in a state or array state the parser did not know. Keeping it
// as it is does nothing to it, so a running task is fine there, but a
// failed or unknown volume (or array) is no volume to install onto.
func unsettled(v Volume, ctrl int, keep bool, tool string) error {
	refuse := func(what string) error {
		return fmt.Errorf("controller %d volume %s is %s: needle does not %s a volume in an unknown, transient or failed state; let the task finish or repair it with %s, then run again",
			ctrl, v.ID, v.Describe(), what, tool)
	}
	bad := IsUnknown(v.State) || IsUnknown(v.Level) || v.ArrayState != "" || v.State == VolumeFailed || v.State == VolumeOffline
	if keep {
		if bad {
			return refuse("use")
		}
		return nil
	}
	if bad || !v.Settled() {
		return refuse("delete")
	}
	return nil
}

// pickDisks chooses n disks for a count volume: disks of one size and
// media (mixing them wastes capacity or speed), from the smallest group
// that has n disks big enough for size, lowest enclosure:slot first.
func pickDisks(cands []PhysicalDisk, level string, n int, size uint64) ([]string, error) {
	type key struct {
		size  uint64
		media string
	}
	groups := map[key][]string{}
	var keys []key
	for _, d := range cands {
		k := key{d.SizeBytes, d.Media}
		if groups[k] == nil {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], d.Location)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].size != keys[j].size {
			return keys[i].size < keys[j].size
		}
		return keys[i].media < keys[j].media
	})
	var seen []string
	for _, k := range keys {
		g := groups[k]
		seen = append(seen, fmt.Sprintf("%d × %s %s", len(g), plan.HumanBytes(k.size), k.media))
		if len(g) < n {
			continue
		}
		if c, ok := capacity(level, n, k.size); size > 0 && ok && c < size {
			continue
		}
		return sortedLocs(g)[:n], nil
	}
	if len(seen) == 0 {
		seen = []string{"none"}
	}
	want := fmt.Sprintf("%d free disks of one size and media", n)
	if size > 0 {
		want += fmt.Sprintf(" giving %s as %s", plan.HumanBytes(size), level)
	}
	return nil, fmt.Errorf("want %s; free disks: %s", want, strings.Join(seen, ", "))
}

// capacity is the usable size of a level over n disks of size s, before
// the controller's metadata reserve; ok is false for levels not computed.
func capacity(level string, n int, s uint64) (uint64, bool) {
	u := uint64(n)
	switch level {
	case "raid0":
		return u * s, true
	case "raid1":
		return s, true
	case "raid1e", "raid10":
		return u * s / 2, true
	case "raid5":
		return (u - 1) * s, n >= 2
	case "raid6":
		return (u - 2) * s, n >= 3
	}
	return 0, false
}

// Verify checks, after an apply, that each wanted volume exists on
// controller ctrl as planned and is usable. On a tool that stores no
// names the volume is found by its members (Apply passes the members it
// created or kept), or for a count by its shape.
func Verify(after *Result, want []plan.Volume, ctrl int) error {
	named := VolumeNames(after.Tool)
	want, bad := resolveMembers(after.Disks, ctrl, want)
	var errs []error
	var vols []Volume
	for _, v := range after.Volumes {
		if v.Controller == ctrl {
			vols = append(vols, v)
		}
	}
	used := map[string]bool{}
	for i, w := range want {
		if err := bad[i]; err != nil {
			errs = append(errs, err)
			continue
		}
		got := counterpart(vols, w, named, used)
		if got == nil {
			var have []string
			for _, v := range vols {
				have = append(have, fmt.Sprintf("%s %q", v.ID, v.Name))
			}
			errs = append(errs, fmt.Errorf("raid volume %q: not on controller %d after apply (volumes there: %s)", w.Name, ctrl, strings.Join(have, ", ")))
			continue
		}
		used[got.ID] = true
		if d := compareVolume(w, *got, named); len(d) > 0 {
			errs = append(errs, fmt.Errorf("raid volume %q: volume %s read back differs from the plan: %v", w.Name, got.ID, d))
			continue
		}
		if got.State == VolumeFailed || got.State == VolumeOffline || IsUnknown(got.State) || got.ArrayState != "" {
			errs = append(errs, fmt.Errorf("raid volume %q: volume %s is %s after apply", w.Name, got.ID, got.Describe()))
		}
	}
	return errors.Join(errs...)
}
