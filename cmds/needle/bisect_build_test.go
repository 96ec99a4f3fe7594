package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/needle-boot/needle/internal/bisect"
)

// fakeBuilder is a FAKE modules/build.sh for tests (NEEDLE_BISECT_BUILDER):
// it takes the real one's arguments, "builds" a module whose bytes name
// the prefix, and fails as the real one does, by markers in the patches:
// the last applied patch holding "FAKE: does not apply" exits 3, "FAKE:
// does not build" exits 4, "FAKE: machine broken" exits 1 (a missing
// tool, not the candidate's fault); a recipe holding "FAKE: base broken"
// fails every build with 4. It records how many builds ran at once in
// $RUNS/max.N.
const fakeBuilder = `#!/bin/sh
# FAKE modules/build.sh, written by cmds/needle/bisect_build_test.go.
recipe=$1; shift
while [ $# -gt 0 ]; do
  case $1 in
    --kver) kver=$2 ;; --series) series=$2 ;; --upto) upto=$2 ;;
    --build-dir) build=$2 ;; --ko) ko=$2 ;;
    *) echo "fake builder: unknown argument $1" >&2; exit 1 ;;
  esac
  shift 2
done
mkdir -p "$RUNS" "$build"
touch "$RUNS/running.$upto"
sleep 0.4
echo "$(ls "$RUNS" | grep -c '^running')" >"$RUNS/max.$upto"
rm -f "$RUNS/running.$upto"
if grep -q "FAKE: base broken" "$recipe/recipe"; then
  echo "$build/drivers/x.c:1:1: error: base broken" >&2; exit 4
fi
last=$(ls "$series"/*.patch | sort | head -n "$upto" | tail -n 1)
if [ "$upto" -gt 0 ]; then
  if grep -q "FAKE: does not apply" "$last"; then
    echo "1 out of 1 hunk FAILED -- saving rejects to file drivers/x.c.rej" >&2
    echo "modules/build.sh: patch does not apply: $last (series)" >&2; exit 3
  fi
  if grep -q "FAKE: does not build" "$last"; then
    echo "make[1]: Entering directory" >&2
    echo "$build/drivers/x.c:12:3: error: expected ';' before 'return'" >&2
    echo "   12 |   return 0;" >&2
    echo "      |   ^~~~~~" >&2
    echo "modules/build.sh: build failed: x against linux-headers-$kver (above)" >&2; exit 4
  fi
  if grep -q "FAKE: machine broken" "$last"; then
    echo "modules/build.sh: make is missing" >&2; exit 1
  fi
fi
mkdir -p "$(dirname "$ko")"
echo "fake module $kver upto $upto" >"$ko"
echo "$ko"
`

// bisectFixture is a recipe, a series of n patches and the fake builder.
type bisectFixture struct {
	recipe, series, out, runs string
}

func newBisectFixture(t *testing.T, n int, marks map[int]string) bisectFixture {
	t.Helper()
	dir := t.TempDir()
	f := bisectFixture{
		recipe: filepath.Join(dir, "recipe"), series: filepath.Join(dir, "series"),
		out: filepath.Join(dir, "out"), runs: filepath.Join(dir, "runs"),
	}
	for _, d := range []string{f.recipe, f.series} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	recipe := "MODULE=xdrv\nSERIES=6.1\nSOURCE_DIR=drivers/x\n"
	if marks[0] != "" {
		recipe += "# " + marks[0] + "\n"
	}
	write(t, filepath.Join(f.recipe, "recipe"), recipe, 0o644)
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf("From 0123abcd Mon Sep 17 00:00:00 2001\nFrom: A <a@example.com>\nSubject: [PATCH %d/%d] x: change %d\n\n%s\n---\n--- a/drivers/x/x.c\n+++ b/drivers/x/x.c\n", i, n, i, marks[i])
		write(t, filepath.Join(f.series, fmt.Sprintf("%04d-x-change-%d.patch", i, i)), body, 0o644)
	}
	builder := filepath.Join(dir, "fake-build.sh")
	write(t, builder, fakeBuilder, 0o755)
	t.Setenv("NEEDLE_BISECT_BUILDER", builder)
	t.Setenv("RUNS", f.runs)
	return f
}

