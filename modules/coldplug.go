package modules

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Device is one sysfs device that carries a modalias.
type Device struct {
	// Path is the device's directory relative to the sysfs root, with
	// symlinks resolved ("devices/pci0000:00/0000:00:03.0").
	Path string
	// Dir is the same directory with the sysfs root prepended, for readers
	// of other attributes (vendor, subsystem_device, class, …).
	Dir string
	// Subsystem is the bus the device sits on ("pci", "virtio", "usb", …),
	// from its subsystem link, or the modalias prefix if it has none.
	Subsystem string
	Modalias  string
}

// Decision is what the hardware DB decides for a device, overriding the
// stock alias match.
type Decision struct {
	// Module to load (a stock module or an overlay under updates/). Empty
	// means: no module for this device, only the blacklist applies.
	Module string
	// Params for the module, appended to the policy's options.
	Params string
	// Blacklist are modules that must not be loaded by alias from now on
	// (typically the stock driver an overlay replaces).
	Blacklist []string
	// Rule names the deciding rule for the log ("hwdb/lsi.yaml:12").
	Rule string
	// Overlay marks a patched module built by needle.
	Overlay bool
}

// Decider is consulted first for every device (hwdb implements it); ok
// false lets the alias match decide.
type Decider interface {
	Decide(d Device) (dec Decision, ok bool, err error)
}

// DeciderFunc adapts a function to Decider.
type DeciderFunc func(Device) (Decision, bool, error)

// Decide calls f.
func (f DeciderFunc) Decide(d Device) (Decision, bool, error) { return f(d) }

// ModuleLoader is what coldplug needs from a Loader (tests record calls).
type ModuleLoader interface {
	Load(ctx context.Context, m *Module, params string) (Outcome, error)
}

// Coldplug loads the drivers of the devices present at boot.
type Coldplug struct {
	Index *Index
	// SysfsRoot is where sysfs is mounted ("/sys").
	SysfsRoot string
	Loader    ModuleLoader
	// Decider, if set, is asked first per device.
	Decider Decider
	Policy  Policy
	// MaxRounds bounds the rescans (a loaded driver can reveal devices:
	// virtio_pci → virtio devices, an HBA → disks); 0 means 8.
	MaxRounds int
	Log       *slog.Logger

	// seen are the devices already decided; it survives Run, so a later
	// Run (the init's settle, when a slow bus such as usb-storage brings
	// a disk up after coldplug finished) decides only what is new.
	seen map[string]bool
}

// Result is one coldplug decision.
type Result struct {
	Device   string `json:"device"`
	Modalias string `json:"modalias"`
	// Rule is the hwdb rule that decided, or "" for the alias match.
	Rule string `json:"rule,omitempty"`
	// Alias is the pattern that matched, for alias decisions.
	Alias  string `json:"alias,omitempty"`
	Module string `json:"module,omitempty"`
	// Overlay marks a patched module chosen by a rule.
	Overlay bool `json:"overlay,omitempty"`
	// Outcome is loaded/already loaded/builtin/blacklisted/no module, or
	// "failed" with Err set.
	Outcome string `json:"outcome"`
	Err     error  `json:"-"`
	Error   string `json:"error,omitempty"`
	Round   int    `json:"round"`
}

// Report is the outcome of a coldplug run.
type Report struct {
	Results []Result
	Rounds  int
}

// Failed returns the results whose module failed to load.
func (r Report) Failed() []Result {
	var out []Result
	for _, x := range r.Results {
		if x.Err != nil {
			out = append(out, x)
		}
	}
	return out
}

