package hwdb

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/sysroot"
)

var update = flag.Bool("update", false, "rewrite golden files")

// c5220 is the DMI of the seed case's box (as the QEMU scenario sets it with
// -smbios type=1,manufacturer="Dell Inc.",product="PowerEdge C5220").
var c5220 = inventory.DMI{SysVendor: "Dell Inc.", ProductName: "PowerEdge C5220"}

func pci(vendor, device, subvendor, subdevice uint16, class uint32) inventory.PCIDevice {
	return inventory.PCIDevice{Vendor: vendor, Device: device, SubVendor: subvendor, SubDevice: subdevice, Class: class}
}

func loadBuiltin(t *testing.T) *DB {
	t.Helper()
	db, err := Load(Builtin())
	if err != nil {
		t.Fatalf("Load(Builtin()) = %v", err)
	}
	return db
}

func TestBuiltinRules(t *testing.T) {
	db := loadBuiltin(t)
	if n := len(db.Rules()); n < 15 {
		t.Errorf("built-in rules: %d, want at least 15", n)
	}
	for _, r := range db.Rules() {
		d := r.Decision()
		if r.Name == "" || d.Note == "" || d.Reference == "" {
			t.Errorf("%s: rule %q lacks a name, note or reference", r.Pos(), r.Name)
		}
		if !strings.HasPrefix(r.File, "hwdb/rules/") {
			t.Errorf("%s: file not named under hwdb/rules/", r.Pos())
		}
	}
}

