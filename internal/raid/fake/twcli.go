package fake

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// This file is a FAKE tw_cli: a pretend 3ware 9750-4i kept in a JSON state
// file, answering "info", "/cN show", "/cN/uM show name", "/cN add
// type=T disk=P:P… [name=X]" and "/cN/uM del quiet" in the table layouts
// of the recorded outputs under internal/raid/testdata/tw_cli (RotekHandels'
// 9750-4i transcript, check_raid's 9750 captures). Each output starts with
// a "# FAKE tw_cli" comment line, as captured outputs carry the command
// line; the parsers skip it. An argument it does not expect fails the
// command with "Error: (CLI:FAKE) …".

// TwcliPort is a pretend drive on a port (vport).
type TwcliPort struct {
	Port int `json:"port"`
	// Enclosure and Slot give the Encl-Slot column; Enclosure -1 prints
	// "-" (a drive on the controller's own phys).
	Enclosure int     `json:"enclosure"`
	Slot      int     `json:"slot"`
	SizeGB    float64 `json:"size_gb"` // binary GB, as tw_cli prints
	Type      string  `json:"type"`    // SATA, SAS
	Model     string  `json:"model"`
}

// TwcliUnit is a pretend unit.
type TwcliUnit struct {
	Unit   int     `json:"unit"`
	Type   string  `json:"type"` // RAID-0, RAID-1, RAID-5, RAID-6, RAID-10, SINGLE
	Name   string  `json:"name"`
	Ports  []int   `json:"ports"`
	SizeGB float64 `json:"size_gb"`
}

// TwcliState is the pretend controller.
type TwcliState struct {
	Index int         `json:"index"`
	Model string      `json:"model"`
	Ports []TwcliPort `json:"ports"`
	Units []TwcliUnit `json:"units"`
}

// DefaultTwcli is the 9750-4i of the RotekHandels transcript with two of
// its 1 TB SATA drives, no unit yet, in an enclosure so that a plan can
// name them by enclosure:slot.
func DefaultTwcli() *TwcliState {
	return &TwcliState{
		Model: "9750-4i",
		Ports: []TwcliPort{
			{Port: 0, Enclosure: 0, Slot: 0, SizeGB: 931.51, Type: "SATA", Model: "FAKE Hitachi HDS721010CL"},
			{Port: 1, Enclosure: 0, Slot: 1, SizeGB: 931.51, Type: "SATA", Model: "FAKE Hitachi HDT721010SL"},
		},
	}
}

// DefaultTwcliState is where the standalone fake keeps its state.
const DefaultTwcliState = "/run/fake-tw_cli.json"

// Twcli runs the FAKE tw_cli with the tool's arguments and returns its
// exit status.
func Twcli(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return frame{
		name:   "tw_cli",
		header: "# FAKE tw_cli of the needle test suite, not an LSI tool\n",
		fail:   "Error: (CLI:FAKE) %v\n",
		// The verb is the last argument: show, add, del, name.
		segv: func(v string, args []string) bool { return len(args) > 0 && strings.EqualFold(v, args[len(args)-1]) },
	}.main(DefaultTwcli(), statePath(getenv, DefaultTwcliState), args, getenv, stdout, stderr)
}

var twObject = regexp.MustCompile(`^/c(\d+)(?:/u(\d+))?$`)

