package handoff

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// grubEntry is a menu entry or submenu as the GRUB menu holds it.
type grubEntry struct {
	title    string
	id       string // --id / $menuentry_id_option argument
	line     int
	submenu  bool
	body     []stmt
	children []*grubEntry // submenu entries
	env      *grubEnv     // the context it was defined in; it runs in a child of it
}

// grubBoot is what running a menu entry's body loaded.
type grubBoot struct {
	kernel  string   // path as written, without a (device) prefix
	args    []string // kernel arguments after the path
	initrds []string
	search  string // the last search --set=root argument, for the report
}

// grubEnv is one GRUB variable context.
type grubEnv struct {
	vars     map[string]string
	exported map[string]bool
}

func newGrubEnv() *grubEnv {
	return &grubEnv{vars: map[string]string{}, exported: map[string]bool{}}
}

// child returns the context a menu entry or submenu runs in: GRUB opens a
// new context that keeps only the exported variables (grub-core/kern/env.c
// grub_env_context_open), which is why grub-mkconfig output exports
// linux_gfx_mode and menuentry_id_option.
func (e *grubEnv) child() *grubEnv {
	c := newGrubEnv()
	for k := range e.exported {
		c.vars[k] = e.vars[k]
		c.exported[k] = true
	}
	return c
}

// grubInterp runs the top level of a grub.cfg far enough to know the menu
// and the default entry, and runs one entry's body to learn what it boots.
type grubInterp struct {
	funcs map[string]*funcStmt
	// exists answers [ -e|-f|-s|-d PATH ] for a path on the partition the
	// config sits on.
	exists func(path string) bool
	env    map[string]string // grubenv, loaded by load_env
	steps  int
	depth  int
}

// Bounds against hostile or looping configs.
const (
	maxSteps = 100000
	maxDepth = 64
)

var errTooComplex = errors.New("grub.cfg too complex to evaluate (step or recursion limit)")

// grubMenu is the result of running a grub.cfg's top level.
type grubMenu struct {
	entries []*grubEntry
	dflt    string // the value of "default" at the end
	vars    map[string]string
}

// evalGrub runs the top level of a parsed grub.cfg. env is the grubenv
// next to it; prefix is the directory grub.cfg is in, as GRUB's $prefix.
// The interpreter is returned to run the chosen entry: functions are
// global in GRUB.
func evalGrub(script []stmt, env map[string]string, prefix string, exists func(string) bool) (*grubMenu, *grubInterp, error) {
	in := &grubInterp{funcs: map[string]*funcStmt{}, exists: exists, env: env}
	top := newGrubEnv()
	// GRUB sets and exports root and prefix before reading grub.cfg
	// (grub-core/kern/main.c).
	top.vars["prefix"] = prefix
	top.vars["config_directory"] = prefix
	top.exported["prefix"] = true
	top.exported["root"] = true
	top.vars["grub_platform"] = "efi"
	top.vars["grub_cpu"] = "x86_64"
	top.vars["feature_menuentry_id"] = "y"
	top.vars["feature_platform_search_hint"] = "y"
	top.vars["feature_default_font_path"] = "y"
	top.vars["feature_all_video_module"] = "y"
	top.vars["feature_timeout_style"] = "y"
	var menu []*grubEntry
	if _, err := in.run(script, top, &menu, nil); err != nil {
		return nil, nil, err
	}
	return &grubMenu{entries: menu, dflt: top.vars["default"], vars: top.vars}, in, nil
}