// TestDecideBuiltin pins what the shipped rules decide for the controllers
// the issue names, the seed case and the QEMU proof.
func TestDecideBuiltin(t *testing.T) {
	db := loadBuiltin(t)
	const (
		sas  = 0x010700
		raid = 0x010400
	)
	r720 := inventory.DMI{SysVendor: "Dell Inc.", ProductName: "PowerEdge R720"}
	tests := []struct {
		name   string
		dev    inventory.PCIDevice
		dmi    inventory.DMI
		kernel string
		want   string // Decision.String() + " @" + file, or "" for no rule
	}{
		{"sas2008 generic, bookworm", pci(0x1000, 0x0072, 0x1000, 0x3020, sas), r720, "6.1.0-56-amd64", "module mpt3sas raid_tool sas2ircu @lsi-sas2.yaml"},
		{"sas2008 generic, jessie", pci(0x1000, 0x0072, 0x1000, 0x3020, sas), r720, "3.16.0-4-amd64", "module mpt2sas raid_tool sas2ircu @lsi-sas2.yaml"},
		{"sas2308 range end, 4.4 exactly", pci(0x1000, 0x0087, 0x1000, 0x3020, sas), r720, "4.4.0-1-amd64", "module mpt3sas raid_tool sas2ircu @lsi-sas2.yaml"},
		{"sas2308 4.4-rc1 is before 4.4", pci(0x1000, 0x0087, 0x1000, 0x3020, sas), r720, "4.4.0-rc1", "module mpt2sas raid_tool sas2ircu @lsi-sas2.yaml"},
		{"0x0075 is no SAS2 id", pci(0x1000, 0x0075, 0x1000, 0x3020, sas), r720, "6.1.0-56-amd64", ""},
		{"perc h200 integrated, bookworm", pci(0x1000, 0x0072, 0x1028, 0x1f1e, sas), r720, "6.1.0-56-amd64", "module mpt3sas raid_tool sas2ircu @lsi-sas2.yaml"},
		{"seed: sas2008 in c5220, squeeze", pci(0x1000, 0x0072, 0x1000, 0x3020, sas), c5220, "2.6.32-5-amd64", "overlay mpt2sas raid_tool sas2ircu @dell-c5220.yaml"},
		{"seed: c5220 glob takes a suffix", pci(0x1000, 0x0072, 0x1000, 0x3020, sas), inventory.DMI{SysVendor: "Dell Inc.", ProductName: "PowerEdge C5220 sled"}, "2.6.32-5-amd64", "overlay mpt2sas raid_tool sas2ircu @dell-c5220.yaml"},
		{"seed beats perc subsystem rule", pci(0x1000, 0x0072, 0x1028, 0x1f1e, sas), c5220, "2.6.32-5-amd64", "overlay mpt2sas raid_tool sas2ircu @dell-c5220.yaml"},
		{"seed rule is off on 6.1", pci(0x1000, 0x0072, 0x1000, 0x3020, sas), c5220, "6.1.0-56-amd64", "module mpt3sas raid_tool sas2ircu @lsi-sas2.yaml"},
		{"seed rule ends before 2.6.36", pci(0x1000, 0x0072, 0x1000, 0x3020, sas), c5220, "2.6.36-1-amd64", "module mpt2sas raid_tool sas2ircu @lsi-sas2.yaml"},
		{"seed rule covers 2.6.35", pci(0x1000, 0x0072, 0x1000, 0x3020, sas), c5220, "2.6.35-1-amd64", "overlay mpt2sas raid_tool sas2ircu @dell-c5220.yaml"},
		// The QEMU overlay proof is test data (qemu-test/testdata/hwdb), not
		// shipped: a real C5220 with a MegaRAID SAS 9260-8i gets the stock driver.
		{"megasas-gen2 in c5220 is stock", pci(0x1000, 0x0079, 0x1000, 0x9261, raid), c5220, "6.1.0-56-amd64", "module megaraid_sas raid_tool storcli @megaraid.yaml"},
		{"perc h730 mini (005d sub 1028:1f49) is perccli", pci(0x1000, 0x005d, 0x1028, 0x1f49, raid), r720, "6.1.0-56-amd64", "module megaraid_sas raid_tool perccli @megaraid.yaml"},
		{"sas40xx is mpi3mr", pci(0x1000, 0x00a5, 0x1000, 0x4620, raid), r720, "6.1.0-56-amd64", "module mpi3mr raid_tool storcli2 @megaraid.yaml"},
		{"sas3008", pci(0x1000, 0x0097, 0x1000, 0x30e0, sas), r720, "6.1.0-56-amd64", "module mpt3sas raid_tool sas3ircu @lsi-sas3.yaml"},
		{"adaptec series 8", pci(0x9005, 0x028d, 0x9005, 0x0554, raid), r720, "6.1.0-56-amd64", "module aacraid raid_tool arcconf @adaptec.yaml"},
		{"smartpqi adaptec", pci(0x9005, 0x028f, 0x9005, 0x0800, raid), r720, "6.1.0-56-amd64", "module smartpqi raid_tool arcconf @adaptec.yaml"},
		{"smartpqi hpe gen10", pci(0x9005, 0x028f, 0x103c, 0x0600, raid), r720, "6.1.0-56-amd64", "module smartpqi raid_tool ssacli @adaptec.yaml"},
		{"3ware 9650se", pci(0x13c1, 0x1004, 0x13c1, 0x1004, raid), r720, "6.1.0-56-amd64", "module 3w-9xxx raid_tool tw_cli @3ware.yaml"},
		{"3ware 9750", pci(0x13c1, 0x1010, 0x13c1, 0x1010, raid), r720, "6.1.0-56-amd64", "module 3w-sas raid_tool tw_cli @3ware.yaml"},
		{"hp p420i", pci(0x103c, 0x323b, 0x103c, 0x3354, raid), r720, "6.1.0-56-amd64", "module hpsa raid_tool ssacli @hpe.yaml"},
		{"virtio-blk", pci(0x1af4, 0x1042, 0x1af4, 0x1042, 0x018000), r720, "6.1.0-56-amd64", ""},
		{"qemu megasas (gen1, SAS1078) has no tool needle runs", pci(0x1000, 0x0060, 0x1000, 0x1013, raid), c5220, "6.1.0-56-amd64", "module megaraid_sas raid_tool none @megaraid.yaml"},
		// pci.ids: 1000:005b sub 1028:1f35 PERC H710 Adapter, 1f38 PERC H710 Mini (for monolithics).
		{"perc h710 adapter (005b sub 1028:1f35) is perccli", pci(0x1000, 0x005b, 0x1028, 0x1f35, raid), r720, "6.1.0-57-amd64", "module megaraid_sas raid_tool perccli @megaraid.yaml"},
		{"perc h710 mini (005b sub 1028:1f38) is perccli", pci(0x1000, 0x005b, 0x1028, 0x1f38, raid), r720, "6.1.0-57-amd64", "module megaraid_sas raid_tool perccli @megaraid.yaml"},
		{"perc h330 mini (005f sub 1028:1f4b) is perccli", pci(0x1000, 0x005f, 0x1028, 0x1f4b, raid), r720, "6.1.0-57-amd64", "module megaraid_sas raid_tool perccli @megaraid.yaml"},
		{"perc h740p mini (0016 sub 1028:1fcd) is perccli", pci(0x1000, 0x0016, 0x1028, 0x1fcd, raid), r720, "6.1.0-57-amd64", "module megaraid_sas raid_tool perccli @megaraid.yaml"},
		{"megaraid 9271-8i (005b sub 1000:9271) is storcli", pci(0x1000, 0x005b, 0x1000, 0x9271, raid), r720, "6.1.0-57-amd64", "module megaraid_sas raid_tool storcli @megaraid.yaml"},
		{"lenovo thinksystem raid 930-16i (0014 sub 1d49:0602) is storcli", pci(0x1000, 0x0014, 0x1d49, 0x0602, raid), r720, "6.1.0-57-amd64", "module megaraid_sas raid_tool storcli @megaraid.yaml"},
		{"hba 9400-8i (00af sub 1000:3010) is storcli, not sas3ircu", pci(0x1000, 0x00af, 0x1000, 0x3010, sas), r720, "6.1.0-57-amd64", "module mpt3sas raid_tool storcli @lsi-sas3.yaml"},
		{"9500-16i (00e6 sub 1000:4050) is storcli, not sas3ircu", pci(0x1000, 0x00e6, 0x1000, 0x4050, sas), r720, "6.1.0-57-amd64", "module mpt3sas raid_tool storcli @lsi-sas3.yaml"},
		{"supermicro aoc-s3816l (00e6 sub 15d9:1b65) is storcli", pci(0x1000, 0x00e6, 0x15d9, 0x1b65, sas), r720, "6.1.0-57-amd64", "module mpt3sas raid_tool storcli @lsi-sas3.yaml"},
		{"supermicro aoc-s3008l (0097 sub 15d9:0808) is sas3ircu", pci(0x1000, 0x0097, 0x15d9, 0x0808, sas), r720, "6.1.0-57-amd64", "module mpt3sas raid_tool sas3ircu @lsi-sas3.yaml"},
		{"dell hba330 (0097 sub 1028:1f45) is sas3ircu", pci(0x1000, 0x0097, 0x1028, 0x1f45, sas), r720, "6.1.0-57-amd64", "module mpt3sas raid_tool sas3ircu @lsi-sas3.yaml"},
		{"hba 9305-24i (00c4) is sas3ircu", pci(0x1000, 0x00c4, 0x1000, 0x3190, sas), r720, "6.1.0-57-amd64", "module mpt3sas raid_tool sas3ircu @lsi-sas3.yaml"},
		{"hpe sr932i-p gen10+ (smartpqi sub 1590:0294) is ssacli, not arcconf", pci(0x9005, 0x028f, 0x1590, 0x0294, raid), r720, "6.1.0-57-amd64", "module smartpqi raid_tool ssacli @adaptec.yaml"},
		{"hpe sr416i-a gen10+ (smartpqi sub 1590:02dc) is ssacli", pci(0x9005, 0x028f, 0x1590, 0x02dc, raid), r720, "6.1.0-57-amd64", "module smartpqi raid_tool ssacli @adaptec.yaml"},
		{"hp p400 (cciss-era, hpsa class-wide)", pci(0x103c, 0x3230, 0x103c, 0x3234, raid), r720, "6.1.0-57-amd64", "module hpsa raid_tool ssacli @hpe.yaml"},
		{"plain hba: lsi sas1068e (mptsas) has no vendor tool", pci(0x1000, 0x0058, 0x1000, 0x3140, sas), r720, "6.1.0-57-amd64", "module mptsas raid_tool none @lsi-fusion-mpt.yaml"},
		{"plain hba: atlas pcie switch endpoint", pci(0x1000, 0x00b2, 0x1d49, 0x0003, 0x058000), r720, "6.1.0-57-amd64", "module mpt3sas raid_tool none @lsi-sas3.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := db.Decide(tt.dev, tt.dmi, tt.kernel)
			got := ""
			if ok {
				got = d.String() + " @" + filepath.Base(strings.Split(d.Rule, ":")[0])
			}
			if got != tt.want {
				t.Errorf("Decide(%04x:%04x sub %04x:%04x, %q, %q) = %q, want %q", tt.dev.Vendor, tt.dev.Device, tt.dev.SubVendor, tt.dev.SubDevice, tt.dmi.ProductName, tt.kernel, got, tt.want)
			}
		})
	}
}