func (s *TwcliState) run(args []string, w io.Writer) error {
	if len(args) == 1 && args[0] == "info" {
		s.info(w)
		return nil
	}
	if len(args) < 2 {
		return fmt.Errorf("unsupported command %q", args)
	}
	m := twObject.FindStringSubmatch(args[0])
	if m == nil {
		return fmt.Errorf("invalid object %q (want /cN or /cN/uM)", args[0])
	}
	if m[1] != strconv.Itoa(s.Index) {
		return fmt.Errorf("Controller /c%s is not present", m[1])
	}
	if m[2] == "" {
		switch {
		case len(args) == 2 && args[1] == "show":
			s.show(w)
			return nil
		case args[1] == "add":
			return s.add(args[2:], w)
		}
		return fmt.Errorf("unsupported command %q", args)
	}
	n, _ := strconv.Atoi(m[2])
	i := slices.IndexFunc(s.Units, func(u TwcliUnit) bool { return u.Unit == n })
	if i < 0 {
		return fmt.Errorf("Unit /c%d/u%d is not present", s.Index, n)
	}
	switch {
	case len(args) == 3 && args[1] == "show" && args[2] == "name":
		fmt.Fprintf(w, "/c%d/u%d name = %s\n", s.Index, n, s.Units[i].Name)
		return nil
	case args[1] == "del":
		quiet := false
		for _, a := range args[2:] {
			switch a {
			case "quiet":
				quiet = true
			case "noscan":
			default:
				return fmt.Errorf("del: unknown option %q", a)
			}
		}
		if !quiet {
			return fmt.Errorf("del: FAKE tw_cli answers no confirmation: add quiet")
		}
		s.Units = slices.Delete(s.Units, i, i+1)
		fmt.Fprintf(w, "Deleting /c%d/u%d ... Done.\n", s.Index, n)
		return nil
	}
	return fmt.Errorf("unsupported command %q", args)
}

func (s *TwcliState) info(w io.Writer) {
	fmt.Fprint(w, "Ctl   Model        (V)Ports  Drives   Units   NotOpt  RRate   VRate  BBU\n")
	fmt.Fprint(w, "------------------------------------------------------------------------\n")
	fmt.Fprintf(w, "c%-4d %-12s %-9d %-8d %-7d 0       1       1      OK\n\n", s.Index, s.Model, len(s.Ports), len(s.Ports), len(s.Units))
}

// twSize prints a unit size with six significant digits, as "931.312" and
// "11175.8" in the captures.
func twSize(gb float64) string { return strconv.FormatFloat(gb, 'g', 6, 64) }

func (s *TwcliState) unitOf(port int) string {
	for _, u := range s.Units {
		if slices.Contains(u.Ports, port) {
			return fmt.Sprintf("u%d", u.Unit)
		}
	}
	return "-"
}

func (s *TwcliState) show(w io.Writer) {
	if len(s.Units) > 0 {
		fmt.Fprint(w, "Unit  UnitType  Status         %RCmpl  %V/I/M  Stripe  Size(GB)  Cache  AVrfy\n")
		fmt.Fprint(w, "------------------------------------------------------------------------------\n")
		for _, u := range s.Units {
			stripe := "256K"
			if u.Type == "RAID-1" || u.Type == "SINGLE" {
				stripe = "-"
			}
			fmt.Fprintf(w, "u%-4d %-9s %-14s -       -       %-7s %-9s RiW    ON\n", u.Unit, u.Type, "OK", stripe, twSize(u.SizeGB))
		}
		fmt.Fprint(w, "\n")
	}
	fmt.Fprint(w, "VPort Status         Unit Size      Type  Phy Encl-Slot    Model\n")
	fmt.Fprint(w, "------------------------------------------------------------------------------\n")
	for _, p := range s.Ports {
		encl := "-"
		if p.Enclosure >= 0 {
			encl = fmt.Sprintf("/c%d/e%d/slt%d", s.Index, p.Enclosure, p.Slot)
		}
		size := fmt.Sprintf("%.2f GB", p.SizeGB)
		if p.SizeGB >= 1024 {
			size = fmt.Sprintf("%.2f TB", p.SizeGB/1024)
		}
		fmt.Fprintf(w, "p%-4d %-14s %-4s %-9s %-5s %-3d %-12s %s\n", p.Port, "OK", s.unitOf(p.Port), size, p.Type, p.Port, encl, p.Model)
	}
	fmt.Fprint(w, "\nName  OnlineState  BBUReady  Status    Volt     Temp     Hours  LastCapTest\n")
	fmt.Fprint(w, "---------------------------------------------------------------------------\n")
	fmt.Fprint(w, "bbu   On           Yes       OK        OK       OK       128    xx-xxx-xxxx\n")
}