// run executes statements; menu collects menuentry/submenu definitions,
// boot (when not nil) collects linux/initrd commands. It returns the
// status of the last command (0 = true), as GRUB's $? .
func (in *grubInterp) run(list []stmt, env *grubEnv, menu *[]*grubEntry, boot *grubBoot) (int, error) {
	in.depth++
	defer func() { in.depth-- }()
	if in.depth > maxDepth {
		return 1, errTooComplex
	}
	status := 0
	for _, s := range list {
		in.steps++
		if in.steps > maxSteps {
			return 1, errTooComplex
		}
		var err error
		switch s := s.(type) {
		case *cmdStmt:
			status, err = in.command(s, env, menu, boot)
			env.vars["?"] = strconv.Itoa(status)
		case *ifStmt:
			status, err = in.ifStmt(s, env, menu, boot)
		case *funcStmt:
			in.funcs[s.name] = s
			status = 0
		case *menuStmt:
			err = in.define(s, env, menu)
			status = 0
		case *loopStmt:
			status = 0
		}
		if err != nil {
			return status, err
		}
	}
	return status, nil
}

func (in *grubInterp) ifStmt(s *ifStmt, env *grubEnv, menu *[]*grubEntry, boot *grubBoot) (int, error) {
	for i, cond := range s.conds {
		st, err := in.run(cond, env, menu, boot)
		if err != nil {
			return st, err
		}
		if st == 0 {
			return in.run(s.bodies[i], env, menu, boot)
		}
	}
	return in.run(s.elseBody, env, menu, boot)
}

// expand turns words into arguments: unquoted expansions are split on
// blanks and vanish when empty; quoted ones stay one argument.
func expand(words []word, env *grubEnv) []string {
	var out []string
	for _, w := range words {
		var cur strings.Builder
		have := false
		for _, p := range w {
			switch {
			case !p.isVar:
				cur.WriteString(p.text)
				have = have || p.quoted || p.text != ""
			case p.quoted:
				cur.WriteString(env.get(p.text))
				have = true
			default:
				fields := strings.Fields(env.get(p.text))
				for i, f := range fields {
					if i > 0 {
						out = append(out, cur.String())
						cur.Reset()
					}
					cur.WriteString(f)
					have = true
				}
			}
		}
		if have {
			out = append(out, cur.String())
		}
	}
	return out
}

func (e *grubEnv) get(name string) string { return e.vars[name] }

func (e *grubEnv) set(name, value string) { e.vars[name] = value }

func (in *grubInterp) command(c *cmdStmt, env *grubEnv, menu *[]*grubEntry, boot *grubBoot) (int, error) {
	// "name=value" as a command sets a variable, as in a shell.
	if len(c.words) == 1 {
		if s, ok := c.words[0].literal(); ok {
			if k, v, ok := strings.Cut(s, "="); ok && validName(k) {
				env.set(k, v)
				return 0, nil
			}
		}
		if len(c.words[0]) > 0 && !c.words[0][0].isVar {
			if k, _, ok := strings.Cut(c.words[0][0].text, "="); ok && validName(k) {
				v := expand(c.words, env)
				if len(v) > 0 {
					env.set(k, strings.TrimPrefix(v[0], k+"="))
				}
				return 0, nil
			}
		}
	}
	args := expand(c.words, env)
	if len(args) == 0 {
		return 0, nil
	}
	name, args := args[0], args[1:]
	switch name {
	case "set":
		for _, a := range args {
			k, v, _ := strings.Cut(a, "=")
			if validName(k) {
				env.set(k, v)
			}
		}
		return 0, nil
	case "unset":
		for _, a := range args {
			delete(env.vars, a)
		}
		return 0, nil
	case "export":
		for _, a := range args {
			env.exported[a] = true
		}
		return 0, nil
	case "load_env":
		in.loadEnv(args, env)
		return 0, nil
	case "true":
		return 0, nil
	case "false":
		return 1, nil
	case "[", "test":
		if name == "[" {
			if len(args) == 0 || args[len(args)-1] != "]" {
				return 1, nil
			}
			args = args[:len(args)-1]
		}
		if in.test(args) {
			return 0, nil
		}
		return 1, nil
	case "search", "search.fs_uuid", "search.fs_label", "search.file":
		in.search(name, args, env, boot)
		return 0, nil
	case "linux", "linux16", "linuxefi":
		if boot != nil && len(args) > 0 {
			boot.kernel = stripDevice(args[0])
			boot.args = args[1:]
		}
		return 0, nil
	case "initrd", "initrd16", "initrdefi":
		if boot != nil {
			boot.initrds = boot.initrds[:0]
			for _, a := range args {
				boot.initrds = append(boot.initrds, stripDevice(a))
			}
		}
		return 0, nil
	}
	if f, ok := in.funcs[name]; ok {
		// Positional parameters $1… are visible inside the function.
		saved := map[string]*string{}
		for i := 0; i <= len(args) && i < 10; i++ {
			k := strconv.Itoa(i + 1)
			if v, ok := env.vars[k]; ok {
				saved[k] = &v
			} else {
				saved[k] = nil
			}
			if i < len(args) {
				env.vars[k] = args[i]
			} else {
				delete(env.vars, k)
			}
		}
		st, err := in.run(f.body, env, menu, boot)
		for k, v := range saved {
			if v == nil {
				delete(env.vars, k)
			} else {
				env.vars[k] = *v
			}
		}
		return st, err
	}
	// Anything else (insmod, echo, load_video, font and terminal setup,
	// hwmatch, background_color, …) cannot be judged here: it succeeds for
	// commands that set nothing we read, fails for probes.
	switch name {
	case "hwmatch", "background_image", "background_color", "loadfont", "keystatus", "cpuid":
		return 1, nil
	}
	return 0, nil
}