func TestSeedDecisionCarriesNoteAndReference(t *testing.T) {
	db := loadBuiltin(t)
	d, ok := db.Decide(pci(0x1000, 0x0072, 0x1000, 0x3020, 0x010700), c5220, "2.6.32-5-amd64")
	if !ok {
		t.Fatal("no decision for the seed case")
	}
	if !strings.Contains(d.Note, "sas2ircu 0 display segfaults with the stock driver") {
		t.Errorf("note = %q, want the sas2ircu segfault", d.Note)
	}
	if !strings.Contains(d.Reference, "ebda4d38df542e1ff4747c4daadfc7da250b4fa6") {
		t.Errorf("reference = %q, want the upstream commit", d.Reference)
	}
	if !d.Overlay || d.Module != "mpt2sas" {
		t.Errorf("decision = %+v, want overlay mpt2sas", d)
	}
}

// rulesFS builds an in-memory rule directory.
func rulesFS(files map[string]string) fs.FS {
	m := fstest.MapFS{}
	for name, body := range files {
		m[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return Named("t", m)
}

// TestPrecedence: the most specific rule wins, by the order Specificity
// documents.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		rules string
		dev   inventory.PCIDevice
		dmi   inventory.DMI
		kver  string
		want  string // winning module
	}{
		{
			name: "exact device beats vendor only",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000}}, module: any_lsi, note: n, reference: r}
  - {match: {pci: {vendor: 0x1000, device: 0x0072}}, module: sas2008, note: n, reference: r}`,
			dev: pci(0x1000, 0x0072, 0, 0, 0), want: "sas2008",
		},
		{
			name: "subsystem beats device",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0072}}, module: generic}
  - {match: {pci: {vendor: 0x1000, device: 0x0072, subvendor: 0x1028}}, module: dell}`,
			dev: pci(0x1000, 0x0072, 0x1028, 0x1f1e, 0), want: "dell",
		},
		{
			name: "a list of ids counts as exact, a wildcard not",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000, device: "*", subvendor: "*"}}, module: wild}
  - {match: {pci: {vendor: 0x1000, device: [0x0070, 0x0072-0x0074]}}, module: listed}`,
			dev: pci(0x1000, 0x0073, 0, 0, 0), want: "listed",
		},
		{
			name: "full class beats masked class",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000, class: 0x0107xx}}, module: masked}
  - {match: {pci: {vendor: 0x1000, class: 0x010700}}, module: full}`,
			dev: pci(0x1000, 0x0072, 0, 0, 0x010700), want: "full",
		},
		{
			name: "masked class matches other prog-if",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000, class: 0x0107xx}}, module: masked}
  - {match: {pci: {vendor: 0x1000, class: 0x010700}}, module: full}`,
			dev: pci(0x1000, 0x0072, 0, 0, 0x010701), want: "masked",
		},
		{
			name: "dmi beats any amount of pci",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0072, subvendor: 0x1028, subdevice: 0x1f1e, class: 0x010700}}, module: pci_only}
  - {match: {pci: {vendor: 0x1000}, dmi: {product_name: "PowerEdge*"}}, module: machine}`,
			dev: pci(0x1000, 0x0072, 0x1028, 0x1f1e, 0x010700), dmi: c5220, want: "machine",
		},
		{
			name: "literal dmi beats glob dmi",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000}, dmi: {product_name: "PowerEdge*"}}, module: glob}
  - {match: {pci: {vendor: 0x1000}, dmi: {product_name: "PowerEdge C5220"}}, module: literal}`,
			dev: pci(0x1000, 0x0072, 0, 0, 0), dmi: c5220, want: "literal",
		},
		{
			name: "two dmi fields beat one",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000}, dmi: {product_name: "PowerEdge C5220"}}, module: one}
  - {match: {pci: {vendor: 0x1000}, dmi: {sys_vendor: "Dell Inc.", product_name: "PowerEdge C522?"}}, module: two}`,
			dev: pci(0x1000, 0x0072, 0, 0, 0), dmi: c5220, want: "two",
		},
		{
			name: "kernel bounds break a pci tie",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0072}}, module: always}
  - {match: {pci: {vendor: 0x1000, device: 0x0072}, kernel: {max: "5.0"}}, module: old}`,
			dev: pci(0x1000, 0x0072, 0, 0, 0), kver: "4.19.0-20-amd64", want: "old",
		},
		{
			name: "non-matching specific rule does not win",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0072}}, module: always}
  - {match: {pci: {vendor: 0x1000, device: 0x0072}, kernel: {max: "5.0"}}, module: old}`,
			dev: pci(0x1000, 0x0072, 0, 0, 0), kver: "6.1.0-56-amd64", want: "always",
		},
		{
			name: "kernel rule never matches an unknown kernel",
			rules: `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0072}}, module: always}
  - {match: {pci: {vendor: 0x1000, device: 0x0072}, kernel: {min: "3.0"}}, module: versioned}`,
			dev: pci(0x1000, 0x0072, 0, 0, 0), kver: "", want: "always",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Load(rulesFS(map[string]string{"r.yaml": tt.rules}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			d, ok := db.Decide(tt.dev, tt.dmi, tt.kver)
			if !ok || d.Module != tt.want {
				t.Errorf("Decide = %q (ok %v), want %q", d.Module, ok, tt.want)
			}
			// Explain must agree with Decide.
			_, ed := db.Explain(tt.dev, tt.dmi, tt.kver)
			if ed == nil || ed.Module != d.Module || ed.Rule != d.Rule {
				t.Errorf("Explain decision = %+v, Decide = %+v", ed, d)
			}
		})
	}
}