var (
	twDiskList = regexp.MustCompile(`^\d+(-\d+)?(:\d+(-\d+)?)*$`)
	twName     = regexp.MustCompile(`^[^\s]{1,21}$`)
)

// add handles "type=T disk=P:P-P [name=X] [noscan] …" (CLI Guide 10.2,
// "/cx add").
func (s *TwcliState) add(args []string, w io.Writer) error {
	var typ, disks, name string
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "type":
			typ = v
		case "disk":
			disks = v
		case "name":
			if !twName.MatchString(v) {
				return fmt.Errorf("add: name %q: up to 21 characters, no spaces", v)
			}
			name = v
		case "noscan", "autoverify":
		default:
			return fmt.Errorf("add: option %q not supported by the FAKE tw_cli", a)
		}
	}
	if typ == "" || disks == "" || !twDiskList.MatchString(disks) {
		return fmt.Errorf("add: want type=<RaidType> disk=<p:-p>, got %q", args)
	}
	var ports []int
	for _, part := range strings.Split(disks, ":") {
		lo, hi, _ := strings.Cut(part, "-")
		a, _ := strconv.Atoi(lo)
		b := a
		if hi != "" {
			b, _ = strconv.Atoi(hi)
		}
		for p := a; p <= b; p++ {
			ports = append(ports, p)
		}
	}
	n := len(ports)
	unitType, okN := map[string]string{"raid0": "RAID-0", "raid1": "RAID-1", "raid5": "RAID-5", "raid6": "RAID-6", "raid10": "RAID-10", "single": "SINGLE"}[typ], false
	switch typ {
	case "raid0":
		okN = n >= 2
	case "raid1":
		okN = n == 2
	case "raid5":
		okN = n >= 3
	case "raid6":
		okN = n >= 5
	case "raid10":
		okN = n >= 4 && n%2 == 0
	case "single":
		okN = n == 1
	default:
		return fmt.Errorf("add: type=%s not supported by the FAKE tw_cli", typ)
	}
	if !okN {
		return fmt.Errorf("add: %d disks do not make a %s unit", n, unitType)
	}
	var per float64
	for i, p := range ports {
		j := slices.IndexFunc(s.Ports, func(x TwcliPort) bool { return x.Port == p })
		if j < 0 {
			return fmt.Errorf("add: port p%d is not present", p)
		}
		if s.unitOf(p) != "-" || slices.Contains(ports[:i], p) {
			return fmt.Errorf("add: port p%d is in use", p)
		}
		// The 931.51 GB drives of the transcript give 931.312 GB units.
		if u := s.Ports[j].SizeGB - 0.198; i == 0 || u < per {
			per = u
		}
	}
	k := float64(n)
	size := map[string]float64{"raid0": per * k, "raid1": per, "raid5": per * (k - 1), "raid6": per * (k - 2), "raid10": per * k / 2, "single": per}[typ]
	unit := 0
	for slices.ContainsFunc(s.Units, func(u TwcliUnit) bool { return u.Unit == unit }) {
		unit++
	}
	s.Units = append(s.Units, TwcliUnit{Unit: unit, Type: unitType, Name: name, Ports: ports, SizeGB: size})
	fmt.Fprintf(w, "Creating new unit on controller /c%d ... Done. The new unit is /c%d/u%d.\n", s.Index, s.Index, unit)
	fmt.Fprint(w, "Setting AutoVerify=ON for the new unit ... Done.\n")
	fmt.Fprint(w, "Setting default Storsave policy to [balance] for the new unit ... Done.\n")
	fmt.Fprintf(w, "Setting default Command Queuing policy for unit /c%d/u%d to [on] ... Done.\n", s.Index, unit)
	fmt.Fprint(w, "Setting write cache = ON for the new unit ... Done.\n")
	return nil
}
