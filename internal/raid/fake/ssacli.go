package fake

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// This file is a FAKE ssacli: a pretend Smart Array P822 kept in a JSON
// state file, answering "ctrl all show config detail", "ctrl slot=S create
// type=ld drives=D,D raid=L [size=N|max]" and "ctrl slot=S ld N delete
// forced" in the outline layout of proliantutils' recorded outputs under
// internal/raid/testdata/ssacli. Like the real tool, create and delete
// print nothing when they work. Its controller serial and firmware say
// FAKE. An argument it does not expect fails the command with "Error:
// FAKE ssacli: …" (ssacli prints its errors on standard output).

// SsacliDisk is a pretend physical drive.
type SsacliDisk struct {
	Port   string `json:"port"` // "5I"
	Box    int    `json:"box"`
	Bay    int    `json:"bay"`
	SizeGB int    `json:"size_gb"` // the decimal label, "600 GB"
	// Bytes is the drive's real capacity.
	Bytes     uint64 `json:"bytes"`
	Interface string `json:"interface"` // SAS, SATA, Solid State SAS
	Model     string `json:"model"`
	Serial    string `json:"serial"`
}

func (d SsacliDisk) id() string { return fmt.Sprintf("%s:%d:%d", d.Port, d.Box, d.Bay) }

// SsacliLD is a pretend logical drive; each lives in its own array.
type SsacliLD struct {
	Number  int      `json:"number"`
	Array   string   `json:"array"`
	Level   string   `json:"level"` // 0, 1, 1+0, 5, 6, 50, 60
	SizeMiB uint64   `json:"size_mib"`
	Members []string `json:"members"` // port:box:bay
}

// SsacliState is the pretend controller.
type SsacliState struct {
	Slot     int          `json:"slot"`
	Model    string       `json:"model"`
	Serial   string       `json:"serial"`
	Firmware string       `json:"firmware"`
	Disks    []SsacliDisk `json:"disks"`
	LDs      []SsacliLD   `json:"lds"`
}

// DefaultSsacli is the P822 in slot 2 of proliantutils' captures with two
// unassigned 600 GB SAS drives.
func DefaultSsacli() *SsacliState {
	return &SsacliState{
		Slot: 2, Model: "Smart Array P822", Serial: "FAKE0BRH5T0MO", Firmware: "4.68 FAKE",
		Disks: []SsacliDisk{
			{Port: "5I", Box: 1, Bay: 1, SizeGB: 600, Bytes: 600127266816, Interface: "SAS", Model: "HP      EF0600FARNA", Serial: "FAKE7G55D0000N4173JLT"},
			{Port: "5I", Box: 1, Bay: 2, SizeGB: 600, Bytes: 600127266816, Interface: "SAS", Model: "HP      EF0600FARNA", Serial: "FAKE7H2DM0000B41800Y0"},
		},
	}
}

// DefaultSsacliState is where the standalone fake keeps its state.
const DefaultSsacliState = "/run/fake-ssacli.json"

// Ssacli runs the FAKE ssacli with the tool's arguments and returns its
// exit status.
func Ssacli(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return frame{
		name: "ssacli",
		fail: "\nError: FAKE ssacli: %v\n\n",
		// Any word of the command: show, create, delete.
		segv: func(v string, args []string) bool {
			return slices.ContainsFunc(args, func(a string) bool { return strings.EqualFold(a, v) })
		},
	}.main(DefaultSsacli(), statePath(getenv, DefaultSsacliState), args, getenv, stdout, stderr)
}

func (s *SsacliState) run(args []string, w io.Writer) error {
	if len(args) < 2 || args[0] != "ctrl" && args[0] != "controller" {
		return fmt.Errorf("want \"ctrl all|slot=N …\", got %q", args)
	}
	target, rest := args[1], args[2:]
	if target == "all" {
		if !slices.Equal(rest, []string{"show", "config", "detail"}) {
			return fmt.Errorf("ctrl all: only \"show config detail\" is answered, got %q", rest)
		}
		s.configDetail(w)
		return nil
	}
	if target != "slot="+strconv.Itoa(s.Slot) {
		if strings.HasPrefix(target, "slot=") {
			return fmt.Errorf("the controller identified by %q was not detected", target)
		}
		return fmt.Errorf("the controller must be identified by slot, got %q", target)
	}
	switch {
	case len(rest) > 0 && rest[0] == "create":
		return s.create(rest[1:])
	case len(rest) >= 3 && (rest[0] == "ld" || rest[0] == "logicaldrive") && rest[2] == "delete":
		return s.delete(rest[1], rest[3:])
	}
	return fmt.Errorf("unsupported command %q", args)
}

