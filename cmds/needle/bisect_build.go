package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/needle-boot/needle/internal/bisect"
	"github.com/needle-boot/needle/internal/manifest"
	"github.com/needle-boot/needle/internal/toolrun"
	"github.com/needle-boot/needle/modules"
)

const bisectUsage = `usage:
  needle bisect build --recipe DIR --series DIR --probe 'COMMAND' --out OUT
                      [--kver KVER | --kernel-dir DIR] [--jobs N] [--tool FILE]...
                      [--probe-timeout 120s] [--force]
  needle bisect run [--debug] URL|DIR     (on the box: swap each candidate in, probe, search)
`

// runBisect dispatches `needle bisect SUBCOMMAND`: build (the build host's
// side, here) and run (the box's side).
func runBisect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, bisectUsage)
		return errors.New("bisect: missing subcommand (build or run)")
	}
	switch args[0] {
	case "build":
		return runBisectBuild(ctx, args[1:], stdout, stderr)
	case "run":
		return runBisectRun(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, bisectUsage)
		return nil
	}
	fmt.Fprint(stderr, bisectUsage)
	return fmt.Errorf("bisect: unknown subcommand %q", args[0])
}

// Exit statuses of modules/build.sh that say the candidate, not the build
// machine, is at fault (see its header).
const (
	builderPatchFailed = 3
	builderBuildFailed = 4
)

// bisectBuildConfig is what `needle bisect build` was asked.
type bisectBuildConfig struct {
	recipe, series, out string
	probe               string
	probeTimeout        time.Duration
	kver, kernelDir     string
	jobs                int
	tools               []string
	force               bool
	// cache keeps each candidate's module (or skip reason) by the digest
	// of what went into it, so a rerun with more patches, or another
	// series sharing a prefix, rebuilds only what changed.
	cache string
	// builder is modules/build.sh, or NEEDLE_BISECT_BUILDER (tests put a
	// fake there).
	builder string
}

func runBisectBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bisect build", stderr)
	var c bisectBuildConfig
	var tools multiFlag
	fs.StringVar(&c.recipe, "recipe", "", "the overlay recipe directory (recipe file + its own patches)")
	fs.StringVar(&c.series, "series", "", "the patch series to bisect (git format-patch output), applied in name order on top of the recipe")
	fs.StringVar(&c.probe, "probe", "", "the command the box runs after loading each candidate (sh -c): exit 0 is good")
	fs.DurationVar(&c.probeTimeout, "probe-timeout", 120*time.Second, "bound on each probe run")
	fs.StringVar(&c.out, "out", "", "the bisection set to write: OUT/bisect.json, OUT/NNNN/MODULE.ko, OUT/bin/")
	fs.StringVar(&c.kver, "kver", "", "the kernel release to build for (default: build.lock's kernel)")
	fs.StringVar(&c.kernelDir, "kernel-dir", "", "an unpacked kernel (DIR/lib/modules/KVER) whose release to build for")
	fs.IntVar(&c.jobs, "jobs", runtime.NumCPU(), "candidates built at the same time")
	fs.Var(&tools, "tool", "a program the probe needs, copied to OUT/bin/ (repeatable)")
	fs.BoolVar(&c.force, "force", false, "replace an existing bisection set in OUT")
	fs.StringVar(&c.cache, "cache", "", "keep built candidates in `DIR`, keyed by the digest of the kernel, the builder, the recipe and the patches applied, and reuse them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bisect build: unexpected argument %q", fs.Arg(0))
	}
	c.tools = tools
	var err error
	if c.builder, err = findBuilder(); err != nil {
		return fmt.Errorf("bisect build: %w", err)
	}
	if c.kver, err = resolveKver(c.kver, c.kernelDir, c.builder); err != nil {
		return fmt.Errorf("bisect build: %w", err)
	}
	return bisectBuild(ctx, c, stdout, stderr)
}

// findBuilder is modules/build.sh of the repository needle runs from (the
// working directory or the binary's out/bin/ up), or NEEDLE_BISECT_BUILDER.
func findBuilder() (string, error) {
	if b := os.Getenv("NEEDLE_BISECT_BUILDER"); b != "" {
		return filepath.Abs(b)
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, "modules", "build.sh")
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("no modules/build.sh above the working directory or the needle binary: run from the needle repository")
}