// Run scans, decides and loads until a scan shows no new device or
// MaxRounds is reached. Failures are in the report; the error is only for
// an unusable sysfs or a cancelled context.
func (c *Coldplug) Run(ctx context.Context) (Report, error) {
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	maxRounds := c.MaxRounds
	if maxRounds <= 0 {
		maxRounds = 8
	}
	pol := c.Policy
	pol.Blacklist = slices.Clone(pol.Blacklist)
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	seen := c.seen
	var rep Report
	start := time.Now()
	defer func() {
		log.Info("coldplug done", "rounds", rep.Rounds, "decisions", len(rep.Results), "failed", len(rep.Failed()), "duration", time.Since(start).Round(time.Millisecond))
	}()
	for round := 1; ; round++ {
		if round > maxRounds {
			log.Warn("coldplug stopped: devices still appearing", "rounds", maxRounds)
			break
		}
		devs, err := ScanDevices(c.SysfsRoot)
		if err != nil {
			return rep, err
		}
		var fresh []Device
		for _, d := range devs {
			key := d.Path + "\x00" + d.Modalias
			if !seen[key] {
				seen[key] = true
				fresh = append(fresh, d)
			}
		}
		if len(fresh) == 0 {
			break
		}
		rep.Rounds = round
		log.Info("coldplug scan", "round", round, "new_devices", len(fresh))
		// Ask the decider about every new device before loading
		// anything, so a rule's blacklist holds even for a device that
		// sorts before the one the rule is about.
		decs := make([]*Decision, len(fresh))
		for i, d := range fresh {
			if c.Decider == nil {
				break
			}
			dec, ok, err := c.Decider.Decide(d)
			if err != nil {
				log.Warn("hwdb decision failed, using the alias match", "device", d.Path, "err", err)
				continue
			}
			if ok {
				decs[i] = &dec
				for _, b := range dec.Blacklist {
					pol.Blacklist = appendUnique(pol.Blacklist, Normalize(b))
				}
			}
		}
		for i, d := range fresh {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			for _, r := range c.device(ctx, d, decs[i], pol, round) {
				logResult(log, r)
				rep.Results = append(rep.Results, r)
			}
		}
	}
	return rep, nil
}

// device decides and loads for one device; one result per module.
func (c *Coldplug) device(ctx context.Context, d Device, dec *Decision, pol Policy, round int) []Result {
	base := Result{Device: d.Path, Modalias: d.Modalias, Round: round}
	if dec != nil {
		base.Rule = dec.Rule
		if dec.Module == "" {
			base.Outcome = "no module (rule)"
			return []Result{base}
		}
		base.Module, base.Overlay = dec.Module, dec.Overlay
		p := pol
		if dec.Params != "" {
			p.Options = mergeOptions(pol.Options, dec.Module, dec.Params)
		}
		// Asked for by name: the blacklist does not apply to it.
		return []Result{c.load(ctx, base, dec.Module, p)}
	}
	mods, pats := c.Index.Aliases().MatchPatterns(d.Modalias)
	var loadable []int
	for i, m := range mods {
		if !m.Builtin {
			loadable = append(loadable, i)
		}
	}
	if len(loadable) == 0 && len(mods) > 0 {
		base.Module, base.Alias, base.Outcome = mods[0].Name, pats[0], string(Builtin)
		return []Result{base}
	}
	if len(mods) == 0 {
		base.Outcome = "no module"
		return []Result{base}
	}
	var out []Result
	for _, i := range loadable {
		r := base
		r.Module, r.Alias = mods[i].Name, pats[i]
		if pol.Blacklisted(mods[i].Name) {
			r.Outcome = "blacklisted"
			out = append(out, r)
			continue
		}
		out = append(out, c.load(ctx, r, mods[i].Name, pol))
	}
	return out
}

// load resolves a module by name and loads its plan.
func (c *Coldplug) load(ctx context.Context, r Result, name string, pol Policy) Result {
	plan, err := c.Index.Resolve(name, pol)
	if err != nil {
		r.Outcome, r.Err = "failed", err
		r.Error = err.Error()
		return r
	}
	var last, mine Outcome
	for _, s := range plan.Steps {
		o, err := c.Loader.Load(ctx, s.Module, s.Params)
		if err != nil {
			if strings.HasPrefix(s.Why, "softdep") {
				c.logger().Warn("softdep failed", "module", s.Module.Name, "for", name, "err", err)
				continue
			}
			r.Outcome, r.Err = "failed", err
			r.Error = err.Error()
			return r
		}
		if s.Module.Name == Normalize(name) {
			mine = o
		}
		if !strings.HasPrefix(s.Why, "softdep") {
			last = o
		}
	}
	if mine == "" {
		mine = last
	}
	r.Outcome = string(mine)
	return r
}