func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isLetter(k[i]) && !isDigit(k[i]) && k[i] != '_' {
			return false
		}
	}
	return true
}

// loadEnv sets variables from the grubenv file: all of them, or only the
// names given after the file (load_env [-f FILE] [--skip-sig] [NAME…]).
func (in *grubInterp) loadEnv(args []string, env *grubEnv) {
	var names []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-f" || args[i] == "--file":
			i++
		case strings.HasPrefix(args[i], "-"):
		default:
			names = append(names, args[i])
		}
	}
	for k, v := range in.env {
		if len(names) == 0 || contains(names, k) {
			env.set(k, v)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// search records where root would be found; the partition itself is
// chosen by Find from the directories it was given.
func (in *grubInterp) search(name string, args []string, env *grubEnv, boot *grubBoot) {
	target := "root"
	var key string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.HasPrefix(a, "--set="):
			target = strings.TrimPrefix(a, "--set=")
		case a == "--set" && i+1 < len(args):
			i++
			target = args[i]
		case a == "-s" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
			i++
			target = args[i]
		case strings.HasPrefix(a, "-"):
		default:
			key = a
		}
	}
	kind := strings.TrimPrefix(name, "search.")
	for _, a := range args {
		switch a {
		case "--fs-uuid", "-u":
			kind = "fs_uuid"
		case "--label", "-l":
			kind = "fs_label"
		case "--file", "-f":
			kind = "file"
		}
	}
	if kind == "search" {
		kind = "file"
	}
	env.set(target, kind+"="+key)
	if boot != nil && target == "root" {
		boot.search = kind + "=" + key
	}
}

// test evaluates the arguments of [ … ] for the forms grub-mkconfig writes.
func (in *grubInterp) test(args []string) bool {
	if len(args) > 0 && args[0] == "!" {
		return !in.test(args[1:])
	}
	// a -a b and a -o b, left to right as GRUB's test does for these.
	for i, a := range args {
		if a == "-o" {
			return in.test(args[:i]) || in.test(args[i+1:])
		}
	}
	for i, a := range args {
		if a == "-a" {
			return in.test(args[:i]) && in.test(args[i+1:])
		}
	}
	switch len(args) {
	case 0:
		return false
	case 1:
		return args[0] != ""
	case 2:
		switch args[0] {
		case "-n":
			return args[1] != ""
		case "-z":
			return args[1] == ""
		case "-e", "-f", "-s", "-d":
			return in.exists != nil && in.exists(stripDevice(args[1]))
		}
		return false
	case 3:
		a, op, b := args[0], args[1], args[2]
		switch op {
		case "=", "==":
			return a == b
		case "!=":
			return a != b
		case "-eq", "-ne", "-lt", "-le", "-gt", "-ge":
			x, err1 := strconv.ParseInt(a, 10, 64)
			y, err2 := strconv.ParseInt(b, 10, 64)
			if err1 != nil || err2 != nil {
				return false
			}
			switch op {
			case "-eq":
				return x == y
			case "-ne":
				return x != y
			case "-lt":
				return x < y
			case "-le":
				return x <= y
			case "-gt":
				return x > y
			}
			return x >= y
		}
	}
	return false
}