// TestConflicts: equal specificity + overlap + disagreement is a load
// error naming both rules; anything less is fine.
func TestConflicts(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		extra map[string]string
		want  string // substring of the error, "" for none
	}{
		{
			name: "same device, different module",
			files: map[string]string{"a.yaml": `
rules:
  - match: {pci: {vendor: 0x1000, device: 0x0072}}
    module: mpt3sas
  - match: {pci: {vendor: 0x1000, device: [0x0070, 0x0072]}}
    module: mpt2sas
`},
			want: `t/a.yaml:3: rule conflicts with t/a.yaml:5: both can match pci 0x1000:0x0072 with equal specificity (dmi 0, pci 4, kernel 0) but decide "module mpt3sas" vs "module mpt2sas"`,
		},
		{
			name: "across files and directories",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0079}}, module: megaraid_sas, raid_tool: storcli}
`},
			extra: map[string]string{"site.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0079}}, module: megaraid_sas, raid_tool: perccli}
`},
			want: "t/a.yaml:3: rule conflicts with site/site.yaml:3",
		},
		{
			name: "overlapping globs conflict",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000}, dmi: {product_name: "PowerEdge*"}}, module: a}
  - {match: {pci: {vendor: 0x1000}, dmi: {product_name: "*C5220"}}, module: b}
