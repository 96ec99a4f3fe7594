package modules

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
)

// Cause classifies why the kernel refused a module.
type Cause string

// Causes the loader diagnoses (kernel/module/main.c and
// kernel/module/signing.c of 6.1 for the messages they rely on).
const (
	CauseUnknownSymbol Cause = "unknown symbol"          // a dependency is missing or was not loaded
	CauseSymbolVersion Cause = "symbol version mismatch" // modversions CRC differs: built for another kernel
	CauseVermagic      Cause = "vermagic mismatch"       // built for another kernel release or config
	CauseInvalid       Cause = "invalid module"          // ENOEXEC without a vermagic difference
	CauseSignature     Cause = "signature rejected"      // module.sig_enforce and an unsigned/unknown-key module
	CauseLockdown      Cause = "lockdown"                // kernel lockdown refuses unsigned modules
	CauseFirmware      Cause = "missing firmware"        // the driver asked for a firmware file that is absent
	CauseRead          Cause = "cannot read module"      // file missing, unreadable or badly compressed
	CauseInit          Cause = "init failed"             // the module's init function returned an error
)

// LoadError is a diagnosed refusal to load a module.
type LoadError struct {
	Module string
	Cause  Cause
	// Detail names what is wrong: the symbols, both vermagics, the
	// firmware file, the kernel's own message.
	Detail string
	// Err is the errno (or read error) underneath.
	Err error
}

func (e *LoadError) Error() string {
	s := fmt.Sprintf("load module %s: %s", e.Module, e.Cause)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *LoadError) Unwrap() error { return e.Err }

// Outcome of loading one module.
type Outcome string

// Outcomes that count as success.
const (
	Loaded        Outcome = "loaded"
	AlreadyLoaded Outcome = "already loaded"
	Builtin       Outcome = "builtin"
)

// Loader inserts modules into the running kernel. The syscalls, the kernel
// log and uname are func fields so tests run without root; NewLoader (on
// Linux) fills them with the real ones.
type Loader struct {
	Index *Index
	// ProcRoot is where /proc is mounted ("/proc"); /proc/modules tells what
	// is loaded.
	ProcRoot string
	// FirmwareDir is where the kernel looks for firmware ("/lib/firmware"),
	// used only to name missing files in diagnoses; "" skips the check.
	FirmwareDir string
	// FinitModule is finit_module(2): load from an open file descriptor.
	FinitModule func(fd int, params string, flags int) error
	// InitModule is init_module(2): load from an image in memory, used for
	// modules this process decompressed.
	InitModule func(image []byte, params string) error
	// DeleteModule is delete_module(2) with O_NONBLOCK: unload a module
	// nothing uses (needle bisect swaps a driver this way).
	DeleteModule func(name string) error
	// Kmsg returns the kernel log messages logged since its previous call
	// (the text after the "level,seq,time,flags;" record prefix).
	Kmsg func() ([]string, error)
	// Release returns the running kernel's release, as uname -r prints it.
	Release func() (string, error)
	Log     *slog.Logger

	loaded map[string]bool
	closer io.Closer
}

// Close releases what NewLoader opened.
func (l *Loader) Close() error {
	if l.closer != nil {
		return l.closer.Close()
	}
	return nil
}

// IsLoaded reports whether a module is in /proc/modules (read once, then
// kept up to date by the loader itself).
func (l *Loader) IsLoaded(name string) (bool, error) {
	if l.loaded == nil {
		mods, err := ReadProcModules(l.ProcRoot)
		if err != nil {
			return false, err
		}
		l.loaded = mods
	}
	return l.loaded[Normalize(name)], nil
}

// ReadProcModules returns the modules listed in procRoot/modules, with the
// ones still loading ("Loading") counted as loaded: their init is running.
func ReadProcModules(procRoot string) (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, "modules"))
	if err != nil {
		return nil, fmt.Errorf("read loaded modules: %w", err)
	}
	mods := map[string]bool{}
	for l := range strings.Lines(string(data)) {
		f := strings.Fields(l)
		if len(f) >= 5 && f[4] != "Unloading" {
			mods[f[0]] = true
		}
	}
	return mods, nil
}

// Load inserts one module with its parameters. Already loaded and builtin
// modules are successes without a syscall; EEXIST from the kernel (a
// concurrent load) is one too. A refusal comes back as *LoadError.
func (l *Loader) Load(ctx context.Context, m *Module, params string) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if m.Builtin {
		return Builtin, nil
	}
	if ok, err := l.IsLoaded(m.Name); err != nil {
		return "", err
	} else if ok {
		return AlreadyLoaded, nil
	}
	if l.Kmsg != nil {
		l.Kmsg() // drain: what follows is about this load
	}
	return l.insert(m, filepath.Join(l.Index.Root, m.Path), params)
}