// stripDevice drops a leading GRUB device, "(hd0,gpt2)/vmlinuz" → "/vmlinuz".
func stripDevice(p string) string {
	if strings.HasPrefix(p, "(") {
		if i := strings.IndexByte(p, ')'); i >= 0 {
			p = p[i+1:]
		}
	}
	return p
}

// define records a menuentry or submenu. A submenu's body is run now, in a
// child context, to learn its entries (GRUB runs it when the submenu is
// opened, with the same result for generated configs).
func (in *grubInterp) define(s *menuStmt, env *grubEnv, menu *[]*grubEntry) error {
	args := expand(s.args, env)
	// The entry runs later, in a child of the context as it is then: GRUB
	// runs the whole script before it boots anything.
	e := &grubEntry{line: s.line, submenu: s.submenu, body: s.body, env: env}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--id" && i+1 < len(args):
			i++
			e.id = args[i]
		case strings.HasPrefix(a, "--id="):
			e.id = strings.TrimPrefix(a, "--id=")
		case a == "--class" || a == "--users" || a == "--hotkey":
			i++
		case strings.HasPrefix(a, "--"):
		case e.title == "":
			e.title = a
		}
	}
	if s.submenu {
		if _, err := in.run(s.body, env.child(), &e.children, nil); err != nil {
			return err
		}
	}
	*menu = append(*menu, e)
	return nil
}

// boot runs an entry's body and returns what it loads.
func (in *grubInterp) boot(e *grubEntry) (*grubBoot, error) {
	b := &grubBoot{}
	var discard []*grubEntry
	if _, err := in.run(e.body, e.env.child(), &discard, b); err != nil {
		return nil, err
	}
	return b, nil
}

// pick resolves GRUB's "default": an index, a title or an id, or a path of
// them separated by ">" through submenus (grub-core/normal/menu.c
// get_entry_number and the "a>b" form grub-reboot writes). It returns the
// entry and a note when it fell back to the first entry, as GRUB does when
// the default names nothing.
func pick(entries []*grubEntry, dflt string) (*grubEntry, string) {
	if len(entries) == 0 {
		return nil, ""
	}
	list := entries
	var e *grubEntry
	if strings.TrimSpace(dflt) == "" {
		dflt = "0"
	}
	for _, part := range strings.Split(dflt, ">") {
		e = nil
		if n, err := strconv.Atoi(part); err == nil {
			if n >= 0 && n < len(list) {
				e = list[n]
			}
		} else {
			for _, c := range list {
				if c.id == part || c.title == part {
					e = c
					break
				}
			}
		}
		if e == nil {
			return firstBootable(entries), fmt.Sprintf("default %q names no entry; GRUB boots the first", dflt)
		}
		list = e.children
	}
	if e.submenu {
		// A default naming a submenu opens it; the first entry inside is
		// the one a timeout would boot.
		if f := firstBootable(e.children); f != nil {
			return f, ""
		}
		return nil, fmt.Sprintf("default %q is an empty submenu", dflt)
	}
	return e, ""
}

func firstBootable(entries []*grubEntry) *grubEntry {
	if len(entries) == 0 {
		return nil
	}
	e := entries[0]
	if e.submenu {
		return firstBootable(e.children)
	}
	return e
}