`},
			want: "t/a.yaml:3: rule conflicts with t/a.yaml:4",
		},
		{
			name: "dmi on different fields can both match",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000}, dmi: {sys_vendor: "Dell Inc."}}, module: a}
  - {match: {pci: {vendor: 0x1000}, dmi: {board_name: "0X123"}}, module: b}
`},
			want: "t/a.yaml:3: rule conflicts with t/a.yaml:4",
		},
		{
			name: "agreeing duplicates are fine",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0072}}, module: mpt3sas}
  - {match: {pci: {vendor: 0x1000, device: 0x0072}}, module: mpt3sas}
`},
		},
		{
			name: "disjoint kernel ranges",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0072}, kernel: {max: "4.4"}}, module: mpt2sas}
  - {match: {pci: {vendor: 0x1000, device: 0x0072}, kernel: {min: "4.4"}}, module: mpt3sas}
`},
		},
		{
			name: "touching kernel ranges overlap",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0072}, kernel: {max: "4.5"}}, module: mpt2sas}
  - {match: {pci: {vendor: 0x1000, device: 0x0072}, kernel: {min: "4.4"}}, module: mpt3sas}
`},
			want: "t/a.yaml:3: rule conflicts with t/a.yaml:4",
		},
		{
			name: "disjoint id ranges",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0080-0x0087}}, module: a}
  - {match: {pci: {vendor: 0x1000, device: [0x0070, 0x0088-0x0090]}}, module: b}
`},
		},
		{
			name: "disjoint globs",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000}, dmi: {product_name: "PowerEdge R7*"}}, module: a}
  - {match: {pci: {vendor: 0x1000}, dmi: {product_name: "PowerEdge R6*"}}, module: b}
`},
		},
		{
			name: "disjoint class masks",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000, class: 0x0104xx}}, module: a}
  - {match: {pci: {vendor: 0x1000, class: 0x0107xx}}, module: b}
`},
		},
		{
			name: "different specificity is precedence, not conflict",
			files: map[string]string{"a.yaml": `
rules:
  - {match: {pci: {vendor: 0x1000, device: 0x0072}}, module: a}
  - {match: {pci: {vendor: 0x1000, device: 0x0072, subvendor: 0x1028}}, module: b}
`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra []fs.FS
			if tt.extra != nil {
				m := fstest.MapFS{}
				for n, b := range tt.extra {
					m[n] = &fstest.MapFile{Data: []byte(b)}
				}
				extra = append(extra, Named("site", m))
			}
			_, err := Load(rulesFS(tt.files), extra...)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Load = %v, want no error", err)
			case tt.want != "" && err == nil:
				t.Errorf("Load = nil, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Load = %v\nwant error containing %q", err, tt.want)
			case tt.want != "":
				var ce *ConflictError
				if !errors.As(err, &ce) {
					t.Errorf("Load error %v is not a *ConflictError", err)
				}
			}
		})
	}
}