// LoadFile inserts the module file at path (outside the index: a bisection
// candidate) as module name, with its parameters. What it needs must be
// loaded already; a refusal comes back as *LoadError.
func (l *Loader) LoadFile(ctx context.Context, name, path, params string) (Outcome, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if ok, err := l.IsLoaded(name); err != nil {
		return "", err
	} else if ok {
		return "", fmt.Errorf("load %s from %s: %s is loaded already: unload it first", name, path, name)
	}
	_, c, ok := splitModulePath(path)
	if !ok {
		return "", &LoadError{Module: name, Cause: CauseRead, Detail: path, Err: errors.New("not a kernel module file name (.ko, .ko.xz, .ko.zst, .ko.gz)")}
	}
	if l.Kmsg != nil {
		l.Kmsg()
	}
	return l.insert(&Module{Name: Normalize(name), Compression: c}, path, params)
}

// Unload removes module name from the kernel. It fails (EBUSY, EWOULDBLOCK)
// while anything uses it; not loaded is success.
func (l *Loader) Unload(name string) error {
	name = Normalize(name)
	if ok, err := l.IsLoaded(name); err != nil {
		return err
	} else if !ok {
		return nil
	}
	if l.DeleteModule == nil {
		return fmt.Errorf("unload %s: no delete_module on this loader", name)
	}
	if err := l.DeleteModule(name); err != nil {
		return fmt.Errorf("unload %s: %w", name, err)
	}
	l.loaded[name] = false
	return nil
}

// insert runs the syscall for m's file at path and diagnoses a refusal.
func (l *Loader) insert(m *Module, path, params string) (Outcome, error) {
	var err error
	if m.Compression == None {
		f, oerr := os.Open(path)
		if oerr != nil {
			return "", &LoadError{Module: m.Name, Cause: CauseRead, Detail: path, Err: oerr}
		}
		err = l.FinitModule(int(f.Fd()), params, 0)
		f.Close()
	} else {
		img, rerr := ReadImage(path)
		if rerr != nil {
			return "", &LoadError{Module: m.Name, Cause: CauseRead, Detail: path, Err: rerr}
		}
		err = l.InitModule(img, params)
	}
	if err == nil || errors.Is(err, syscall.EEXIST) {
		l.loaded[m.Name] = true
		if err != nil {
			return AlreadyLoaded, nil
		}
		return Loaded, nil
	}
	var kmsg []string
	if l.Kmsg != nil {
		kmsg, _ = l.Kmsg()
	}
	release := ""
	if l.Release != nil {
		release, _ = l.Release()
	}
	return "", l.diagnose(m, path, err, kmsg, release)
}

// LoadPlan loads a plan's steps in order. A failing softdep is reported but
// does not stop the plan (modprobe goes on too); any other failure stops
// it, since what follows needs it.
func (l *Loader) LoadPlan(ctx context.Context, p Plan) ([]Outcome, error) {
	var outs []Outcome
	var softErrs []error
	for _, s := range p.Steps {
		o, err := l.Load(ctx, s.Module, s.Params)
		if err != nil {
			if strings.HasPrefix(s.Why, "softdep") {
				softErrs = append(softErrs, err)
				outs = append(outs, "")
				continue
			}
			return outs, errors.Join(append([]error{err}, softErrs...)...)
		}
		outs = append(outs, o)
	}
	if len(softErrs) > 0 && l.Log != nil {
		for _, e := range softErrs {
			l.Log.Warn("softdep failed", "err", e)
		}
	}
	return outs, nil
}

var (
	// "%s: Unknown symbol %s (err %d)" in kernel/module/main.c.
	reUnknown = regexp.MustCompile(`^(\S+): Unknown symbol (\S+) \(err (-?\d+)\)`)
	// "%s: disagrees about version of symbol %s".
	reDisagree = regexp.MustCompile(`^(\S+): disagrees about version of symbol (\S+)`)
	// "%s: version magic '%s' should be '%s'".
	reVermagic = regexp.MustCompile(`^(\S+): version magic '([^']*)' should be '([^']*)'`)
	// "%s %s: Direct firmware load for %s failed with error %d"
	// (drivers/base/firmware_loader/main.c), prefixed by driver and device.
	reFirmware = regexp.MustCompile(`^(\S+)(?: \S+)?: Direct firmware load for (\S+) failed with error (-?\d+)`)
)