// resolveKver is the kernel the candidates are built for: --kver, the one
// release under --kernel-dir's lib/modules, or, as ./build.sh, the kernel
// build.lock pins (modules/build.sh builds only for that one).
func resolveKver(kver, kernelDir, builder string) (string, error) {
	switch {
	case kver != "" && kernelDir != "":
		return "", errors.New("--kver and --kernel-dir: give one")
	case kver != "":
		return kver, nil
	case kernelDir != "":
		ents, err := os.ReadDir(filepath.Join(kernelDir, "lib", "modules"))
		if err != nil {
			return "", fmt.Errorf("--kernel-dir: %w", err)
		}
		var rels []string
		for _, e := range ents {
			if e.IsDir() {
				rels = append(rels, e.Name())
			}
		}
		if len(rels) != 1 {
			return "", fmt.Errorf("--kernel-dir %s: want one release in lib/modules, found %d (%s)", kernelDir, len(rels), strings.Join(rels, ", "))
		}
		return rels[0], nil
	}
	lock := os.Getenv("NEEDLE_LOCK")
	if lock == "" {
		lock = filepath.Join(filepath.Dir(filepath.Dir(builder)), "build.lock")
	}
	data, err := os.ReadFile(lock)
	if err != nil {
		return "", fmt.Errorf("no --kver or --kernel-dir, and build.lock names none: %w", err)
	}
	entries, err := manifest.ParseLock(lock, data)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Role == "kernel" {
			return strings.TrimPrefix(e.Package, "linux-image-"), nil
		}
	}
	return "", fmt.Errorf("%s has no kernel entry: give --kver", lock)
}

// seriesPatch is one file of the series.
type seriesPatch struct {
	name, path, subject string
}

// readSeries lists DIR/*.patch in name (byte) order, as modules/build.sh
// applies them, with their subjects.
func readSeries(dir string) ([]seriesPatch, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--series: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("--series %s is not a directory", dir)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.patch"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("--series %s holds no *.patch (make them with git format-patch A..B -- DRIVER_DIR)", dir)
	}
	sort.Strings(paths)
	var ps []seriesPatch
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ps = append(ps, seriesPatch{name: filepath.Base(p), path: p, subject: patchSubject(data)})
	}
	return ps, nil
}

var patchTag = regexp.MustCompile(`^\[[^\]]*PATCH[^\]]*\]\s*`)

// patchSubject is the Subject: header of a git format-patch file (folded
// lines joined) without its "[PATCH n/m]" tag; "" when the file has no
// mail header (a bare diff). The header ends at the first blank line.
func patchSubject(data []byte) string {
	var subject []string
	in := false
	for line := range strings.SplitSeq(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "diff ") || strings.HasPrefix(line, "--- ") {
			break
		}
		if in && (line[0] == ' ' || line[0] == '\t') {
			subject = append(subject, strings.TrimSpace(line))
			continue
		}
		in = false
		if v, ok := strings.CutPrefix(line, "Subject:"); ok && len(subject) == 0 {
			subject = append(subject, strings.TrimSpace(v))
			in = true
		}
	}
	return strings.TrimSpace(patchTag.ReplaceAllString(strings.Join(subject, " "), ""))
}

// recipeModule reads MODULE= from DIR/recipe (shell syntax, as
// modules/build.sh sources it; only plain assignments are understood).
func recipeModule(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "recipe"))
	if err != nil {
		return "", fmt.Errorf("--recipe %s: %w", dir, err)
	}
	var module string
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "MODULE="); ok {
			module = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	if module == "" || strings.ContainsAny(module, "/ $`") {
		return "", fmt.Errorf("--recipe %s: recipe sets no plain MODULE=", dir)
	}
	return module, nil
}

// candidateJob is one build: the base (upto 0) or the series up to a patch.
type candidateJob struct {
	index int
	patch seriesPatch // zero for the base
}

// buildResult is what one build gave.
type buildResult struct {
	cand bisect.Candidate
	err  error // the build machine failed (not the candidate): stop
}