func write(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func (f bisectFixture) run(t *testing.T, extra ...string) (string, error) {
	t.Helper()
	args := append([]string{"bisect", "build", "--recipe", f.recipe, "--series", f.series,
		"--probe", "storcli /c0 show", "--out", f.out, "--kver", "6.1.0-57-amd64"}, extra...)
	var o, e strings.Builder
	err := run(context.Background(), args, &o, &e)
	t.Logf("needle %s:\n%s%s", strings.Join(args, " "), o.String(), e.String())
	return o.String() + e.String(), err
}

func (f bisectFixture) manifest(t *testing.T) *bisect.Manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(f.out, bisect.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	m, err := bisect.ParseManifest(bisect.ManifestFile, data)
	if err != nil {
		t.Fatalf("ParseManifest of what bisect build wrote: %v", err)
	}
	return m
}

// summary is a candidate without its digest and time, for comparing.
type summary struct {
	Index          int
	Patch, Subject string
	Module, Skip   string
}

func summarize(m *bisect.Manifest) []summary {
	var s []summary
	for _, c := range m.Candidates {
		x := summary{Index: c.Index, Patch: c.Patch, Subject: c.Subject}
		if c.Module != nil {
			x.Module = c.Module.Path
		}
		if c.Skip != "" {
			x.Skip, _, _ = strings.Cut(c.Skip, ":")
		}
		s = append(s, x)
	}
	return s
}

func wantSummary(n int, skips map[int]string) []summary {
	s := []summary{{Index: 0, Module: "0000/xdrv.ko"}}
	for i := 1; i <= n; i++ {
		x := summary{Index: i, Patch: fmt.Sprintf("%04d-x-change-%d.patch", i, i), Subject: fmt.Sprintf("x: change %d", i)}
		if skips[i] != "" {
			x.Skip = skips[i]
		} else {
			x.Module = fmt.Sprintf("%04d/xdrv.ko", i)
		}
		s = append(s, x)
	}
	return s
}

// TestBisectBuildParallel: every prefix of the series is built, several
// at a time, into OUT/NNNN/MODULE.ko; the manifest names them in series
// order with their subjects and digests, and bisect.ParseManifest takes
// it; the tool is copied with its digest.
func TestBisectBuildParallel(t *testing.T) {
	f := newBisectFixture(t, 7, nil)
	tool := filepath.Join(t.TempDir(), "storcli")
	write(t, tool, "#!/bin/sh\necho fake storcli\n", 0o755)
	out, err := f.run(t, "--jobs", "4", "--tool", tool, "--probe-timeout", "90s")
	if err != nil {
		t.Fatalf("bisect build: %v", err)
	}
	m := f.manifest(t)
	if diff := cmp.Diff(wantSummary(7, nil), summarize(m)); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	if m.Module != "xdrv" || m.Kernel != "6.1.0-57-amd64" || m.Probe != "storcli /c0 show" || m.ProbeTimeout != 90 {
		t.Errorf("manifest = module %q kernel %q probe %q timeout %d", m.Module, m.Kernel, m.Probe, m.ProbeTimeout)
	}
	for _, c := range m.Candidates {
		data, err := os.ReadFile(filepath.Join(f.out, c.Module.Path))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("fake module 6.1.0-57-amd64 upto %d\n", c.Index); string(data) != want {
			t.Errorf("%s = %q, want %q", c.Module.Path, data, want)
		}
	}
	if len(m.Tools) != 1 || m.Tools[0].Path != "bin/storcli" {
		t.Errorf("tools = %+v, want bin/storcli", m.Tools)
	}
	if st, err := os.Stat(filepath.Join(f.out, "bin/storcli")); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("bin/storcli: %v, mode %v: want an executable copy", err, st)
	}
	most := 0
	for i := 0; i <= 7; i++ {
		b, _ := os.ReadFile(filepath.Join(f.runs, fmt.Sprintf("max.%d", i)))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		most = max(most, n)
	}
	if most < 2 {
		t.Errorf("at most %d build ran at once with --jobs 4, want several", most)
	}
	for _, want := range []string{"serial-equivalent (sum)", "wall with 4 jobs", "8 candidates: 8 built, 0 skipped", "x: change 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestBisectBuildSkips: a patch that does not apply and one that does not
// build are skipped with the reason and their log; the others are built.
func TestBisectBuildSkips(t *testing.T) {
	f := newBisectFixture(t, 6, map[int]string{2: "FAKE: does not apply", 4: "FAKE: does not build"})
	if _, err := f.run(t, "--jobs", "3"); err != nil {
		t.Fatalf("bisect build: %v", err)
	}
	m := f.manifest(t)
	if diff := cmp.Diff(wantSummary(6, map[int]string{2: "patch does not apply", 4: "does not build"}), summarize(m)); diff != "" {
		t.Errorf("candidates (-want +got):\n%s", diff)
	}
	// The reason is the log's first lines, without the build directory
	// and make's noise; the whole log is kept beside.
	want := "does not build: drivers/x.c:12:3: error: expected ';' before 'return' | modules/build.sh: build failed: x against linux-headers-6.1.0-57-amd64 (above) (0004/build.log)"
	if got := m.Candidates[4].Skip; got != want {
		t.Errorf("skip = %q, want %q", got, want)
	}
	if !strings.HasPrefix(m.Candidates[2].Skip, "patch does not apply: 1 out of 1 hunk FAILED") {
		t.Errorf("skip = %q, want the patch's failure", m.Candidates[2].Skip)
	}
	if _, err := os.Stat(filepath.Join(f.out, "0004/build.log")); err != nil {
		t.Errorf("no build log for the skipped candidate: %v", err)
	}
}

// TestBisectBuildRefuses: what makes no usable bisection set is refused
// with the reason, and no bisect.json is written.
func TestBisectBuildRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		marks map[int]string
		setup func(t *testing.T, f *bisectFixture) []string
		want  string
	}{
		{name: "base does not build", marks: map[int]string{0: "FAKE: base broken"},
			want: "the base (the recipe with none of the series) did not build"},
		{name: "full series does not build", marks: map[int]string{5: "FAKE: does not build"},
			want: "the full series (through 0005-x-change-5.patch) did not build"},
		{name: "build machine broken", marks: map[int]string{3: "FAKE: machine broken"},
			want: "make is missing"},
		{name: "recipe not a directory", setup: func(t *testing.T, f *bisectFixture) []string {
			f.recipe = filepath.Join(f.recipe, "recipe")
			return nil
		}, want: "is not a directory"},
		{name: "series without patches", setup: func(t *testing.T, f *bisectFixture) []string {
			f.series = t.TempDir()
			return nil
		}, want: "holds no *.patch"},
		{name: "out not empty", setup: func(t *testing.T, f *bisectFixture) []string {
			os.MkdirAll(f.out, 0o755)
			write(t, filepath.Join(f.out, "0000"), "", 0o644)
			return nil
		}, want: "is not empty"},
		{name: "force on a foreign directory", setup: func(t *testing.T, f *bisectFixture) []string {
			os.MkdirAll(f.out, 0o755)
			write(t, filepath.Join(f.out, "thesis.tex"), "", 0o644)
			return []string{"--force"}
		}, want: "holds thesis.tex, which is not part of a bisection set"},
		{name: "no probe", setup: func(t *testing.T, f *bisectFixture) []string {
			return []string{"--probe", " "}
		}, want: "--probe is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newBisectFixture(t, 5, tc.marks)
			var extra []string
			if tc.setup != nil {
				extra = tc.setup(t, &f)
			}
			out, err := f.run(t, extra...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("bisect build = %v, want an error saying %q\n%s", err, tc.want, out)
			}
			if _, err := os.Stat(filepath.Join(f.out, bisect.ManifestFile)); err == nil {
				t.Errorf("%s written for a refused set", bisect.ManifestFile)
			}
		})
	}
}