// TestMalformed loads each testdata/bad/*.yaml and compares the error with
// its golden .err file (refresh with -update).
func TestMalformed(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/bad/*.yaml: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseRules(filepath.Base(f), b)
			if err == nil {
				t.Fatalf("ParseRules(%s) = nil error, want one", f)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("ParseRules(%s) error (-want +got):\n%s", f, diff)
			}
			if !strings.HasPrefix(got, filepath.Base(f)+":") {
				t.Errorf("error %q does not start with the file name", got)
			}
		})
	}
}

func TestLoadNamesFileAndLine(t *testing.T) {
	_, err := Load(rulesFS(map[string]string{
		"good.yaml": "rules:\n  - {match: {pci: {vendor: 0x1000}}, module: a}\n",
		"bad.yml":   "rules:\n  - match: {pci: {vendor: 0x1000}}\n    modul: a\n",
	}))
	if err == nil || !strings.Contains(err.Error(), `t/bad.yml:3: rule: unknown field "modul"`) {
		t.Errorf("Load = %v, want t/bad.yml:3 unknown field", err)
	}
}

// TestQEMUProofRule: the QEMU tests' overlay proof rule, loaded as
// --hwdb-extra next to the built-in rules, picks the overlay for exactly the
// megasas-gen2 in a "PowerEdge C5220" on 6.1.
func TestQEMUProofRule(t *testing.T) {
	db, err := Load(Builtin(), Dir(qemuProofDir))
	if err != nil {
		t.Fatal(err)
	}
	r720 := inventory.DMI{SysVendor: "Dell Inc.", ProductName: "PowerEdge R720"}
	raid := uint32(0x010400)
	for _, tt := range []struct {
		name   string
		dmi    inventory.DMI
		kernel string
		want   string
	}{
		{"megasas-gen2 in c5220", c5220, "6.1.0-56-amd64", "overlay megaraid_sas raid_tool storcli @qemu-overlay-proof.yaml"},
		{"other product is stock", r720, "6.1.0-56-amd64", "module megaraid_sas raid_tool storcli @megaraid.yaml"},
		{"other kernel is stock", c5220, "5.10.0-28-amd64", "module megaraid_sas raid_tool storcli @megaraid.yaml"},
		{"no DMI is stock", inventory.DMI{}, "6.1.0-56-amd64", "module megaraid_sas raid_tool storcli @megaraid.yaml"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := db.Decide(pci(0x1000, 0x0079, 0x1000, 0x9261, raid), tt.dmi, tt.kernel)
			got := ""
			if ok {
				got = d.String() + " @" + filepath.Base(strings.Split(d.Rule, ":")[0])
			}
			if got != tt.want {
				t.Errorf("Decide(megasas-gen2, %q, %q) = %q, want %q", tt.dmi.ProductName, tt.kernel, got, tt.want)
			}
		})
	}
}

// qemuProofDir holds the QEMU tests' overlay proof rule.
const qemuProofDir = "../qemu-test/testdata/hwdb"

func TestExplain(t *testing.T) {
	db, err := Load(Builtin(), Dir(qemuProofDir))
	if err != nil {
		t.Fatal(err)
	}
	dev := pci(0x1000, 0x0079, 0x1000, 0x9261, 0x010400)
	cands, d := db.Explain(dev, c5220, "6.1.0-56-amd64")
	if d == nil || !d.Overlay || d.Module != "megaraid_sas" {
		t.Fatalf("Explain decision = %+v, want overlay megaraid_sas", d)
	}
	var got []string
	for _, c := range cands {
		got = append(got, fmt.Sprintf("%s decides=%v matched=%v %s", c.Rule.Name, c.Decides, c.Matched, c.Reason))
	}
	want := []string{
		"dell-c5220-sas2008-sas2ircu-segfault decides=false matched=false device 0x0079 is not 0x0072",
		"lsi-sas1-mptsas decides=false matched=false device 0x0079 is not 0x0050,0x0054,0x0056,0x0058,0x0059,0x0062",
		"lsi-u320-mptspi decides=false matched=false device 0x0079 is not 0x0030,0x0040",
		"lsi-sas2-mpt2sas decides=false matched=false device 0x0079 is not 0x0070,0x0072,0x0074,0x0076,0x0077,0x0064,0x0065,0x0080-0x0087,0x006e",
		"lsi-sas2-mpt3sas decides=false matched=false device 0x0079 is not 0x0070,0x0072,0x0074,0x0076,0x0077,0x0064,0x0065,0x0080-0x0087,0x006e",
		"dell-perc-h200-mpt2sas decides=false matched=false device 0x0079 is not 0x0072",
		"dell-perc-h200-mpt3sas decides=false matched=false device 0x0079 is not 0x0072",
		"lsi-warpdrive-and-switch-endpoints decides=false matched=false device 0x0079 is not 0x007e,0x02b0,0x02b1",
		"lsi-sas3 decides=false matched=false device 0x0079 is not 0x0096,0x0097,0x0090,0x0091,0x0094,0x0095,0x00c0-0x00c3,0x00c4,0x00c5-0x00c8,0x00c9",
		"broadcom-tri-mode-hba decides=false matched=false device 0x0079 is not 0x00aa,0x00ab,0x00ac,0x00ad,0x00ae,0x00af,0x00d1,0x00e1,0x00e2,0x00e5,0x00e6",
		"broadcom-sas3-unsupported-ids decides=false matched=false device 0x0079 is not 0x00e0,0x00e3,0x00e4,0x00e7",
		"broadcom-pcie-switch-endpoint decides=false matched=false device 0x0079 is not 0x00b2",
		"megaraid-sas decides=false matched=true matches pci 0x1000:0x0071,0x0073,0x0078,0x0079,0x005b,0x005d,0x005f,0x0052,0x0053,0x00ce,0x00cf,0x0014,0x0015,0x0016,0x0017,0x001b,0x001c,0x10e1,0x10e2,0x10e5,0x10e6",
		"dell-perc-megaraid decides=false matched=false subvendor 0x1000 is not 0x1028",
		"megaraid-sas-1078-megacli-era decides=false matched=false device 0x0079 is not 0x0060,0x007c,0x0411,0x0413",
		"megaraid-sas2208-sriov-vf decides=false matched=false device 0x0079 is not 0x002f",
		"megaraid-aero-unsupported decides=false matched=false device 0x0079 is not 0x10e0,0x10e3,0x10e4,0x10e7",
		"broadcom-sas40xx-mpi3mr decides=false matched=false device 0x0079 is not 0x00a5",
		"dell-perc12-mpi3mr decides=false matched=false device 0x0079 is not 0x00a5",
		"qemu-c5220-megasas-gen2-overlay-proof decides=true matched=true matches pci 0x1000:0x0079 sub 0x1000:0x9261 sys_vendor=\"Dell Inc.\" product_name=\"PowerEdge C5220\" (6.1 <= kernel < 6.2)",
	}
	// Built-in files load in name order: dell-c5220, lsi-fusion-mpt,
	// lsi-sas2, lsi-sas3, megaraid (3ware, adaptec and hpe rules are for
	// other vendors); the extra directory's rules come after them.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Explain candidates (-want +got):\n%s", diff)
	}
}

func TestKernelVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.1.0-56-amd64", "6.1", 1},
		{"6.1.0-56-amd64", "6.2", -1},
		{"6.1.0-56-amd64", "6.1.0-56", 0},
		{"6.1.0-56-amd64", "6.1.0-100", -1},
		{"4.4", "4.4.0", 0},
		{"4.4.0-rc1", "4.4", -1},
		{"4.4.0-rc2", "4.4.0-rc10", -1},
		{"4.3.5", "4.4.0-rc1", -1},
		{"3.16.0-4-amd64", "4.4", -1},
		{"4.18.0-513.el8.x86_64", "4.18.0-477.27.1.el8_8.x86_64", 1},
		{"5.15.0-91-generic", "5.15.0-91-lowlatency", 0},
		{"6.18.44-fc-v657", "6.18.44", 0},
		{"6.1.0+", "6.1", 0},
		{"10.0", "9.99", 1},
	}
	for _, tt := range tests {
		a, err := parseKver(tt.a)
		if err != nil {
			t.Fatalf("parseKver(%q): %v", tt.a, err)
		}
		b, err := parseKver(tt.b)
		if err != nil {
			t.Fatalf("parseKver(%q): %v", tt.b, err)
		}
		if got := a.cmp(b); got != tt.want {
			t.Errorf("cmp(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.cmp(a); got != -tt.want {
			t.Errorf("cmp(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
	for _, bad := range []string{"", "6", "six.one", "6.x", "1.2.3.4.5", "-1.2"} {
		if _, err := parseKver(bad); err == nil {
			t.Errorf("parseKver(%q) = nil error, want one", bad)
		}
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		glob, s string
		want    bool
	}{
		{"PowerEdge C5220", "PowerEdge C5220", true},
		{"PowerEdge C5220", "PowerEdge C5220 ", false},
		{"PowerEdge*", "PowerEdge C5220", true},
		{"*C5220", "PowerEdge C5220", true},
		{"Power*C52?0", "PowerEdge C5220", true},
		{"Power*C52?0", "PowerEdge C520", false},
		{"*", "", true},
		{"?", "", false},
		{"a*b*c", "a/x/b/y/c", true}, // '*' crosses '/', unlike path.Match
		{"a*b*c", "abx", false},
		{"[x]", "[x]", true}, // no character classes
	}
	for _, tt := range tests {
		if got := globMatch(tt.glob, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.glob, tt.s, got, tt.want)
		}
	}
}

// TestGlobsOverlap checks the intersection test against brute force over
// every string of up to 5 characters from a small alphabet.
func TestGlobsOverlap(t *testing.T) {
	globs := []string{"", "*", "?", "a", "ab", "a*", "*a", "*b*", "a?b", "?b*", "a*b", "b*a", "**", "??", "a*a*", "*ab*ba*", "ba", "c"}
	var strs []string
	var gen func(prefix string, n int)
	gen = func(prefix string, n int) {
		strs = append(strs, prefix)
		if n == 0 {
			return
		}
		for _, c := range "abc" {
			gen(prefix+string(c), n-1)
		}
	}
	gen("", 5)
	for _, p := range globs {
		for _, q := range globs {
			want := false
			for _, s := range strs {
				if globMatch(p, s) && globMatch(q, s) {
					want = true
					break
				}
			}
			if got := globsOverlap(p, q); got != want {
				t.Errorf("globsOverlap(%q, %q) = %v, want %v", p, q, got, want)
			}
		}
	}
}

// TestMatchCapturedTrees decides every PCI device of the sysfs trees
// captured under internal/inventory/testdata with the built-in rules and
// compares with a golden file per tree.
func TestMatchCapturedTrees(t *testing.T) {
	db := loadBuiltin(t)
	dirs, err := filepath.Glob("../internal/inventory/testdata/*/sys")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no captured trees under ../internal/inventory/testdata: %v", err)
	}
	for _, sys := range dirs {
		tree := filepath.Dir(sys)
		name := filepath.Base(tree)
		t.Run(name, func(t *testing.T) {
			inv, err := inventory.Read(sysroot.Capture(tree))
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			fmt.Fprintf(&b, "dmi %q %q kernel %q\n", inv.DMI.SysVendor, inv.DMI.ProductName, inv.Kernel)
			for _, dev := range inv.PCI {
				d, ok := db.Decide(dev, inv.DMI, inv.Kernel)
				verdict := "stock modalias match"
				if ok {
					verdict = d.String() + " by " + d.Rule
				}
				fmt.Fprintf(&b, "%s %04x:%04x sub %04x:%04x bound=%s -> %s\n", dev.Addr, dev.Vendor, dev.Device, dev.SubVendor, dev.SubDevice, dev.Driver, verdict)
			}
			golden := filepath.Join("testdata", "match", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("decisions for %s (-want +got):\n%s", name, diff)
			}
		})
	}
}

