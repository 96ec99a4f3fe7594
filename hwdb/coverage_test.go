package hwdb

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/testenv"
	"github.com/needle-boot/needle/modules"
)

// referenceAliases holds the PCI alias lines of the RAIDDrivers in the
// reference kernel (see its .source); TestReferenceAliasesMatchKernel
// keeps it equal to the kernel build.lock pins.
const referenceAliases = "testdata/kernel/raid-drivers.alias"

// kernelHeader starts the file's first line; the release follows.
const kernelHeader = "# kernel "

// readReference returns the claims in referenceAliases and the kernel
// release its header names.
func readReference(t *testing.T) ([]Claim, string) {
	t.Helper()
	b, err := os.ReadFile(referenceAliases)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	kver, ok := strings.CutPrefix(first, kernelHeader)
	if !ok {
		t.Fatalf("%s:1: want %q KVER, got %q", referenceAliases, kernelHeader, first)
	}
	claims, err := ReadClaims(referenceAliases, b)
	if err != nil {
		t.Fatal(err)
	}
	return claims, kver
}

// TestCoverageOfReferenceKernel: every vendor:device the RAID/HBA drivers
// of the reference kernel claim has an hwdb decision (a tool, or
// raid_tool: none) for every device the claim admits.
func TestCoverageOfReferenceKernel(t *testing.T) {
	claims, kver := readReference(t)
	checkCoverage(t, loadBuiltin(t), claims, kver)
}

func checkCoverage(t *testing.T, db *DB, claims []Claim, kver string) {
	t.Helper()
	cov, err := db.Coverage(claims, kver)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, d := range cov {
		got[d.Module] = true
		for _, id := range d.IDs {
			for _, c := range id.Claims {
				if c.Decision == nil {
					t.Errorf("%s: %s %s sub %s has no hwdb decision: %s", c.Claim.Pos, d.Module, c.Claim.ID(), c.Claim.Sub(), c.Why)
				}
			}
		}
		t.Logf("%-12s %d/%d", d.Module, d.Covered(), len(d.IDs))
	}
	// mpt2sas is folded into mpt3sas since 4.4; every other driver must
	// be there, or the table was read wrong.
	for _, m := range RAIDDrivers() {
		if m != "mpt2sas" && !got[m] {
			t.Errorf("kernel %s: no claims of %s", kver, m)
		}
	}
}

// TestReferenceAliasesMatchKernel: the committed alias lines are the
// reference kernel's (testenv.Kernel); -update rewrites them. It also runs
// the coverage check on the kernel's own table.
func TestReferenceAliasesMatchKernel(t *testing.T) {
	dir, kver := testenv.Kernel(t)
	root := filepath.Join(dir, "lib", "modules", kver)
	entries, from, err := modules.AliasesOf(root, RAIDDrivers())
	if err != nil {
		t.Fatal(err)
	}
	got := aliasText(kver, entries)
	if *update {
		if err := os.WriteFile(referenceAliases, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(referenceAliases)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs from the PCI aliases in %s (-want +got); if the kernel in build.lock moved, rerun with -update and update %s.source:\n%s",
			referenceAliases, from, referenceAliases, diff)
	}
	// Positions name the line of the committed file the claim would be on.
	claims, err := ReadClaims(referenceAliases+" (from the kernel)", []byte(got))
	if err != nil {
		t.Fatal(err)
	}
	checkCoverage(t, loadBuiltin(t), claims, kver)
	checkSeedOff(t, kver)
}

// aliasText is modules.alias text of the entries' PCI aliases, sorted by
// module then pattern, after a header naming the kernel.
func aliasText(kver string, entries []modules.AliasEntry) string {
	var lines []string
	for _, e := range entries {
		if strings.HasPrefix(e.Pattern, "pci:") {
			lines = append(lines, fmt.Sprintf("alias %s %s", e.Pattern, e.Module.Name))
		}
	}
	return kernelHeader + kver + "\n" + strings.Join(lines, "\n") + "\n"
}

// TestSeedRuleOffOnReferenceKernel: the seed rule (dell-c5220.yaml, kernel
// max 2.6.36) does not fire on the reference kernel, whose mpt3sas already
// carries ebda4d38: no overlay for it, and the C5220's SAS2008 gets the
// stock module and sas2ircu.
func TestSeedRuleOffOnReferenceKernel(t *testing.T) {
	_, kver := readReference(t)
	checkSeedOff(t, kver)
}

