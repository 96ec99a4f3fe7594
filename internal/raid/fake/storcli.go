package fake

import (
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// This file is a FAKE storcli: a pretend MegaRAID controller kept in a JSON
// state file, answering "show J", "/call show J", "/cN show J",
// "/cN/vall show J", "/cN add vd rL [size=NMB] name=X drives=E:S,… J" and
// "/cN/vV del [force] J" in the JSON shapes of the recorded storcli 007.x
// outputs under internal/raid/testdata/storcli. Its "CLI Version" and
// "Operating system" say FAKE.

// StorcliDisk is a pretend physical drive.
type StorcliDisk struct {
	EID     int    `json:"eid"`
	Slot    int    `json:"slot"`
	DID     int    `json:"did"`
	Sectors uint64 `json:"sectors"` // 512-byte sectors
	Model   string `json:"model"`
	Intf    string `json:"intf"` // SATA, SAS
	Med     string `json:"med"`  // HDD, SSD
	// State is storcli's word: UGood, Onln, UBad, Offln, Msng.
	State string `json:"state"`
	DG    int    `json:"dg"` // -1 when in no drive group
}

func (d StorcliDisk) loc() string { return fmt.Sprintf("%d:%d", d.EID, d.Slot) }

// StorcliVD is a pretend virtual drive; its drive group has the same
// number.
type StorcliVD struct {
	VD      int      `json:"vd"`
	Level   string   `json:"level"` // RAID0, RAID1, RAID5, RAID6, RAID10
	Name    string   `json:"name"`
	SizeMiB uint64   `json:"size_mib"`
	Members []string `json:"members"` // EID:Slot
	// State, when set, is the VD state word the fake prints instead of
	// the one its members give (Optl, Dgrd): a test poses a VD in
	// recovery ("Rec") or in a word no parser knows.
	State string `json:"state,omitempty"`
}

// StorcliState is the pretend controller.
type StorcliState struct {
	Index         int    `json:"index"`
	Model         string `json:"model"`
	Serial        string `json:"serial"`
	Firmware      string `json:"firmware"`
	DriverVersion string `json:"driver_version"`
	// PCIAddress is storcli's "DD:BB:DD:FF" form.
	PCIAddress string        `json:"pci_address"`
	Vendor     uint16        `json:"vendor"`
	Device     uint16        `json:"device"`
	SubVendor  uint16        `json:"subvendor"`
	SubDevice  uint16        `json:"subdevice"`
	Disks      []StorcliDisk `json:"disks"`
	VDs        []StorcliVD   `json:"vds"`
}

// DefaultStorcli is a MegaRAID SAS 2108 with the ids of QEMU's
// megasas-gen2 (1000:0079, subsystem 1000:9261) and two empty 4 TB
// enclosure-252 SATA disks.
func DefaultStorcli() *StorcliState {
	return &StorcliState{
		Model: "FAKE MegaRAID SAS 9260-8i", Serial: "FAKE0001", Firmware: "2.130.403-4660", DriverVersion: "07.719.03.00-rc1",
		PCIAddress: "00:00:05:00", Vendor: 0x1000, Device: 0x0079, SubVendor: 0x1000, SubDevice: 0x9261,
		Disks: []StorcliDisk{
			{EID: 252, Slot: 0, DID: 10, Sectors: 7814037168, Model: "FAKE HUS726040AL", Intf: "SATA", Med: "HDD", State: "UGood", DG: -1},
			{EID: 252, Slot: 1, DID: 11, Sectors: 7814037168, Model: "FAKE HUS726040AL", Intf: "SATA", Med: "HDD", State: "UGood", DG: -1},
		},
	}
}

const storcliVersion = "007.1704.0000.0000 FAKE storcli of the needle test suite, not a Broadcom tool"

type scStatus struct {
	CLIVersion  string `json:"CLI Version"`
	OS          string `json:"Operating system"`
	Controller  *int   `json:"Controller,omitempty"`
	StatusCode  *int   `json:"Status Code,omitempty"`
	Status      string `json:"Status"`
	Description string `json:"Description"`
	ErrCd       *int   `json:"ErrCd,omitempty"`
	ErrMsg      string `json:"ErrMsg,omitempty"`
}

type scCtl struct {
	Status scStatus `json:"Command Status"`
	Data   any      `json:"Response Data,omitempty"`
}

func writeDoc(w io.Writer, ctls ...scCtl) {
	data, _ := json.MarshalIndent(map[string][]scCtl{"Controllers": ctls}, "", "\t")
	w.Write(append(data, '\n'))
}

func ptr(n int) *int { return &n }

func (s *StorcliState) ok(desc string) scStatus {
	return scStatus{CLIVersion: storcliVersion, OS: "Linux FAKE", Controller: ptr(s.Index), Status: "Success", Description: desc}
}

func (s *StorcliState) fail(w io.Writer, desc string) int {
	st := s.ok(desc)
	st.Status, st.ErrCd, st.ErrMsg = "Failure", ptr(255), desc
	writeDoc(w, scCtl{Status: st})
	return 1
}

// storcliSize prints a size the way storcli does: three decimals of a
// binary unit named GB or TB.
func storcliSize(b uint64) string {
	if b >= 1<<40 {
		return fmt.Sprintf("%.3f TB", float64(b)/(1<<40))
	}
	return fmt.Sprintf("%.3f GB", float64(b)/(1<<30))
}

// Storcli runs the FAKE storcli with the tool's arguments and returns its
// exit status.
func Storcli(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	path := statePath(getenv, DefaultStorcliState)
	st := DefaultStorcli()
	if err := loadInto(path, getenv, st); err != nil {
		fmt.Fprintf(stderr, "FAKE storcli: %v\n", err)
		return 2
	}
	sleep(getenv, stderr)
	if len(args) == 0 || !strings.EqualFold(args[len(args)-1], "J") {
		fmt.Fprintf(stdout, "FAKE storcli answers only in JSON: end the command with J\n")
		return 1
	}
	args = args[:len(args)-1]
	verb := ""
	if len(args) > 1 {
		verb = strings.ToLower(args[1])
	}
	if len(args) == 1 {
		verb = strings.ToLower(args[0])
	}
	if v := getenv(SegvEnv); v != "" && strings.EqualFold(v, verb) {
		if f, ok := stdout.(interface{ Sync() error }); ok {
			f.Sync()
		}
		dieSIGSEGV()
	}
	code := st.run(args, stdout)
	if code == 0 {
		if err := st.save(path); err != nil {
			fmt.Fprintf(stderr, "FAKE storcli: %v\n", err)
			return 2
		}
	}
	return code
}

func (s *StorcliState) save(path string) error { return saveState(path, s) }

var scTarget = regexp.MustCompile(`^/c(\d+|all)(?:/v(\d+|all))?$`)

func (s *StorcliState) run(args []string, w io.Writer) int {
	if len(args) == 1 && strings.EqualFold(args[0], "show") {
		s.overview(w)
		return 0
	}
	if len(args) < 2 {
		return s.fail(w, "FAKE storcli: invalid command")
	}
	m := scTarget.FindStringSubmatch(strings.ToLower(args[0]))
	if m == nil {
		return s.fail(w, "FAKE storcli: invalid target "+args[0])
	}
	if m[1] != "all" && m[1] != strconv.Itoa(s.Index) {
		return s.fail(w, "Controller "+m[1]+" not found")
	}
	verb := strings.ToLower(args[1])
	switch {
	case m[2] == "" && verb == "show" && len(args) == 2:
		writeDoc(w, scCtl{Status: s.ok("None"), Data: s.ctrlShow()})
		return 0
	case m[2] == "all" && verb == "show" && len(args) == 2:
		if len(s.VDs) == 0 {
			writeDoc(w, scCtl{Status: s.ok("No VD's have been configured.")})
			return 0
		}
		writeDoc(w, scCtl{Status: s.ok("None"), Data: map[string]any{"Virtual Drives": s.vdList()}})
		return 0
	case m[2] == "" && m[1] != "all" && verb == "add" && len(args) > 3 && strings.EqualFold(args[2], "vd"):
		return s.add(args[3:], w)
	case m[2] != "" && m[2] != "all" && verb == "del":
		return s.del(m[2], args[2:], w)
	}
	return s.fail(w, "FAKE storcli: unsupported command "+strings.Join(args, " "))
}

func (s *StorcliState) overview(w io.Writer) {
	vds, pds := len(s.VDs), len(s.Disks)
	writeDoc(w, scCtl{
		Status: scStatus{CLIVersion: storcliVersion, OS: "Linux FAKE", StatusCode: ptr(0), Status: "Success", Description: "None"},
		Data: struct {
			N        int              `json:"Number of Controllers"`
			Host     string           `json:"Host Name"`
			Overview []map[string]any `json:"System Overview"`
		}{1, "fake", []map[string]any{{"Ctl": s.Index, "Model": s.Model, "Ports": 8, "PDs": pds, "DGs": vds, "DNOpt": 0, "VDs": vds, "VNOpt": 0, "BBU": "N/A", "sPR": "Off", "DS": "-", "EHS": "N", "ASOs": 0, "Hlth": "Opt"}}},
	})
}

type scVDRow struct {
	DGVD    string `json:"DG/VD"`
	Type    string `json:"TYPE"`
	State   string `json:"State"`
	Access  string `json:"Access"`
	Consist string `json:"Consist"`
	Cache   string `json:"Cache"`
	Cac     string `json:"Cac"`
	SCC     string `json:"sCC"`
	Size    string `json:"Size"`
	Name    string `json:"Name"`
}

type scPDRow struct {
	EIDSlt string `json:"EID:Slt"`
	DID    int    `json:"DID"`
	State  string `json:"State"`
	DG     any    `json:"DG"`
	Size   string `json:"Size"`
	Intf   string `json:"Intf"`
	Med    string `json:"Med"`
	SED    string `json:"SED"`
	PI     string `json:"PI"`
	SeSz   string `json:"SeSz"`
	Model  string `json:"Model"`
	Sp     string `json:"Sp"`
	Type   string `json:"Type"`
}

type scTopoRow struct {
	DG      int    `json:"DG"`
	Arr     any    `json:"Arr"`
	Row     any    `json:"Row"`
	EIDSlot string `json:"EID:Slot"`
	DID     any    `json:"DID"`
	Type    string `json:"Type"`
	State   string `json:"State"`
	BT      string `json:"BT"`
	Size    string `json:"Size"`
	PDC     string `json:"PDC"`
	PI      string `json:"PI"`
	SED     string `json:"SED"`
	DS3     string `json:"DS3"`
	FSpace  string `json:"FSpace"`
	TR      string `json:"TR"`
}

func (s *StorcliState) vdState(v StorcliVD) string {
	if v.State != "" {
		return v.State
	}
	for _, m := range v.Members {
		if d := s.disk(m); d == nil || d.State != "Onln" {
			return "Dgrd"
		}
	}
	return "Optl"
}

func (s *StorcliState) vdList() []scVDRow {
	var out []scVDRow
	for _, v := range s.VDs {
		out = append(out, scVDRow{DGVD: fmt.Sprintf("%d/%d", v.VD, v.VD), Type: v.Level, State: s.vdState(v), Access: "RW", Consist: "No", Cache: "RWBD", Cac: "-", SCC: "ON", Size: storcliSize(v.SizeMiB << 20), Name: v.Name})
	}
	return out
}

func (s *StorcliState) ctrlShow() any {
	var topo []scTopoRow
	for _, v := range s.VDs {
		st, size := s.vdState(v), storcliSize(v.SizeMiB<<20)
		topo = append(topo,
			scTopoRow{DG: v.VD, Arr: "-", Row: "-", EIDSlot: "-", DID: "-", Type: v.Level, State: st, BT: "N", Size: size, PDC: "dflt", PI: "N", SED: "N", DS3: "none", FSpace: "N", TR: "N"},
			scTopoRow{DG: v.VD, Arr: 0, Row: "-", EIDSlot: "-", DID: "-", Type: v.Level, State: st, BT: "N", Size: size, PDC: "dflt", PI: "N", SED: "N", DS3: "none", FSpace: "N", TR: "N"})
		for i, m := range v.Members {
			d := s.disk(m)
			topo = append(topo, scTopoRow{DG: v.VD, Arr: 0, Row: i, EIDSlot: m, DID: d.DID, Type: "DRIVE", State: d.State, BT: "N", Size: storcliSize(d.Sectors * 512), PDC: "dflt", PI: "N", SED: "N", DS3: "none", FSpace: "-", TR: "N"})
		}
	}
	var pds []scPDRow
	for _, d := range s.Disks {
		var dg any = "-"
		if d.DG >= 0 {
			dg = d.DG
		}
		pds = append(pds, scPDRow{EIDSlt: d.loc(), DID: d.DID, State: d.State, DG: dg, Size: storcliSize(d.Sectors * 512), Intf: d.Intf, Med: d.Med, SED: "N", PI: "N", SeSz: "512B", Model: d.Model, Sp: "U", Type: "-"})
	}
	data := map[string]any{
		"Product Name":    s.Model,
		"Serial Number":   s.Serial,
		"PCI Address":     s.PCIAddress,
		"FW Version":      s.Firmware,
		"Driver Name":     "megaraid_sas",
		"Driver Version":  s.DriverVersion,
		"Vendor Id":       s.Vendor,
		"Device Id":       s.Device,
		"SubVendor Id":    s.SubVendor,
		"SubDevice Id":    s.SubDevice,
		"Host Interface":  "PCI-E",
		"Drive Groups":    len(s.VDs),
		"Virtual Drives":  len(s.VDs),
		"Physical Drives": len(s.Disks),
		"PD LIST":         pds,
	}
	if len(s.VDs) > 0 {
		data["TOPOLOGY"] = topo
		data["VD LIST"] = s.vdList()
	}
	return data
}

func (s *StorcliState) disk(loc string) *StorcliDisk {
	for i := range s.Disks {
		if s.Disks[i].loc() == loc {
			return &s.Disks[i]
		}
	}
	return nil
}

var (
	scDrives = regexp.MustCompile(`^(\d+):(\d+)(?:-(\d+))?$`)
	scSize   = regexp.MustCompile(`^(?i)(\d+)(MB|GB)$`)
)

// add handles "rL [size=NMB] name=X drives=E:S,E:S-S [pdperarray=N] …".
func (s *StorcliState) add(args []string, w io.Writer) int {
	level := map[string]string{"r0": "RAID0", "raid0": "RAID0", "r1": "RAID1", "raid1": "RAID1", "r5": "RAID5", "raid5": "RAID5", "r6": "RAID6", "raid6": "RAID6", "r10": "RAID10", "raid10": "RAID10"}[strings.ToLower(args[0])]
	if level == "" {
		return s.fail(w, "invalid RAID level "+args[0])
	}
	var name string
	var members []string
	var sizeMiB uint64
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch strings.ToLower(k) {
		case "name":
			name = v
		case "size":
			m := scSize.FindStringSubmatch(v)
			if m == nil {
				return s.fail(w, "invalid size "+v)
			}
			n, _ := strconv.ParseUint(m[1], 10, 64)
			if strings.EqualFold(m[2], "GB") {
				n <<= 10
			}
			sizeMiB = n
		case "drives":
			for _, part := range strings.Split(v, ",") {
				m := scDrives.FindStringSubmatch(part)
				if m == nil {
					return s.fail(w, "invalid drives "+part)
				}
				lo, _ := strconv.Atoi(m[2])
				hi := lo
				if m[3] != "" {
					hi, _ = strconv.Atoi(m[3])
				}
				for sl := lo; sl <= hi; sl++ {
					members = append(members, m[1]+":"+strconv.Itoa(sl))
				}
			}
		case "pdperarray", "strip", "wb", "wt", "ra", "nora", "direct", "cached":
		default:
			return s.fail(w, "FAKE storcli: unknown option "+a)
		}
	}
	n := len(members)
	okN := map[string]bool{"RAID0": n >= 1, "RAID1": n >= 2 && n%2 == 0, "RAID5": n >= 3, "RAID6": n >= 4, "RAID10": n >= 4 && n%2 == 0}[level]
	if !okN {
		return s.fail(w, fmt.Sprintf("wrong number of drives (%d) for %s", n, level))
	}
	var minMiB uint64
	for i, m := range members {
		d := s.disk(m)
		if d == nil {
			return s.fail(w, "drive "+m+" not found")
		}
		if d.State != "UGood" || slices.Contains(members[:i], m) {
			return s.fail(w, "drive "+m+" is not unconfigured good (state "+d.State+")")
		}
		mib := d.Sectors * 512 >> 20
		if i == 0 || mib < minMiB {
			minMiB = mib
		}
	}
	// MegaRAID keeps its DDF metadata at the end of each drive and
	// coerces to 1 GiB boundaries by default; the fake does the same.
	per := (minMiB - 512) &^ 1023
	u := uint64(n)
	maxMiB := map[string]uint64{"RAID0": per * u, "RAID1": per * u / 2, "RAID5": per * (u - 1), "RAID6": per * (u - 2), "RAID10": per * u / 2}[level]
	if sizeMiB == 0 {
		sizeMiB = maxMiB
	} else if sizeMiB > maxMiB {
		return s.fail(w, fmt.Sprintf("size %d MB exceeds the %d MB the drives give", sizeMiB, maxMiB))
	}
	id := 0
	for slices.ContainsFunc(s.VDs, func(v StorcliVD) bool { return v.VD == id }) {
		id++
	}
	s.VDs = append(s.VDs, StorcliVD{VD: id, Level: level, Name: name, SizeMiB: sizeMiB, Members: members})
	for _, m := range members {
		d := s.disk(m)
		d.State, d.DG = "Onln", id
	}
	writeDoc(w, scCtl{Status: s.ok("Add VD Succeeded.")})
	return 0
}

func (s *StorcliState) del(vd string, rest []string, w io.Writer) int {
	for _, a := range rest {
		if !strings.EqualFold(a, "force") {
			return s.fail(w, "FAKE storcli: unknown option "+a)
		}
	}
	id, _ := strconv.Atoi(vd)
	i := slices.IndexFunc(s.VDs, func(v StorcliVD) bool { return v.VD == id })
	if i < 0 {
		return s.fail(w, "VD "+vd+" not found")
	}
	for _, m := range s.VDs[i].Members {
		if d := s.disk(m); d != nil {
			d.State, d.DG = "UGood", -1
		}
	}
	s.VDs = slices.Delete(s.VDs, i, i+1)
	writeDoc(w, scCtl{Status: s.ok("Delete VD succeeded")})
	return 0
}