// FuzzParseRules: any input either parses into usable rules or fails with
// an *Error that names the file; it never panics.
func FuzzParseRules(f *testing.F) {
	for _, dir := range []string{"rules", "testdata/bad"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte("rules: []"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := ParseRules("f.yaml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "f.yaml" {
				t.Fatalf("error %v is not a file error", err)
			}
			return
		}
		db := &DB{rules: rules}
		_ = db.conflicts()
		for _, r := range rules {
			if r.Line <= 0 {
				t.Errorf("rule without a line: %+v", r)
			}
			_ = r.Describe()
			_ = r.Specificity()
			d := r.Decision()
			if d.Module == "" && !d.HasToolDecision() && len(d.Blacklist) == 0 {
				t.Errorf("%s: rule decides nothing", r.Pos())
			}
			dev := pci(0x1000, 0x0072, 0x1028, 0x1f1e, 0x010700)
			kv, _ := parseKver("6.1.0-56-amd64")
			if ok, why := r.Match(dev, c5220, "6.1.0-56-amd64"); ok != r.matches(dev, c5220, &kv) {
				t.Errorf("%s: Match = %v (%s) but matches disagrees", r.Pos(), ok, why)
			}
		}
		dev := pci(0x1000, 0x0072, 0x1028, 0x1f1e, 0x010700)
		_, ed := db.Explain(dev, c5220, "6.1.0-56-amd64")
		d, ok := db.Decide(dev, c5220, "6.1.0-56-amd64")
		if ok != (ed != nil) || (ok && d.Rule != ed.Rule) {
			t.Errorf("Explain decided %+v, Decide %+v (ok %v)", ed, d, ok)
		}
	})
}

