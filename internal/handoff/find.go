package handoff

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Layout is the installed system as mounted for the handoff.
type Layout struct {
	// Root is where the installed root filesystem is mounted.
	Root string
	// Boot is where its /boot partition is mounted when /boot is a
	// partition of its own (Fedora's default, or an XBOOTLDR); empty when
	// /boot is a directory on Root.
	Boot string
}

// Target is what the handoff boots.
type Target struct {
	// Kernel and Initrd are paths on this machine, under Layout's
	// directories; several initrds load in order.
	Kernel  string   `json:"kernel"`
	Initrd  []string `json:"initrd,omitempty"`
	Cmdline string   `json:"cmdline"`
	// Source says where the entry came from, for the report:
	// "bls:/loader/entries/x.conf", "grub:/boot/grub/grub.cfg entry 'T'",
	// "links:/vmlinuz", "newest:/boot/vmlinuz-V", "plan".
	Source string `json:"source"`
}

// sysPath is a path as the installed system sees it ("/boot/vmlinuz"),
// mapped onto Layout's directories.
type system struct {
	root, boot string
}

// hostPath maps an absolute, clean, symlink-free system path to this
// machine.
func (s system) hostPath(p string) string {
	if s.boot != "" && (p == "/boot" || strings.HasPrefix(p, "/boot/")) {
		return filepath.Join(s.boot, strings.TrimPrefix(p, "/boot"))
	}
	return filepath.Join(s.root, p)
}

// resolve follows symlinks in p inside the installed system (an absolute
// link target means the installed system's root, never this machine's) and
// returns the final system path.
func (s system) resolve(p string) (string, error) {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	todo := strings.Split(path.Clean(p), "/")[1:]
	cur := "/"
	hops := 0
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		fi, err := os.Lstat(s.hostPath(next))
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		hops++
		if hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(s.hostPath(next))
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		todo = append(strings.Split(target, "/"), todo...)
	}
	return cur, nil
}

// file resolves p to a regular file on this machine.
func (s system) file(p string) (string, error) {
	sp, err := s.resolve(p)
	if err != nil {
		return "", err
	}
	h := s.hostPath(sp)
	fi, err := os.Stat(h)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", p)
	}
	return h, nil
}

// partFile finds a path written in a boot entry. onBoot says the entry sits
// on the /boot filesystem (paths relative to it); the other reading is
// tried second, since installers disagree on which one they write.
func (s system) partFile(p string, onBoot bool) (string, error) {
	if !path.IsAbs(p) {
		p = "/" + p
	}
	cands := []string{p, path.Join("/boot", p)}
	if onBoot {
		cands[0], cands[1] = cands[1], cands[0]
	}
	var first error
	for _, c := range cands {
		h, err := s.file(c)
		if err == nil {
			return h, nil
		}
		if first == nil {
			first = err
		}
	}
	return "", fmt.Errorf("%s (looked for %s and %s): %w", p, cands[0], cands[1], first)
}

// Find locates the installed system's default kernel, initrd and command
// line, in the order the package comment gives.
func Find(l Layout, log *slog.Logger) (Target, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := system{root: l.Root, boot: l.Boot}
	for _, f := range []struct {
		name string
		fn   func(system, *slog.Logger) (Target, bool, error)
	}{
		{"bls", findBLS},
		{"grub", findGrub},
		{"links", findLinks},
		{"newest", findNewest},
	} {
		t, ok, err := f.fn(s, log)
		if err != nil {
			return Target{}, err
		}
		if ok {
			if t.Cmdline == "" && (f.name == "links" || f.name == "newest") {
				// No boot entry, so no command line: make the one GRUB's
				// 10_linux would.
				t.Cmdline = s.defaultCmdline()
			}
			return t, nil
		}
	}
	return Target{}, fmt.Errorf("no kernel found under %s (tried BLS entries, grub.cfg, /boot/vmlinuz and /vmlinuz links, /boot/vmlinuz-*)", describeLayout(l))
}

func describeLayout(l Layout) string {
	if l.Boot != "" {
		return fmt.Sprintf("root %s and boot %s", l.Root, l.Boot)
	}
	return "root " + l.Root
}

// readSys reads a system path, following links inside the system.
func (s system) read(p string) ([]byte, string, error) {
	h, err := s.file(p)
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(h)
	return b, h, err
}

// grubenv returns the first GRUB environment block found, or nil.
func (s system) grubenv(log *slog.Logger) map[string]string {
	for _, p := range []string{"/boot/grub2/grubenv", "/boot/grub/grubenv"} {
		b, _, err := s.read(p)
		if err != nil {
			continue
		}
		env, err := parseGrubenv(b)
		if err != nil {
			log.Warn("ignoring grubenv", "path", p, "err", err)
			continue
		}
		return env
	}
	return nil
}