func checkSeedOff(t *testing.T, kver string) {
	t.Helper()
	db := loadBuiltin(t)
	needs, err := db.Overlays(kver)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range needs {
		t.Errorf("kernel %s: rule %s (%s) names overlay %s; no built-in overlay applies to it", kver, n.Rule, n.Pos, n.Module)
	}
	d, ok := db.Decide(pci(0x1000, 0x0072, 0x1000, 0x3020, 0x010700), c5220, kver)
	if !ok || d.Overlay || strings.Contains(d.Rule, "dell-c5220.yaml") || d.RAIDTool != "sas2ircu" {
		t.Errorf("Decide(C5220 SAS2008, %s) = %+v, want the stock mpt3sas with sas2ircu, not the seed rule", kver, d)
	}
}

// TestCoverageFindsGaps: an id with no rule, a rule limited to a
// subsystem that covers only that subsystem's claims, and a more specific
// rule deciding no tool are gaps; raid_tool: none is a decision.
func TestCoverageFindsGaps(t *testing.T) {
	db, err := Load(rulesFS(map[string]string{"r.yaml": `rules:
  - {match: {pci: {vendor: 0x1000, device: 0x005b, subvendor: 0x1028}}, raid_tool: perccli}
  - {match: {pci: {vendor: 0x1000, device: 0x005d}}, raid_tool: storcli}
  - {match: {pci: {vendor: 0x1000, device: 0x005d, subvendor: 0x1028}}, blacklist: [mpt3sas]}
  - {match: {pci: {vendor: 0x1000, device: 0x00b2}}, raid_tool: none, note: switch management endpoint}
  - {match: {pci: {vendor: 0x1000, device: 0x0060}, dmi: {product_name: "X*"}}, raid_tool: storcli}
`}))
	if err != nil {
		t.Fatal(err)
	}
	aliases := `# kernel 6.1.0-57-amd64
alias pci:v00001000d0000005Bsv*sd*bc*sc*i* megaraid_sas
alias pci:v00001000d0000005Bsv00001028sd*bc*sc*i* megaraid_sas
alias pci:v00001000d0000005Dsv*sd*bc*sc*i* megaraid_sas
alias pci:v00001000d000000B2sv*sd*bc*sc*i* mpt3sas
alias pci:v00001000d00000060sv*sd*bc*sc*i* megaraid_sas
alias pci:v0000103Cd*sv*sd*bc01sc04i* hpsa
alias pci:v00001AF4d00001042sv*sd*bc*sc*i* virtio_blk
`
	claims, err := ReadClaims("t.alias", []byte(aliases))
	if err != nil {
		t.Fatal(err)
	}
	cov, err := db.Coverage(claims, "6.1.0-57-amd64")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range cov {
		for _, id := range d.IDs {
			for _, c := range id.Claims {
				s := fmt.Sprintf("%s %s %s %s: ", c.Claim.Pos, d.Module, c.Claim.ID(), c.Claim.Sub())
				if c.Decision != nil {
					s += c.Decision.String()
				} else {
					s += "UNCOVERED " + c.Why
				}
				got = append(got, s)
			}
		}
	}
	want := []string{
		"t.alias:5 mpt3sas 1000:00b2 *:*: stock modalias match raid_tool none",
		"t.alias:2 megaraid_sas 1000:005b *:*: UNCOVERED no rule decides a RAID tool for every device it claims",
		"t.alias:3 megaraid_sas 1000:005b 1028:*: stock modalias match raid_tool perccli",
		"t.alias:4 megaraid_sas 1000:005d *:*: UNCOVERED t/r.yaml:4 overrides t/r.yaml:3 for some of its devices and decides no RAID tool",
		"t.alias:6 megaraid_sas 1000:0060 *:*: UNCOVERED no rule decides a RAID tool for every device it claims",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("coverage (-want +got):\n%s", diff)
	}
}

func TestParseClaim(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		want    string // ID + " " + Sub, "" for no claim, "error" for an error
	}{
		{"pci:v00001000d0000005Bsv*sd*bc*sc*i*", "1000:005b *:*"},
		{"pci:v0000103Cd0000323Asv0000103Csd00003233bc*sc*i*", "103c:323a 103c:3233"},
		{"pci:v00009005d00000285sv00001028sd*bc*sc*i*", "9005:0285 1028:*"},
		{"pci:v0000103Cd*sv*sd*bc01sc04i*", ""},
		{"usb:v1234p5678d*", ""},
		{"pci:v1000", "error"},
	} {
		c, ok, err := ParseClaim("m", tt.pattern)
		got := ""
		switch {
		case err != nil:
			got = "error"
		case ok:
			got = c.ID() + " " + c.Sub()
		}
		if got != tt.want {
			t.Errorf("ParseClaim(%q) = %q, want %q", tt.pattern, got, tt.want)
		}
	}
}
