package modules

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestFnmatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"pci:v00001000d00000079sv*sd*bc*sc*i*", "pci:v00001000d00000079sv00001000sd00009261bc01sc04i00", true},
		{"pci:v00001000d00000079sv*sd*bc*sc*i*", "pci:v00001000d00000078sv00001000sd00009261bc01sc04i00", false},
		// '*' crosses '/', unlike path.Match.
		{"of:N*T*Cfoo", "of:Nbus/devTxCfoo", true},
		{"a*c", "ab/bc", true},
		{"a?c", "a/c", true},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a*", "a", true},
		{"*a", "ba", true},
		{"*a", "ab", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", "usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00", true},
		{"pci:v*d*sv*sd*bc01sc08i02*", "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", true},
		// Bracket classes.
		{"dmi*:rvn[Dd]ell*", "dmi:bvn:rvnDell Inc.:", true},
		{"dmi*:rvn[Dd]ell*", "dmi:bvn:rvnHP:", false},
		{"x[0-9]y", "x5y", true},
		{"x[0-9]y", "xay", false},
		{"x[!0-9]y", "xay", true},
		{"x[^0-9]y", "x5y", false},
		{"x[]]y", "x]y", true},
		{"x[!]]y", "x]y", false},
		{"x[[:xdigit:]]y", "xFy", true},
		{"x[[:xdigit:]]y", "xGy", false},
		{"x[a-]y", "x-y", true},
		// Unterminated bracket: a literal '['.
		{"x[ab", "x[ab", true},
		{"x[ab", "xa", false},
		// Backslash quotes.
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{`a\`, `a\`, false},
		{"acpi*:PNP0A03:*", "acpi:PNP0A03:", true},
		{"acpi*:PNP0A03:*", "acpi:PNP0A08:PNP0A03:", true},
	} {
		t.Run(tc.pattern+"~"+tc.s, func(t *testing.T) {
			if got := Fnmatch(tc.pattern, tc.s); got != tc.want {
				t.Errorf("Fnmatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
	// The reason this function exists.
	if ok, _ := path.Match("a*c", "ab/bc"); ok {
		t.Errorf("path.Match(%q, %q) matched; the premise of Fnmatch is wrong", "a*c", "ab/bc")
	}
}

func TestNormalizeAlias(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"platform:leds-gpio", "platform:leds_gpio"},
		{"x[0-9]-y", "x[0-9]_y"},
		{"plain", "plain"},
	} {
		if got := NormalizeAlias(tc.in); got != tc.want {
			t.Errorf("NormalizeAlias(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// testMatcher builds a matcher over a few real 6.1 aliases.
func testMatcher() (*Matcher, map[string]*Module) {
	mods := map[string]*Module{}
	var entries []AliasEntry
	for _, l := range [][2]string{
		{"pci:v00001000d00000079sv*sd*bc*sc*i*", "megaraid_sas"},
		{"pci:v*d*sv*sd*bc01sc06i01*", "ahci"},
		{"pci:v00008086d00002922sv*sd*bc*sc*i*", "ahci"},
		{"pci:v*d*sv*sd*bc01sc08i02*", "nvme"},
		{"pci:v00008086d0000100Esv*sd*bc*sc*i*", "e1000"},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "virtio_pci"},
		{"virtio:d00000001v*", "virtio_net"},
		{"virtio:d00000002v*", "virtio_blk"},
		{"usb:v*p*d*dc*dsc*dp*ic08isc06ip50in*", "usb_storage"},
		{"platform:leds-gpio", "leds_gpio"},
		{"*:PNP0A03:*", "wildcard_bus"},
		{"acpi*:PNP0C0A:*", "battery"},
	} {
		m := mods[l[1]]
		if m == nil {
			m = &Module{Name: l[1]}
			mods[l[1]] = m
		}
		entries = append(entries, AliasEntry{Pattern: l[0], Module: m})
	}
	// Enough ACPI-style patterns for the anchor index to kick in.
	for i := range 2 * minAnchored {
		name := fmt.Sprintf("acpi_drv%d", i)
		m := &Module{Name: name}
		mods[name] = m
		entries = append(entries, AliasEntry{Pattern: fmt.Sprintf("acpi*:TST%04X:*", i*7), Module: m})
	}
	return NewMatcher(entries), mods
}

func names(ms []*Module) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

func TestMatcher(t *testing.T) {
	m, _ := testMatcher()
	for _, tc := range []struct {
		modalias string
		want     []string
	}{
		{"pci:v00001000d00000079sv00001000sd00009261bc01sc04i00", []string{"megaraid_sas"}},
		{"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", []string{"ahci"}},
		{"pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", []string{"nvme"}},
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", []string{"virtio_pci"}},
		{"virtio:d00000001v00001AF4", []string{"virtio_net"}},
		{"usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00", []string{"usb_storage"}},
		{"platform:leds_gpio", []string{"leds_gpio"}},
		{"platform:leds-gpio", []string{"leds_gpio"}},
		{"acpi:PNP0A03:", []string{"wildcard_bus"}},
		{"acpi:PNP0C0A:", []string{"battery"}},
		{"acpi:TST0007:PNP0C0A:", []string{"battery", "acpi_drv1"}},
		{"acpi:PNP0A08:TST0015:TST0007:", []string{"acpi_drv1", "acpi_drv3"}},
		{"pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00", nil},
	} {
		t.Run(tc.modalias, func(t *testing.T) {
			got := names(m.Match(tc.modalias))
			if !slices.Equal(got, tc.want) {
				t.Errorf("Match(%q) = %q, want %q", tc.modalias, got, tc.want)
			}
			if naive := names(m.matchNaive(tc.modalias)); !slices.Equal(naive, got) {
				t.Errorf("matchNaive(%q) = %q, Match = %q", tc.modalias, naive, got)
			}
		})
	}
}

// FuzzMatcher checks that the prefix-indexed lookup finds exactly what
// matching every pattern finds.
func FuzzMatcher(f *testing.F) {
	for _, s := range []string{"pci:v00001000d00000079sv00001000sd00009261bc01sc04i00", "acpi:PNP0A03:", "acpi:TST0007:TST000E:", "virtio:d00000002v00001AF4", "x", ""} {
		f.Add(s)
	}
	m, _ := testMatcher()
	f.Fuzz(func(t *testing.T, s string) {
		got, want := names(m.Match(s)), names(m.matchNaive(s))
		if !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %q, naive = %q", s, got, want)
		}
	})
}

// FuzzFnmatch checks Fnmatch never panics and agrees with itself on
// patterns without wildcards.
func FuzzFnmatch(f *testing.F) {
	f.Add("pci:v*d*[0-9]?x", "pci:v1d22x")
	f.Add("[!", "[!")
	f.Fuzz(func(t *testing.T, p, s string) {
		got := Fnmatch(p, s)
		if literalPrefix(p) == len(p) && got != (p == s) {
			t.Errorf("Fnmatch(%q, %q) = %v for a literal pattern", p, s, got)
		}
	})
}

// TestMatcherReference checks the indexed lookup against fnmatch over every
// pattern, on modaliases made from a sample of the reference kernel's own
// patterns (wildcards filled in two ways).
func TestMatcherReference(t *testing.T) {
	m := referenceIndex(t).Aliases()
	fill := func(p string, star string) string {
		var b strings.Builder
		for i := 0; i < len(p); i++ {
			switch p[i] {
			case '*':
				b.WriteString(star)
			case '?':
				b.WriteByte('Z')
			case '[':
				if end := strings.IndexByte(p[i+1:], ']'); end > 0 {
					b.WriteByte(p[i+1])
					i += end + 1
					continue
				}
				b.WriteByte('[')
			case '\\':
				if i+1 < len(p) {
					i++
					b.WriteByte(p[i])
				}
			default:
				b.WriteByte(p[i])
			}
		}
		return b.String()
	}
	checked := 0
	for i := 0; i < len(m.entries); i += 37 {
		for _, star := range []string{"", "00:PNP0A03:v0000046D"} {
			s := fill(m.entries[i].pattern, star)
			got, want := names(m.Match(s)), names(m.matchNaive(s))
			if !slices.Equal(got, want) {
				t.Errorf("Match(%q) = %q, naive = %q", s, got, want)
			}
			if len(want) == 0 && star == "" {
				t.Errorf("Match(%q) found nothing, but it is made from pattern %q", s, m.entries[i].pattern)
			}
			checked++
		}
	}
	t.Logf("%d modaliases checked", checked)
}

// benchDevices are modaliases of the devices of needle's QEMU machines and
// a typical server, the workload of one coldplug.
var benchDevices = []string{
	"pci:v00008086d00001237sv00001AF4sd00001100bc06sc00i00",
	"pci:v00008086d00007000sv00001AF4sd00001100bc06sc01i00",
	"pci:v00008086d00007010sv00001AF4sd00001100bc01sc01i80",
	"pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00",
	"pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
	"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
	"pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00",
	"pci:v00001AF4d00001004sv00001AF4sd00000008bc01sc00i00",
	"pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01",
	"pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02",
	"pci:v00001000d00000079sv00001000sd00009261bc01sc04i00",
	"pci:v00001000d00000054sv00000000sd00000000bc01sc00i00",
	"pci:v00001000d00000072sv00001028sd00001F1Cbc01sc07i00",
	"virtio:d00000001v00001AF4",
	"virtio:d00000002v00001AF4",
	"virtio:d00000008v00001AF4",
	"usb:v1D6Bp0002d0601dc09dsc00dp00ic09isc00ip00in00",
	"usb:v0781p5567d0100dc00dsc00dp00ic08isc06ip50in00",
	"acpi:PNP0A03:",
	"acpi:QEMU0002:",
	"platform:serial8250",
	"cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0002,0003,0004,0005,0006",
	"scsi:t-0x00",
	"input:b0011v0001p0001eAB41-e0,1,4,11,14,k71,72,73,74,75,76,77,79,7A,7B,7C,7D,7E,7F,80,8C,8E,8F,9B,9C,9D,9E,9F,A3,A4,A5,A6,AC,AD,B7,B8,B9,D9,E2,ram4,l0,1,2,sfw",
}

// BenchmarkMatch measures the alias-match cost per device over the full
// alias set of the reference kernel, indexed and naive (fnmatch against every
// pattern) in the same run; the indexed run reports the ratio.
func BenchmarkMatch(b *testing.B) {
	ix := referenceIndex(b)
	m := ix.Aliases()
	for _, d := range benchDevices {
		if got, want := names(m.Match(d)), names(m.matchNaive(d)); !slices.Equal(got, want) {
			b.Fatalf("Match(%q) = %q, naive = %q", d, got, want)
		}
	}
	perDevice := func(f func(string) []*Module, n int) time.Duration {
		start := time.Now()
		for range n {
			for _, d := range benchDevices {
				f(d)
			}
		}
		return time.Since(start) / time.Duration(n*len(benchDevices))
	}
	b.Run("indexed", func(b *testing.B) {
		for b.Loop() {
			for _, d := range benchDevices {
				m.Match(d)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(benchDevices)), "ns/device")
		b.StopTimer()
		idx, naive := perDevice(m.Match, 200), perDevice(m.matchNaive, 3)
		b.ReportMetric(float64(naive)/float64(idx), "naive/indexed")
	})
	b.Run("naive", func(b *testing.B) {
		for b.Loop() {
			for _, d := range benchDevices {
				m.matchNaive(d)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(benchDevices)), "ns/device")
	})
	b.Logf("%d alias patterns, %d devices", m.Len(), len(benchDevices))
}

// fnmatchOracle is a tiny C program calling glibc's fnmatch(p, s, 0), the
// function kmod uses: each input line "pattern\tstring" gets "1" or "0".
const fnmatchOracle = `#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
int main(void) {
	char line[4096];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\n")] = 0;
		char *tab = strchr(line, '\t');
		if (!tab) return 2;
		*tab = 0;
		printf("%d\n", fnmatch(line, tab + 1, 0) == 0);
	}
	return 0;
}
`

// fnmatchPairs generates pattern/string pairs over small alphabets rich in
// special characters; math/rand/v2's PCG is stable, so the pairs are the
// same on every run and the golden answers stay valid.
func fnmatchPairs() [][2]string {
	const alpha = "ab/*?[]!^-\\:x"
	rng := rand.New(rand.NewPCG(1, 2))
	gen := func(n int, chars string) string {
		b := make([]byte, rng.IntN(n+1))
		for i := range b {
			b[i] = chars[rng.IntN(len(chars))]
		}
		return string(b)
	}
	var pairs [][2]string
	for range 20000 {
		pairs = append(pairs, [2]string{gen(8, alpha), gen(8, "ab/[]!^-\\:x")})
		pairs = append(pairs, [2]string{gen(16, "ab*?[]!-"), gen(24, "ab/-]")})
		pairs = append(pairs, [2]string{"[[:" + gen(6, "alpdigtxsu:]") + gen(4, "a]*"), gen(3, "a1 Z]:")})
	}
	return pairs
}

// TestFnmatchGlibc compares Fnmatch with glibc's fnmatch(p, s, 0) on
// 60000 generated pairs. glibc's answers are kept as a bit string in
// testdata/fnmatch-glibc.golden; -update recomputes them by compiling
// fnmatchOracle with cc.
func TestFnmatchGlibc(t *testing.T) {
	pairs := fnmatchPairs()
	golden := filepath.Join("testdata", "fnmatch-glibc.golden")
	if *update {
		cc, err := exec.LookPath("cc")
		if err != nil {
			t.Fatal("-update needs a C compiler for the glibc oracle")
		}
		dir := t.TempDir()
		src, bin := filepath.Join(dir, "fnmatch.c"), filepath.Join(dir, "fnmatch")
		os.WriteFile(src, []byte(fnmatchOracle), 0o644)
		if out, err := exec.Command(cc, "-O", "-o", bin, src).CombinedOutput(); err != nil {
			t.Fatalf("cc: %v\n%s", err, out)
		}
		var in bytes.Buffer
		for _, p := range pairs {
			fmt.Fprintf(&in, "%s\t%s\n", p[0], p[1])
		}
		cmd := exec.Command(bin)
		cmd.Stdin = &in
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		answers := strings.Fields(string(out))
		if len(answers) != len(pairs) {
			t.Fatalf("oracle answered %d of %d", len(answers), len(pairs))
		}
		bits := make([]byte, (len(pairs)+7)/8)
		for i, a := range answers {
			if a == "1" {
				bits[i/8] |= 1 << (i % 8)
			}
		}
		if err := os.WriteFile(golden, []byte(hex.EncodeToString(bits)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	bits, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(bits) != (len(pairs)+7)/8 {
		t.Fatalf("%s: %d bytes, %v; want %d bytes of hex (run with -update)", golden, len(bits), err, (len(pairs)+7)/8)
	}
	bad := 0
	for i, p := range pairs {
		want := bits[i/8]&(1<<(i%8)) != 0
		if Fnmatch(p[0], p[1]) != want {
			if bad < 20 {
				t.Errorf("Fnmatch(%q, %q) = %v, glibc says %v", p[0], p[1], !want, want)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d differ from glibc", bad, len(pairs))
	}
}

func TestSegments(t *testing.T) {
	for _, tc := range []struct {
		rest string
		want []string
	}{
		{"*d*sv*sd*bc01sc06i01*", []string{"d", "sv", "sd", "bc01sc06i01"}},
		{"*:PNP0A03:*", []string{":PNP0A03:"}},
		{"x[]ab]yz?w", []string{"x", "yz", "w"}},
		{"ab[cd", []string{"ab"}},
		{`ab\*cd`, []string{"ab"}},
	} {
		if diff := cmp.Diff(tc.want, segments(tc.rest)); diff != "" {
			t.Errorf("segments(%q) (-want +got):\n%s", tc.rest, diff)
		}
	}
}

// FuzzMatcherPatterns builds a matcher whose patterns share the fuzzed
// pattern's prefix (so the anchor index is used) and checks the indexed
// lookup against fnmatch on every pattern.
func FuzzMatcherPatterns(f *testing.F) {
	f.Add("acpi*:PNP0A03:*", "acpi:PNP0A08:PNP0A03:")
	f.Add("pci:v*d*sv*sd*bc01sc06i01*", "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01")
	f.Add("x[]ab]yz*w", "x]yzw")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		var entries []AliasEntry
		n := literalPrefix(NormalizeAlias(pattern))
		for i := range 2 * minAnchored {
			p := pattern
			if i > 0 {
				p = fmt.Sprintf("%s*%s%d*", pattern[:min(n, len(pattern))], pattern[min(n, len(pattern)):], i)
			}
			entries = append(entries, AliasEntry{Pattern: p, Module: &Module{Name: fmt.Sprint("m", i)}})
		}
		m := NewMatcher(entries)
		if got, want := names(m.Match(s)), names(m.matchNaive(s)); !slices.Equal(got, want) {
			t.Errorf("patterns from %q: Match(%q) = %q, naive = %q", pattern, s, got, want)
		}
	})
}