func bisectBuild(ctx context.Context, c bisectBuildConfig, stdout, stderr io.Writer) error {
	if c.out == "" {
		return errors.New("bisect build: --out is required")
	}
	if strings.TrimSpace(c.probe) == "" {
		return errors.New("bisect build: --probe is required: the command the box runs after loading each candidate")
	}
	if c.probeTimeout < time.Second {
		return fmt.Errorf("bisect build: --probe-timeout %s: want at least 1s", c.probeTimeout)
	}
	if c.jobs < 1 {
		return fmt.Errorf("bisect build: --jobs %d: want at least 1", c.jobs)
	}
	if st, err := os.Stat(c.recipe); err != nil || !st.IsDir() {
		return fmt.Errorf("bisect build: --recipe %q is not a directory", c.recipe)
	}
	module, err := recipeModule(c.recipe)
	if err != nil {
		return fmt.Errorf("bisect build: %w", err)
	}
	series, err := readSeries(c.series)
	if err != nil {
		return fmt.Errorf("bisect build: %w", err)
	}
	if err := prepareOut(c.out, c.force); err != nil {
		return fmt.Errorf("bisect build: %w", err)
	}
	recipeAbs, _ := filepath.Abs(c.recipe)
	seriesAbs, _ := filepath.Abs(c.series)
	outAbs, _ := filepath.Abs(c.out)

	m := bisect.Manifest{
		Module:       module,
		Recipe:       filepath.Clean(c.recipe),
		Kernel:       c.kver,
		Probe:        c.probe,
		ProbeTimeout: int((c.probeTimeout + time.Second - 1) / time.Second),
	}
	if m.Tools, err = copyTools(c.tools, outAbs); err != nil {
		return fmt.Errorf("bisect build: %w", err)
	}

	work, err := os.MkdirTemp("", "needle-bisect-build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	// The ends first: a base or a full series that does not build makes
	// the set useless, and the manifest refuses it, so the middle is not
	// built in vain.
	jobs := []candidateJob{{index: 0}}
	jobs = append(jobs, candidateJob{index: len(series), patch: series[len(series)-1]})
	for i := 1; i < len(series); i++ {
		jobs = append(jobs, candidateJob{index: i, patch: series[i-1]})
	}
	fmt.Fprintf(stderr, "bisect build: %s for %s: base + %d patches of %s, %d at a time\n", module, c.kver, len(series), c.series, c.jobs)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan candidateJob)
	results := make(chan buildResult)
	var wg sync.WaitGroup
	for w := 0; w < min(c.jobs, len(jobs)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				results <- cachedBuild(ctx, c, recipeAbs, seriesAbs, module, outAbs, work, series, j)
			}
		}()
	}
	go func() {
		defer close(queue)
		for _, j := range jobs {
			select {
			case queue <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	start := time.Now()
	cands := make([]*bisect.Candidate, len(series)+1)
	var fatal error
	for r := range results {
		if fatal != nil {
			continue // draining after a stop
		}
		if r.err != nil {
			fatal = r.err
			cancel()
			continue
		}
		cand := r.cand
		cands[cand.Index] = &cand
		state := "built"
		if cand.Skip != "" {
			state = "skip: " + cand.Skip
		}
		fmt.Fprintf(stderr, "bisect build: %s %.1fs %s\n", cand.Name(), cand.BuildSeconds, state)
		// Once both ends are known, a failed one stops the rest (the
		// base's failure named first: it is the likelier cause of both).
		if base, full := cands[0], cands[len(series)]; base != nil && full != nil && fatal == nil {
			switch {
			case base.Skip != "":
				fatal = ends(*base)
			case full.Skip != "":
				fatal = ends(*full)
			}
			if fatal != nil {
				cancel()
			}
		}
	}
	wall := time.Since(start)
	if fatal != nil {
		return fmt.Errorf("bisect build: %w", fatal)
	}
	for _, cand := range cands {
		m.Candidates = append(m.Candidates, *cand)
	}
	printCandidates(stdout, m.Candidates, wall, c.jobs)

	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if _, err := bisect.ParseManifest(bisect.ManifestFile, data); err != nil {
		return fmt.Errorf("bisect build: the set is not usable, no %s written: %w", bisect.ManifestFile, err)
	}
	if err := os.WriteFile(filepath.Join(outAbs, bisect.ManifestFile), data, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: serve %s as it is (any static HTTP server), or copy it to a stick\n",
		filepath.Join(c.out, bisect.ManifestFile), c.out)
	return nil
}

// ends says why a set whose base or full series did not build is refused.
func ends(c bisect.Candidate) error {
	if c.Index == 0 {
		return fmt.Errorf("the base (the recipe with none of the series) did not build, so there is nothing to compare against: %s", c.Skip)
	}
	return fmt.Errorf("the full series (through %s) did not build, so no candidate is known to carry every patch: %s; drop or fix that patch", c.Patch, c.Skip)
}

// buildCandidate runs modules/build.sh for one prefix of the series into
// OUT/NNNN/MODULE.ko. A patch that does not apply or a module that does
// not build is the candidate's Skip (the full log in OUT/NNNN/build.log);
// any other failure is the build machine's, and an error.
func buildCandidate(ctx context.Context, builder, recipe, series, kver, module, out, work string, j candidateJob) buildResult {
	dir := fmt.Sprintf("%04d", j.index)
	ko := filepath.Join(out, dir, module+".ko")
	bdir := filepath.Join(work, dir)
	defer os.RemoveAll(bdir)
	cand := bisect.Candidate{Index: j.index, Patch: j.patch.name, Subject: j.patch.subject}
	run := toolrun.Exec{Timeout: time.Hour, StderrTail: 256 << 10}
	start := time.Now()
	_, err := run.Run(ctx, builder, recipe, "--kver", kver, "--series", series,
		"--upto", fmt.Sprint(j.index), "--build-dir", bdir, "--ko", ko)
	cand.BuildSeconds = roundSeconds(time.Since(start))
	if err != nil {
		var te *toolrun.Error
		if !errors.As(err, &te) || ctx.Err() != nil {
			return buildResult{err: err}
		}
		var kind string
		switch te.ExitCode {
		case builderPatchFailed:
			kind = "patch does not apply"
		case builderBuildFailed:
			kind = "does not build"
		default:
			// Not the candidate's fault (a missing tool or input): every
			// build would fail the same way.
			return buildResult{err: fmt.Errorf("candidate %s: %s exit status %d: %s", cand.Name(), builder, te.ExitCode, lastLines(te.Stderr, 5))}
		}
		log := strings.NewReplacer(bdir+"/", "", series+"/", "").Replace(te.Stderr)
		if err := os.MkdirAll(filepath.Join(out, dir), 0o755); err != nil {
			return buildResult{err: err}
		}
		if err := os.WriteFile(filepath.Join(out, dir, "build.log"), []byte(log), 0o644); err != nil {
			return buildResult{err: err}
		}
		cand.Skip = fmt.Sprintf("%s: %s (%s/build.log)", kind, firstLines(log, 3), dir)
		return buildResult{cand: cand}
	}
	data, err := os.ReadFile(ko)
	if err != nil {
		return buildResult{err: fmt.Errorf("candidate %s: the builder succeeded but: %w", cand.Name(), err)}
	}
	sum := sha256.Sum256(data)
	cand.Module = &bisect.File{Path: dir + "/" + module + ".ko", SHA256: hex.EncodeToString(sum[:])}
	if info, err := modules.InfoOf(data); err == nil {
		cand.Srcversion = info.Srcversion
	}
	return buildResult{cand: cand}
}

// cachedBuild is buildCandidate through c.cache: a candidate whose inputs
// were built before is copied from there (its skip reason too).
func cachedBuild(ctx context.Context, c bisectBuildConfig, recipe, series, module, out, work string, patches []seriesPatch, j candidateJob) buildResult {
	if c.cache == "" {
		return buildCandidate(ctx, c.builder, recipe, series, c.kver, module, out, work, j)
	}
	key, err := candidateKey(c.builder, recipe, c.kver, patches[:j.index])
	if err != nil {
		return buildResult{err: err}
	}
	dir := fmt.Sprintf("%04d", j.index)
	cached, skip := filepath.Join(c.cache, key+".ko"), filepath.Join(c.cache, key+".skip")
	cand := bisect.Candidate{Index: j.index, Patch: j.patch.name, Subject: j.patch.subject}
	if data, err := os.ReadFile(cached); err == nil {
		if err := os.MkdirAll(filepath.Join(out, dir), 0o755); err != nil {
			return buildResult{err: err}
		}
		if err := os.WriteFile(filepath.Join(out, dir, module+".ko"), data, 0o644); err != nil {
			return buildResult{err: err}
		}
		sum := sha256.Sum256(data)
		cand.Module = &bisect.File{Path: dir + "/" + module + ".ko", SHA256: hex.EncodeToString(sum[:])}
		if info, err := modules.InfoOf(data); err == nil {
			cand.Srcversion = info.Srcversion
		}
		return buildResult{cand: cand}
	}
	if why, err := os.ReadFile(skip); err == nil {
		cand.Skip = string(why)
		return buildResult{cand: cand}
	}
	res := buildCandidate(ctx, c.builder, recipe, series, c.kver, module, out, work, j)
	if res.err != nil {
		return res
	}
	if err := os.MkdirAll(c.cache, 0o755); err != nil {
		return buildResult{err: err}
	}
	if res.cand.Skip != "" {
		os.WriteFile(skip, []byte(res.cand.Skip), 0o644)
	} else if data, err := os.ReadFile(filepath.Join(out, res.cand.Module.Path)); err == nil {
		os.WriteFile(cached+".tmp", data, 0o644)
		os.Rename(cached+".tmp", cached)
	}
	return res
}

// candidateKey digests what a candidate is built from: the kernel, the
// builder script, every file of the recipe and the series patches applied.
func candidateKey(builder, recipe, kver string, applied []seriesPatch) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "kernel %s\n", kver)
	files := []string{builder}
	ents, err := os.ReadDir(recipe)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			files = append(files, filepath.Join(recipe, e.Name()))
		}
	}
	for _, p := range applied {
		files = append(files, p.path)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func roundSeconds(d time.Duration) float64 {
	return float64(d.Round(100*time.Millisecond)) / float64(time.Second)
}

// gccSource matches gcc's quoting of the source under a diagnostic
// ("  886 | static int", "      | ^~~~~~").
var gccSource = regexp.MustCompile(`^[0-9]*\s*\|`)

// firstLines is the gist of a failed build's log: its first n lines that
// say something (make's own lines, BTF notes and gcc's source quotes left
// out), joined.
func firstLines(log string, n int) string {
	var keep []string
	for line := range strings.SplitSeq(log, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "make") || strings.HasPrefix(line, "Skipping BTF") || gccSource.MatchString(line) {
			continue
		}
		if len(line) > 200 {
			line = line[:200] + "…"
		}
		keep = append(keep, line)
		if len(keep) == n {
			break
		}
	}
	if len(keep) == 0 {
		return "no output"
	}
	return strings.Join(keep, " | ")
}