// findBLS reads the Boot Loader Specification entries.
func findBLS(s system, log *slog.Logger) (Target, bool, error) {
	dirs := []string{"/boot/loader/entries"}
	if s.boot == "" {
		dirs = append(dirs, "/loader/entries")
	}
	var entries []blsEntry
	seen := map[string]bool{}
	for _, d := range dirs {
		sd, err := s.resolve(d)
		if err != nil {
			continue
		}
		list, err := os.ReadDir(s.hostPath(sd))
		if err != nil {
			continue
		}
		for _, de := range list {
			name := de.Name()
			if !strings.HasSuffix(name, ".conf") || de.IsDir() {
				continue
			}
			b, _, err := s.read(path.Join(sd, name))
			if err != nil {
				log.Warn("skipping boot entry", "file", path.Join(d, name), "err", err)
				continue
			}
			e, err := parseBLSEntry(name, b)
			if err != nil {
				log.Warn("skipping boot entry", "file", path.Join(d, name), "err", err)
				continue
			}
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			e.File = path.Join(d, name)
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return Target{}, false, nil
	}
	sortBLS(entries)
	env := s.grubenv(log)
	// GRUB's blscfg expands $kernelopts and friends with the variables
	// grub.cfg has set by then: grubenv's, or grub.cfg's own fallback
	// ("if [ -z "${kernelopts}" ]; then set kernelopts=…", Fedora).
	vars := env
	if v := s.grubVars(env, log); v != nil {
		vars = v
	}

	chosen, why := entries[0], "first in Boot Loader Specification order"
	found := false
	// GRUB with blscfg (Fedora, RHEL) boots next_entry once, else saved_entry.
	for _, k := range []string{"next_entry", "saved_entry"} {
		if v := env[k]; v != "" && !found {
			if e, ok := matchDefault(entries, v); ok {
				chosen, why, found = e, "grubenv "+k, true
			} else {
				log.Warn("grubenv names no boot entry", "var", k, "value", v)
			}
		}
	}
	if !found {
		for _, p := range []string{"/boot/loader/loader.conf", "/loader/loader.conf"} {
			b, _, err := s.read(p)
			if err != nil {
				continue
			}
			if g := loaderDefault(b); g != "" {
				if e, ok := matchDefault(entries, g); ok {
					chosen, why = e, p+" default"
				}
			}
			break
		}
	}
	onBoot := strings.HasPrefix(chosen.File, "/boot/")
	src := chosen.File
	if s.boot != "" && onBoot {
		// Name the file on its own partition, as the specification does.
		src = strings.TrimPrefix(src, "/boot")
	}
	t := Target{Source: fmt.Sprintf("bls:%s (%s)", src, why)}
	var err error
	if t.Kernel, err = s.partFile(chosen.Linux, onBoot); err != nil {
		return Target{}, false, fmt.Errorf("boot entry %s: linux %w", chosen.File, err)
	}
	for _, i := range chosen.Initrd {
		h, err := s.partFile(i, onBoot)
		if err != nil {
			return Target{}, false, fmt.Errorf("boot entry %s: initrd %w", chosen.File, err)
		}
		t.Initrd = append(t.Initrd, h)
	}
	if strings.Contains(chosen.Options, "$") && vars == nil {
		log.Warn("boot entry options use variables but no grubenv or grub.cfg sets them", "file", chosen.File, "options", chosen.Options)
	}
	t.Cmdline = expandBLSVars(chosen.Options, vars)
	return t, true, nil
}

// grubVars runs the top level of grub.cfg, when there is one, and returns
// the variables it ends with; nil when there is none or it does not run.
func (s system) grubVars(env map[string]string, log *slog.Logger) map[string]string {
	for _, cfg := range []string{"/boot/grub2/grub.cfg", "/boot/grub/grub.cfg"} {
		b, _, err := s.read(cfg)
		if err != nil {
			continue
		}
		script, err := parseGrub(string(b))
		if err != nil {
			log.Warn("cannot read grub.cfg for the entries' variables", "path", cfg, "err", err)
			return nil
		}
		prefix := path.Dir(cfg)
		if s.boot != "" {
			prefix = strings.TrimPrefix(prefix, "/boot")
		}
		menu, _, err := evalGrub(script, env, prefix, func(p string) bool {
			_, err := s.partFile(p, s.boot != "")
			return err == nil
		})
		if err != nil {
			log.Warn("cannot run grub.cfg for the entries' variables", "path", cfg, "err", err)
			return nil
		}
		return menu.vars
	}
	return nil
}

// findGrub runs grub.cfg to its default entry.
func findGrub(s system, log *slog.Logger) (Target, bool, error) {
	for _, cfg := range []string{"/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"} {
		b, _, err := s.read(cfg)
		if err != nil {
			continue
		}
		dir := path.Dir(cfg)
		// GRUB's $prefix is the grub directory on the partition holding it.
		prefix := dir
		if s.boot != "" {
			prefix = strings.TrimPrefix(dir, "/boot")
		}
		var env map[string]string
		if eb, _, err := s.read(dir + "/grubenv"); err == nil {
			if env, err = parseGrubenv(eb); err != nil {
				log.Warn("ignoring grubenv", "path", dir+"/grubenv", "err", err)
			}
		}
		script, err := parseGrub(string(b))
		if err != nil {
			return Target{}, false, fmt.Errorf("%s: %w", cfg, err)
		}
		onBoot := s.boot != ""
		exists := func(p string) bool {
			_, err := s.partFile(p, onBoot)
			if err != nil {
				_, err = s.resolve(p)
			}
			return err == nil
		}
		menu, ev, err := evalGrub(script, env, prefix, exists)
		if err != nil {
			return Target{}, false, fmt.Errorf("%s: %w", cfg, err)
		}
		dflt := menu.dflt
		if dflt == "saved" {
			dflt = env["saved_entry"]
		}
		e, note := pick(menu.entries, dflt)
		if e == nil {
			log.Info("grub.cfg has no menu entries", "path", cfg)
			return Target{}, false, nil
		}
		if note != "" {
			log.Warn("grub default", "path", cfg, "note", note)
		}
		bt, err := ev.boot(e)
		if err != nil {
			return Target{}, false, fmt.Errorf("%s: entry %q (line %d): %w", cfg, e.title, e.line, err)
		}
		name := entryPath(menu.entries, e)
		if bt.kernel == "" {
			// A chainloader, fwsetup or memtest default, or a blscfg
			// menu whose entries are gone: not a kernel to kexec.
			log.Warn("grub.cfg default entry loads no linux kernel; trying the kernel links", "path", cfg, "entry", name, "line", e.line)
			return Target{}, false, nil
		}
		t := Target{Source: fmt.Sprintf("grub:%s entry '%s'", cfg, name)}
		if t.Kernel, err = s.partFile(bt.kernel, onBoot); err != nil {
			return Target{}, false, fmt.Errorf("%s: entry %q: linux %w", cfg, name, err)
		}
		for _, i := range bt.initrds {
			h, err := s.partFile(i, onBoot)
			if err != nil {
				return Target{}, false, fmt.Errorf("%s: entry %q: initrd %w", cfg, name, err)
			}
			t.Initrd = append(t.Initrd, h)
		}
		// GRUB's linux loader puts BOOT_IMAGE= first (grub-core/loader/linux.c).
		args := append([]string{"BOOT_IMAGE=" + bt.kernel}, bt.args...)
		t.Cmdline = strings.Join(args, " ")
		return t, true, nil
	}
	return Target{}, false, nil
}

// entryPath names an entry with its submenus, "Advanced options…>Title".
func entryPath(list []*grubEntry, want *grubEntry) string {
	for _, e := range list {
		if e == want {
			return e.title
		}
		if p := entryPath(e.children, want); p != "" {
			return e.title + ">" + p
		}
	}
	return ""
}

// findLinks uses the vmlinuz/initrd.img links Debian and Ubuntu keep
// (linux-base's linux-update-symlinks: in / by default, in /boot when
// link_in_boot is set in /etc/kernel-img.conf).
func findLinks(s system, _ *slog.Logger) (Target, bool, error) {
	for _, dir := range []string{"/boot", "/"} {
		k, err := s.file(path.Join(dir, "vmlinuz"))
		if err != nil {
			continue
		}
		t := Target{Kernel: k, Source: "links:" + path.Join(dir, "vmlinuz")}
		if i, err := s.file(path.Join(dir, "initrd.img")); err == nil {
			t.Initrd = []string{i}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Target{}, false, fmt.Errorf("%s: %w", path.Join(dir, "initrd.img"), err)
		}
		return t, true, nil
	}
	return Target{}, false, nil
}

// initrdNames are the initrd names distributions give kernel VERSION.
var initrdNames = []string{"initrd.img-%s", "initramfs-%s.img", "initrd-%s", "initrd-%s.img"}

// initrdFor finds the initrd installed with a versioned kernel: for
// /boot/vmlinuz-V (after links), /boot/initrd.img-V and the other names.
func (s system) initrdFor(kernel string) (string, bool) {
	sp, err := s.resolve(kernel)
	if err != nil {
		return "", false
	}
	v, ok := strings.CutPrefix(path.Base(sp), "vmlinuz-")
	if !ok || v == "" {
		return "", false
	}
	for _, n := range initrdNames {
		if i, err := s.file(path.Join(path.Dir(sp), fmt.Sprintf(n, v))); err == nil {
			return i, true
		}
	}
	return "", false
}

// findNewest takes the highest-versioned /boot/vmlinuz-VERSION that has an
// initrd next to it.
func findNewest(s system, _ *slog.Logger) (Target, bool, error) {
	sd, err := s.resolve("/boot")
	if err != nil {
		return Target{}, false, nil
	}
	list, err := os.ReadDir(s.hostPath(sd))
	if err != nil {
		return Target{}, false, nil
	}
	var versions []string
	for _, de := range list {
		if v, ok := strings.CutPrefix(de.Name(), "vmlinuz-"); ok && v != "" {
			versions = append(versions, v)
		}
	}
	slices.SortFunc(versions, func(a, b string) int { return -compareVersions(a, b) })
	for _, v := range versions {
		kp := path.Join(sd, "vmlinuz-"+v)
		k, err := s.file(kp)
		if err != nil {
			continue
		}
		if i, ok := s.initrdFor(kp); ok {
			return Target{Kernel: k, Initrd: []string{i}, Source: "newest:/boot/vmlinuz-" + v}, true, nil
		}
	}
	return Target{}, false, nil
}