// BenchmarkDecide is the cost of one device's decision over the built-in
// rules (coldplug calls it once per PCI device).
func BenchmarkDecide(b *testing.B) {
	db, err := Load(Builtin())
	if err != nil {
		b.Fatal(err)
	}
	dev := pci(0x1000, 0x0079, 0x1000, 0x9261, 0x010400)
	for b.Loop() {
		if _, ok := db.Decide(dev, c5220, "6.1.0-56-amd64"); !ok {
			b.Fatal("no decision")
		}
	}
}

func BenchmarkLoadBuiltin(b *testing.B) {
	for b.Loop() {
		if _, err := Load(Builtin()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestOverlays(t *testing.T) {
	db, err := Load(Builtin(), Dir(qemuProofDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kernel string
		want   []string
	}{
		// The seed rule (mpt2sas) ends at 4.4; the QEMU proof covers 6.1.
		{"2.6.32-5-amd64", []string{"mpt2sas dell-c5220-sas2008-sas2ircu-segfault dell-c5220.yaml"}},
		{"6.1.0-57-amd64", []string{"megaraid_sas qemu-c5220-megasas-gen2-overlay-proof qemu-overlay-proof.yaml"}},
		{"6.12.0-1-amd64", nil},
	} {
		needs, err := db.Overlays(tc.kernel)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range needs {
			got = append(got, n.Module+" "+n.Rule+" "+filepath.Base(strings.Split(n.Pos, ":")[0]))
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Overlays(%q) (-want +got):\n%s", tc.kernel, diff)
		}
	}
	builtin := loadBuiltin(t)
	if needs, _ := builtin.Overlays("6.1.0-57-amd64"); len(needs) != 0 {
		t.Errorf("the shipped rules name overlays for 6.1: %+v; the default image would need them", needs)
	}
	if _, err := builtin.Overlays("not-a-kernel"); err == nil {
		t.Errorf("Overlays(not-a-kernel): no error")
	}
}

// TestGlobBlowUp: the overlap check between two rules costs the product of
// their patterns' lengths; a 16 KB DMI pattern (which ran the check out of
// memory) is refused at parse time, and two patterns at the limit are
// compared in bounded memory.
func TestGlobBlowUp(t *testing.T) {
	long := strings.Repeat("*a", 8<<10)
	rule := func(name, glob string) string {
		return "  - name: " + name + "\n    match:\n      pci: {vendor: 0x1000, device: 0x0079}\n      dmi: {product_name: \"" + glob + "\"}\n    raid_tool: storcli\n    reference: test\n"
	}
	_, err := ParseRules("big.yaml", []byte("rules:\n"+rule("big", long)))
	if err == nil || !strings.Contains(err.Error(), "big.yaml:5: dmi.product_name: a pattern of 16384 bytes") {
		t.Errorf("a 16 KB pattern: %v, want refused with file:line", err)
	}
	p := strings.Repeat("*a", maxGlob/2)
	q := strings.Repeat("a*", maxGlob/2)
	allocs := testing.AllocsPerRun(3, func() { globsOverlap(p, q) })
	if allocs > 10 {
		t.Errorf("globsOverlap at the limit made %.0f allocations, want a handful", allocs)
	}
	if !globsOverlap(p, q) || globsOverlap("a*", "b*") {
		t.Error("globsOverlap answers wrongly")
	}
}