// ldGB prints a logical drive size as ssacli does: binary units named GB
// or TB, one decimal.
func ldGB(mib uint64) string {
	if mib >= 1<<20 {
		return fmt.Sprintf("%.1f TB", float64(mib)/(1<<20))
	}
	return fmt.Sprintf("%.1f GB", float64(mib)/(1<<10))
}

func (s *SsacliState) disk(id string) *SsacliDisk {
	for i := range s.Disks {
		if s.Disks[i].id() == id {
			return &s.Disks[i]
		}
	}
	return nil
}

func (s *SsacliState) ldOf(id string) *SsacliLD {
	for i := range s.LDs {
		if slices.Contains(s.LDs[i].Members, id) {
			return &s.LDs[i]
		}
	}
	return nil
}

func (s *SsacliState) configDetail(w io.Writer) {
	fmt.Fprintf(w, "\n%s in Slot %d\n", s.Model, s.Slot)
	for _, kv := range [][2]string{
		{"Bus Interface", "PCI"}, {"Slot", strconv.Itoa(s.Slot)}, {"Serial Number", s.Serial}, {"Controller Status", "OK"},
		{"Hardware Revision", "B"}, {"Firmware Version", s.Firmware}, {"Driver Name", "hpsa"}, {"Driver Version", "3.4.4"},
	} {
		fmt.Fprintf(w, "   %s: %s\n", kv[0], kv[1])
	}
	for _, ld := range s.LDs {
		fmt.Fprintf(w, "\n   Array: %s\n", ld.Array)
		fmt.Fprint(w, "      Interface Type: SAS\n      Unused Space: 0  MB\n      Status: OK\n      MultiDomain Status: OK\n      Array Type: Data\n      HP SSD Smart Path: disable\n\n\n\n")
		fmt.Fprintf(w, "      Logical Drive: %d\n", ld.Number)
		fmt.Fprintf(w, "         Size: %s\n         Fault Tolerance: %s\n", ldGB(ld.SizeMiB), ld.Level)
		fmt.Fprint(w, "         Strip Size: 256 KB\n         Status: OK\n         MultiDomain Status: OK\n         Caching:  Enabled\n")
		fmt.Fprintf(w, "         Unique Identifier: 600508B1001C02BDBCB659B8A26418%02X\n", ld.Number)
		fmt.Fprintf(w, "         Logical Drive Label: FAKE%02X%s\n", ld.Number, s.Serial)
		// Mirror and parity groups list their drives; plain stripes do
		// not (the parser then takes the array's drives).
		half := len(ld.Members) / 2
		switch ld.Level {
		case "1", "1+0":
			s.group(w, "Mirror Group 0", ld.Members[:half])
			s.group(w, "Mirror Group 1", ld.Members[half:])
		case "50", "60":
			s.group(w, "Parity Group 0", ld.Members[:half])
			s.group(w, "Parity Group 1", ld.Members[half:])
		}
		fmt.Fprint(w, "         Drive Type: Data\n         LD Acceleration Method: Controller Cache\n")
		for _, m := range ld.Members {
			s.pd(w, *s.disk(m), "Data Drive")
		}
	}
	var free []SsacliDisk
	for _, d := range s.Disks {
		if s.ldOf(d.id()) == nil {
			free = append(free, d)
		}
	}
	if len(free) > 0 {
		fmt.Fprint(w, "\n   unassigned\n")
		for _, d := range free {
			s.pd(w, d, "Unassigned Drive")
		}
	}
	fmt.Fprint(w, "\n\n   SEP (Vendor ID PMCSIERA, Model SRCv24x6G) 380\n      Device Number: 380\n      Firmware Version: RevB\n      WWID: 5001438028842E1F\n      Vendor ID: PMCSIERA\n      Model: SRCv24x6G\n\n")
}

func (s *SsacliState) group(w io.Writer, title string, ids []string) {
	fmt.Fprintf(w, "         %s:\n", title)
	for _, id := range ids {
		d := s.disk(id)
		fmt.Fprintf(w, "            physicaldrive %s (port %s:box %d:bay %d, %s, %d GB, OK)\n", id, d.Port, d.Box, d.Bay, d.Interface, d.SizeGB)
	}
}