// lastLines is the end of a log, where a script's own message is.
func lastLines(log string, n int) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// setEntry matches what a bisection set holds: bisect.json, bin/, NNNN/.
var setEntry = regexp.MustCompile(`^(` + regexp.QuoteMeta(bisect.ManifestFile) + `|bin|[0-9]{4})$`)

// prepareOut makes OUT, refusing one that holds anything unless --force,
// and with --force anything that is not a bisection set's (so a mistyped
// --out never deletes someone's files).
func prepareOut(out string, force bool) error {
	ents, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(out, 0o755)
	}
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if len(ents) == 0 {
		return nil
	}
	if !force {
		return fmt.Errorf("--out %s is not empty: give another directory, or --force to replace the bisection set there", out)
	}
	for _, e := range ents {
		if !setEntry.MatchString(e.Name()) {
			return fmt.Errorf("--out %s holds %s, which is not part of a bisection set: not replacing it even with --force", out, e.Name())
		}
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(out, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// copyTools copies each --tool to OUT/bin/NAME, executable.
func copyTools(tools []string, out string) ([]bisect.File, error) {
	var files []bisect.File
	seen := map[string]string{}
	for _, t := range tools {
		name := filepath.Base(t)
		if prev, ok := seen[name]; ok {
			return nil, fmt.Errorf("--tool %s and %s: both would be bin/%s", prev, t, name)
		}
		seen[name] = t
		data, err := os.ReadFile(t)
		if err != nil {
			return nil, fmt.Errorf("--tool: %w", err)
		}
		if err := os.MkdirAll(filepath.Join(out, "bin"), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(out, "bin", name), data, 0o755); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		files = append(files, bisect.File{Path: "bin/" + name, SHA256: hex.EncodeToString(sum[:])})
	}
	return files, nil
}

// printCandidates writes the table of candidates and the build totals:
// the sum of the builds' times (what one build at a time would take) and
// the wall time the parallel builds took.
func printCandidates(w io.Writer, cands []bisect.Candidate, wall time.Duration, jobs int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tPATCH\tSUBJECT\tRESULT\tSECONDS")
	var sum float64
	built := 0
	for _, c := range cands {
		patch, subject := c.Patch, c.Subject
		if c.Index == 0 {
			patch, subject = "(base)", "the recipe's own patches"
		}
		if len(subject) > 60 {
			subject = subject[:57] + "..."
		}
		result := "built"
		if c.Skip != "" {
			result = "skip: " + c.Skip
			if len(result) > 100 {
				result = result[:97] + "..."
			}
		} else {
			built++
		}
		sum += c.BuildSeconds
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%.1f\n", c.Index, patch, subject, result, c.BuildSeconds)
	}
	tw.Flush()
	speedup := 0.0
	if wall > 0 {
		speedup = sum / wall.Seconds()
	}
	fmt.Fprintf(w, "%d candidates: %d built, %d skipped; builds %.1fs serial-equivalent (sum), %.1fs wall with %d jobs (%.1fx)\n",
		len(cands), built, len(cands)-built, sum, wall.Seconds(), jobs, speedup)
}