// TestBisectBuildForce replaces a previous bisection set.
func TestBisectBuildForce(t *testing.T) {
	f := newBisectFixture(t, 3, nil)
	if _, err := f.run(t); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(f.out, "0007"), "stale", 0o644)
	if _, err := f.run(t); err == nil {
		t.Fatal("a second build into the same OUT without --force succeeded")
	}
	if _, err := f.run(t, "--force"); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.out, "0007")); err == nil {
		t.Error("--force left the previous set's files")
	}
	f.manifest(t)
}

func TestPatchSubject(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"format-patch", "From 1234 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nDate: x\nSubject: [PATCH 3/15] scsi: megaraid_sas: fix the ioctl\n\nbody\n", "scsi: megaraid_sas: fix the ioctl"},
		{"single", "From 1234 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] scsi: mpt2sas: fix\n\n", "scsi: mpt2sas: fix"},
		{"versioned", "Subject: [PATCH v2 07/12] scsi: x: y\n\n", "scsi: x: y"},
		{"folded", "From 1234 Mon Sep 17 00:00:00 2001\nSubject: [PATCH 1/2] scsi: megaraid_sas: a subject long enough\n to be folded by git\nDate: x\n\n", "scsi: megaraid_sas: a subject long enough to be folded by git"},
		{"no tag", "Subject: scsi: plain\n\n", "scsi: plain"},
		{"bare diff", "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-Subject: no\n+Subject: no\n", ""},
		{"subject in the body only", "From 1234 Mon Sep 17 00:00:00 2001\nFrom: A\n\nSubject: not a header\n", ""},
		{"crlf", "Subject: [PATCH 2/3] scsi: crlf\r\n\r\n", "scsi: crlf"},
	} {
		if got := patchSubject([]byte(tc.in)); got != tc.want {
			t.Errorf("%s: patchSubject(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestBisectBuildCache: with --cache, a second set whose series shares a
// prefix with the first reuses those candidates (and their skips) and
// builds only the rest.
func TestBisectBuildCache(t *testing.T) {
	f := newBisectFixture(t, 6, map[int]string{4: "FAKE: does not build"})
	cache := filepath.Join(t.TempDir(), "cache")
	if _, err := f.run(t, "--cache", cache); err != nil {
		t.Fatal(err)
	}
	first := f.manifest(t)
	// Patch 5 changes: candidates 0..4 are the same builds, 5 and 6 not.
	p5, _ := filepath.Glob(filepath.Join(f.series, "0005-*.patch"))
	b, _ := os.ReadFile(p5[0])
	write(t, p5[0], string(b)+"\n", 0o644)
	os.RemoveAll(f.runs)
	os.MkdirAll(f.runs, 0o755)
	if _, err := f.run(t, "--cache", cache, "--force"); err != nil {
		t.Fatal(err)
	}
	second := f.manifest(t)
	if diff := cmp.Diff(summarize(first), summarize(second)); diff != "" {
		t.Errorf("the cached set differs (-first +second):\n%s", diff)
	}
	for i := 0; i <= 6; i++ {
		_, err := os.Stat(filepath.Join(f.runs, fmt.Sprintf("max.%d", i)))
		if built := err == nil; built != (i >= 5) {
			t.Errorf("candidate %d built=%v on the second run, want built only from 5 on", i, built)
		}
	}
}