func (c *Coldplug) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Log
}

func mergeOptions(opts map[string]string, name, params string) map[string]string {
	out := map[string]string{}
	for k, v := range opts {
		out[k] = v
	}
	name = Normalize(name)
	out[name] = strings.TrimSpace(out[name] + " " + params)
	return out
}

// logResult writes the one line per decision: device → rule or alias →
// module → result.
func logResult(log *slog.Logger, r Result) {
	by := "alias " + r.Alias
	if r.Rule != "" {
		by = "rule " + r.Rule
	}
	if r.Module == "" && r.Rule == "" {
		log.Debug(fmt.Sprintf("%s → no module", r.Device), "modalias", r.Modalias)
		return
	}
	mod := r.Module
	if r.Overlay {
		mod += " (overlay)"
	}
	msg := fmt.Sprintf("%s → %s → %s → %s", r.Device, by, mod, r.Outcome)
	// CPU and input modaliases run to kilobytes; the console needs the head.
	alias := r.Modalias
	if len(alias) > 100 {
		alias = alias[:100] + "…"
	}
	if r.Err != nil {
		log.Error(msg, "modalias", alias, "err", r.Err)
		return
	}
	log.Info(msg, "modalias", alias)
}

// ScanDevices returns every device with a modalias attribute under the
// sysfs root: those of /sys/bus/*/devices/* and any other under
// /sys/devices (platform, ACPI, …), once each, sorted by path.
func ScanDevices(root string) ([]Device, error) {
	byPath := map[string]Device{}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("sysfs root: %w", err)
	}
	add := func(dir string) {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return
		}
		data, err := os.ReadFile(filepath.Join(real, "modalias"))
		if err != nil {
			return
		}
		alias := strings.TrimSpace(string(data))
		if alias == "" {
			return
		}
		rel, err := filepath.Rel(realRoot, real)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = real
		}
		sub := ""
		if link, err := filepath.EvalSymlinks(filepath.Join(real, "subsystem")); err == nil {
			sub = filepath.Base(link)
		} else if i := strings.IndexByte(alias, ':'); i > 0 {
			sub = alias[:i]
		}
		byPath[rel] = Device{Path: filepath.ToSlash(rel), Dir: real, Subsystem: sub, Modalias: alias}
	}
	busDevs, err := filepath.Glob(filepath.Join(root, "bus", "*", "devices", "*"))
	if err != nil {
		return nil, err
	}
	for _, d := range busDevs {
		add(d)
	}
	devices := filepath.Join(realRoot, "devices")
	err = filepath.WalkDir(devices, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if p == devices && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			return nil // unreadable corners of sysfs are not fatal
		}
		if !de.IsDir() && de.Name() == "modalias" {
			if _, known := byPath[filepath.ToSlash(mustRel(realRoot, filepath.Dir(p)))]; !known {
				add(filepath.Dir(p))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", devices, err)
	}
	out := make([]Device, 0, len(byPath))
	for _, d := range byPath {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func mustRel(root, p string) string {
	rel, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return rel
}

// PCIID is what a PCI modalias encodes (drivers/pci/pci-driver.c,
// pci_uevent: "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X").
type PCIID struct {
	Vendor, Device, SubVendor, SubDevice uint16
	// Class is base class, subclass and programming interface (0x010700).
	Class uint32
}

// PCI decodes the device's modalias if it is a PCI one, so a Decider keyed
// on PCI IDs (hwdb) needs no further sysfs reads.
func (d Device) PCI() (PCIID, bool) {
	var id PCIID
	var v, dev, sv, sd uint32
	var bc, sc, pi uint8
	n, err := fmt.Sscanf(d.Modalias, "pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X", &v, &dev, &sv, &sd, &bc, &sc, &pi)
	if err != nil || n != 7 {
		return id, false
	}
	id = PCIID{Vendor: uint16(v), Device: uint16(dev), SubVendor: uint16(sv), SubDevice: uint16(sd), Class: uint32(bc)<<16 | uint32(sc)<<8 | uint32(pi)}
	return id, true
}