func (s *SsacliState) pd(w io.Writer, d SsacliDisk, typ string) {
	fmt.Fprintf(w, "\n      physicaldrive %s\n", d.id())
	for _, kv := range [][2]string{
		{"Port", d.Port}, {"Box", strconv.Itoa(d.Box)}, {"Bay", strconv.Itoa(d.Bay)}, {"Status", "OK"}, {"Drive Type", typ},
		{"Interface Type", d.Interface}, {"Size", fmt.Sprintf("%d GB", d.SizeGB)}, {"Native Block Size", "512"},
		{"Rotational Speed", "15000"}, {"Firmware Revision", "HPD6"}, {"Serial Number", d.Serial}, {"Model", d.Model},
	} {
		fmt.Fprintf(w, "         %s: %s\n", kv[0], kv[1])
	}
}

var ssaDrive = regexp.MustCompile(`^[0-9A-Z]+:\d+:\d+$`)

// create handles "type=ld drives=D,D raid=L [size=N|max]".
func (s *SsacliState) create(args []string) error {
	var typ, drives, raid string
	size := "max"
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("create: %q is not option=value", a)
		}
		switch k {
		case "type":
			typ = v
		case "drives":
			drives = v
		case "raid":
			raid = v
		case "size":
			size = v
		default:
			return fmt.Errorf("create: option %q not supported by the FAKE ssacli", a)
		}
	}
	if typ != "ld" && typ != "logicaldrive" {
		return fmt.Errorf("create: want type=ld, got %q", args)
	}
	if drives == "" {
		return fmt.Errorf("create: FAKE ssacli wants the drives named: drives=port:box:bay,…")
	}
	members := strings.Split(drives, ",")
	var minBytes uint64
	for i, m := range members {
		d := s.disk(m)
		if !ssaDrive.MatchString(m) || d == nil {
			return fmt.Errorf("create: %q is not a drive on this controller", m)
		}
		if s.ldOf(m) != nil || slices.Contains(members[:i], m) {
			return fmt.Errorf("create: drive %s is already in an array", m)
		}
		if i == 0 || d.Bytes < minBytes {
			minBytes = d.Bytes
		}
	}
	n := uint64(len(members))
	okN := map[string]bool{"0": n >= 1, "1": n == 2, "1+0": n >= 4 && n%2 == 0, "5": n >= 3, "6": n >= 4, "50": n >= 6, "60": n >= 8}
	ok, known := okN[raid]
	if !known {
		return fmt.Errorf("create: \"raid=%s\" is not a valid option (0, 1, 1+0, 5, 6, 50, 60)", raid)
	}
	if !ok {
		return fmt.Errorf("create: \"raid=%s\" is not possible with %d drives", raid, n)
	}
	// Smart Array keeps its metadata in the first 32 MiB of each drive.
	per := minBytes>>20 - 32
	maxMiB := map[string]uint64{"0": per * n, "1": per, "1+0": per * n / 2, "5": per * (n - 1), "6": per * (n - 2), "50": per * (n - 2), "60": per * (n - 4)}[raid]
	sizeMiB := maxMiB
	if size != "max" {
		v, err := strconv.ParseUint(size, 10, 64)
		if err != nil || v == 0 || v > maxMiB {
			return fmt.Errorf("create: \"size=%s\" is not max or a number of MB up to %d", size, maxMiB)
		}
		sizeMiB = v
	}
	num, array := 1, 'A'
	for slices.ContainsFunc(s.LDs, func(l SsacliLD) bool { return l.Number == num }) {
		num++
	}
	for slices.ContainsFunc(s.LDs, func(l SsacliLD) bool { return l.Array == string(array) }) {
		array++
	}
	s.LDs = append(s.LDs, SsacliLD{Number: num, Array: string(array), Level: raid, SizeMiB: sizeMiB, Members: members})
	return nil
}

// delete handles "ld N delete forced"; deleting an array's only logical
// drive deletes the array.
func (s *SsacliState) delete(ld string, rest []string) error {
	if !slices.Equal(rest, []string{"forced"}) {
		return fmt.Errorf("delete: FAKE ssacli answers no prompts: want \"ld %s delete forced\", got %q", ld, rest)
	}
	num, err := strconv.Atoi(ld)
	i := slices.IndexFunc(s.LDs, func(l SsacliLD) bool { return l.Number == num })
	if err != nil || i < 0 {
		return fmt.Errorf("delete: logical drive %q does not exist", ld)
	}
	s.LDs = slices.Delete(s.LDs, i, i+1)
	return nil
}