// diagnose turns an errno and the kernel's messages into a LoadError.
func (l *Loader) diagnose(m *Module, path string, errno error, kmsg []string, release string) *LoadError {
	e := &LoadError{Module: m.Name, Err: errno}
	mine := func(prefix string) bool { return Normalize(prefix) == m.Name }
	var unknown, disagree, firmware []string
	var vmGot, vmWant string
	var lockdown, rejected string
	for _, line := range kmsg {
		if g := reUnknown.FindStringSubmatch(line); g != nil && mine(g[1]) {
			unknown = appendUnique(unknown, g[2])
		}
		if g := reDisagree.FindStringSubmatch(line); g != nil && mine(g[1]) {
			disagree = appendUnique(disagree, g[2])
		}
		if g := reVermagic.FindStringSubmatch(line); g != nil && mine(g[1]) {
			vmGot, vmWant = g[2], g[3]
		}
		if g := reFirmware.FindStringSubmatch(line); g != nil && (mine(g[1]) || slices.Contains(l.moduleInfo(m, path).Firmware, g[2])) {
			firmware = appendUnique(firmware, g[2])
		}
		if strings.Contains(line, "Lockdown:") && strings.Contains(line, "module") {
			lockdown = line
		}
		if strings.HasPrefix(line, "Loading of ") && strings.Contains(line, "is rejected") {
			rejected = line
		}
	}
	switch {
	case len(unknown) > 0:
		e.Cause, e.Detail = CauseUnknownSymbol, strings.Join(unknown, ", ")
	case len(disagree) > 0:
		e.Cause, e.Detail = CauseSymbolVersion, strings.Join(disagree, ", ")
	case errors.Is(errno, syscall.ENOEXEC):
		if vmGot == "" {
			vmGot = l.moduleInfo(m, path).Vermagic
		}
		e.Cause = CauseInvalid
		if f := strings.Fields(vmGot); vmWant != "" || (len(f) > 0 && release != "" && f[0] != release) {
			e.Cause = CauseVermagic
		}
		e.Detail = fmt.Sprintf("module vermagic %q, running kernel %q", vmGot, release)
		if vmWant != "" {
			e.Detail += fmt.Sprintf(" (kernel wants %q)", vmWant)
		}
	case errors.Is(errno, syscall.EKEYREJECTED):
		e.Cause, e.Detail = CauseSignature, rejected
		if e.Detail == "" {
			e.Detail = "module.sig_enforce refuses an unsigned module or one signed with an unknown key"
		}
	case errors.Is(errno, syscall.EPERM):
		e.Cause, e.Detail = CauseLockdown, lockdown
		if lockdown == "" {
			e.Detail = "refused: kernel lockdown, module signature policy, modules_disabled or missing CAP_SYS_MODULE"
		}
	case len(firmware) > 0:
		e.Cause, e.Detail = CauseFirmware, strings.Join(firmware, ", ")
	case errors.Is(errno, syscall.ENOENT) && l.Index.dependencyMissing(m, l.loaded) != "":
		// finit_module returns ENOENT for unresolved symbols; without
		// the log, name the dependency that is not loaded.
		e.Cause, e.Detail = CauseUnknownSymbol, "dependency not loaded: "+l.Index.dependencyMissing(m, l.loaded)
	default:
		e.Cause = CauseInit
		if missing := l.missingFirmware(m, path); len(missing) > 0 {
			e.Cause, e.Detail = CauseFirmware, strings.Join(missing, ", ")+" (declared by the module, absent from "+l.FirmwareDir+")"
		} else if len(kmsg) > 0 {
			e.Detail = lastMention(kmsg, m.Name)
		}
	}
	return e
}

// dependencyMissing names a dependency of m that is not loaded.
func (ix *Index) dependencyMissing(m *Module, loaded map[string]bool) string {
	for _, d := range m.Deps {
		if !loaded[d] {
			return d
		}
	}
	return ""
}

// missingFirmware lists the module's declared firmware files absent from
// FirmwareDir.
func (l *Loader) missingFirmware(m *Module, path string) []string {
	if l.FirmwareDir == "" {
		return nil
	}
	var out []string
	for _, fw := range l.moduleInfo(m, path).Firmware {
		if _, err := os.Stat(filepath.Join(l.FirmwareDir, fw)); err != nil {
			out = append(out, fw)
		}
	}
	return out
}

// moduleInfo returns the module's modinfo, read from its file when the
// index came from the text files and so lacks it.
func (l *Loader) moduleInfo(m *Module, path string) Info {
	if m.Info.Vermagic != "" {
		return m.Info
	}
	img, err := ReadImage(path)
	if err != nil {
		return m.Info
	}
	f, err := elf.NewFile(bytes.NewReader(img))
	if err != nil {
		return m.Info
	}
	if s := f.Section(".modinfo"); s != nil {
		if data, err := s.Data(); err == nil {
			m.Info = mergeInfo(m.Info, ParseModinfo(data))
		}
	}
	return m.Info
}

// mergeInfo fills a text-loaded Info (aliases and softdeps only) from the
// file's own .modinfo.
func mergeInfo(have, file Info) Info {
	file.Alias, file.Softdep = have.Alias, have.Softdep
	return file
}

// lastMention returns the last kernel message that names the module.
func lastMention(kmsg []string, name string) string {
	for _, line := range slices.Backward(kmsg) {
		if strings.Contains(Normalize(line), name) {
			return line
		}
	}
	return ""
}

func appendUnique(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// ParseKmsg extracts the messages from /dev/kmsg records
// ("6,1234,5678,-;text"), dropping continuation lines (" KEY=value").
func ParseKmsg(data []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, " ") {
			continue
		}
		if _, msg, ok := strings.Cut(line, ";"); ok {
			out = append(out, msg)
		}
	}
	return out
}
