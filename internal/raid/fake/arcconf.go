package fake

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// This file is a FAKE arcconf: a pretend Adaptec Series 7 controller kept
// in a JSON state file, answering "LIST", "GETCONFIG n AL", "CREATE n
// LOGICALDRIVE [Name X] size|MAX level ch dev … noprompt" and "DELETE n
// LOGICALDRIVE m noprompt" in the layouts of the recorded outputs under
// internal/raid/testdata/arcconf (LIST as the Inspur PM8060 capture
// completed with its closing line, GETCONFIG as check_raid's ASR71605 one,
// CREATE as Inspur's).
// Its controller model and serial say FAKE. Any argument it does not
// expect fails the command with "Error: FAKE arcconf: …", so a driver that
// builds a wrong command line fails its test.

// ArcconfDisk is a pretend physical device.
type ArcconfDisk struct {
	Channel   int    `json:"channel"`
	Device    int    `json:"device"`
	Enclosure int    `json:"enclosure"`
	Slot      int    `json:"slot"`
	SizeMB    uint64 `json:"size_mb"` // binary MB, "Total Size"
	Model     string `json:"model"`
	Serial    string `json:"serial"`
	Firmware  string `json:"firmware"`
	Transfer  string `json:"transfer"` // "SATA 6.0 Gb/s"
	SSD       bool   `json:"ssd"`
	// State is arcconf's word: Ready, Online, Failed, Hot Spare.
	State string `json:"state"`
}

func (d ArcconfDisk) loc() string { return fmt.Sprintf("%d:%d", d.Channel, d.Device) }

// ArcconfLD is a pretend logical device.
type ArcconfLD struct {
	Number  int      `json:"number"`
	Name    string   `json:"name"`
	Level   string   `json:"level"` // 0, 1, 1E, 5, 6, 10
	SizeMB  uint64   `json:"size_mb"`
	Members []string `json:"members"` // channel:device
}

// ArcconfState is the pretend controller.
type ArcconfState struct {
	// Index is arcconf's controller number, from 1.
	Index    int           `json:"index"`
	Model    string        `json:"model"`
	Serial   string        `json:"serial"`
	Slot     int           `json:"slot"`
	Firmware string        `json:"firmware"`
	Disks    []ArcconfDisk `json:"disks"`
	LDs      []ArcconfLD   `json:"lds"`
}

// DefaultArcconf is an ASR71605 (as in check_raid's capture) with two
// empty 3 TB SATA disks in enclosure 0.
func DefaultArcconf() *ArcconfState {
	return &ArcconfState{
		Index: 1, Model: "Adaptec ASR71605 FAKE", Serial: "FAKE00EB87", Slot: 6, Firmware: "7.5-0 (32033)",
		Disks: []ArcconfDisk{
			{Channel: 0, Device: 0, Enclosure: 0, Slot: 0, SizeMB: 2861588, Model: "WDC WD30EFRX-68E", Serial: "FAKE-WMC4N0EA309P", Firmware: "82.00A82", Transfer: "SATA 6.0 Gb/s", State: "Ready"},
			{Channel: 0, Device: 1, Enclosure: 0, Slot: 1, SizeMB: 2861588, Model: "WDC WD30EFRX-68E", Serial: "FAKE-WMC4N0D4C3EC", Firmware: "82.00A82", Transfer: "SATA 6.0 Gb/s", State: "Ready"},
		},
	}
}

// DefaultArcconfState is where the standalone fake keeps its state.
const DefaultArcconfState = "/run/fake-arcconf.json"

// Arcconf runs the FAKE arcconf with the tool's arguments and returns its
// exit status.
func Arcconf(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	return frame{
		name:   "arcconf",
		header: "Controllers found: 1\n",
		fail:   "Error: FAKE arcconf: %v\nCommand aborted.\n",
		footer: "\nCommand completed successfully.\n",
		// The verb is the first argument: LIST, GETCONFIG, CREATE, DELETE.
		segv: func(v string, args []string) bool { return len(args) > 0 && strings.EqualFold(v, args[0]) },
	}.main(DefaultArcconf(), statePath(getenv, DefaultArcconfState), args, getenv, stdout, stderr)
}

func (s *ArcconfState) run(args []string, w io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("no command")
	}
	verb := strings.ToUpper(args[0])
	if verb == "LIST" {
		if len(args) != 1 {
			return fmt.Errorf("LIST takes no arguments here, got %q", args[1:])
		}
		s.list(w)
		return nil
	}
	if len(args) < 2 {
		return fmt.Errorf("%s: no controller number", verb)
	}
	if args[1] != strconv.Itoa(s.Index) {
		return fmt.Errorf("invalid controller number %q (the controller is %d; arcconf counts from 1)", args[1], s.Index)
	}
	rest := args[2:]
	switch verb {
	case "GETCONFIG":
		if len(rest) != 1 || !strings.EqualFold(rest[0], "AL") {
			return fmt.Errorf("GETCONFIG: want \"GETCONFIG %d AL\", got %q", s.Index, args)
		}
		s.getconfig(w)
		return nil
	case "CREATE":
		return s.create(rest, w)
	case "DELETE":
		return s.delete(rest, w)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

func (s *ArcconfState) list(w io.Writer) {
	fmt.Fprint(w, arcRule+"Controller information\n"+arcRule)
	fmt.Fprint(w, "   Controller ID             : Status, Slot, Mode, Name, SerialNumber, WWN\n"+arcRule)
	fmt.Fprintf(w, "   Controller %d:             : Optimal, Slot %d, RAID (Expose RAW), %s, %s, 50000D110617B500\n", s.Index, s.Slot, s.Model, s.Serial)
}

const (
	arcRule    = "----------------------------------------------------------------------\n"
	arcSubRule = "   --------------------------------------------------------\n"
)

func arcKV(w io.Writer, indent int, key, value string) {
	fmt.Fprintf(w, "%s%-*s: %s\n", strings.Repeat(" ", indent), 44-indent, key, value)
}

func (s *ArcconfState) getconfig(w io.Writer) {
	fmt.Fprint(w, arcRule+"Controller Information\n"+arcRule)
	for _, kv := range [][2]string{
		{"Controller Status", "OK"}, {"Controller Mode", "RAID (Expose RAW)"}, {"Channel Description", "SAS/SATA"},
		{"Controller Model", s.Model}, {"Controller Serial Number", s.Serial}, {"Physical Slot", strconv.Itoa(s.Slot)},
		{"Logical Devices/Failed/Degraded", fmt.Sprintf("%d/0/0", len(s.LDs))},
	} {
		arcKV(w, 3, kv[0], kv[1])
	}
	fmt.Fprint(w, arcSubRule+"   Controller Version Information\n"+arcSubRule)
	arcKV(w, 3, "BIOS", s.Firmware)
	arcKV(w, 3, "Firmware", s.Firmware)
	arcKV(w, 3, "Driver", "1.2-1 (40709)")
	fmt.Fprint(w, "\n"+arcRule+"Logical Device Information\n"+arcRule)
	if len(s.LDs) == 0 {
		fmt.Fprint(w, "   No logical devices configured\n\n")
	}
	for _, ld := range s.LDs {
		fmt.Fprintf(w, "Logical Device Number %d\n", ld.Number)
		arcKV(w, 3, "Logical Device Name", ld.Name)
		arcKV(w, 3, "RAID Level", ld.Level)
		arcKV(w, 3, "Status of Logical Device", s.ldStatus(ld))
		arcKV(w, 3, "Size", fmt.Sprintf("%d MB", ld.SizeMB))
		arcKV(w, 3, "Stripe-unit Size", "256 KB")
		fmt.Fprint(w, arcSubRule+"   Logical Device Segment Information\n"+arcSubRule)
		for i, m := range ld.Members {
			d := s.disk(m)
			media := "HDD"
			if d.SSD {
				media = "SSD"
			}
			arcKV(w, 3, fmt.Sprintf("Segment %d", i), fmt.Sprintf("Present (%dMB, %s, %s, Enclosure:%d, Slot:%d)      %s", d.SizeMB, strings.Fields(d.Transfer)[0], media, d.Enclosure, d.Slot, d.Serial))
		}
		fmt.Fprint(w, "\n\n")
	}
	fmt.Fprint(w, arcRule+"Physical Device Information\n"+arcRule)
	for i, d := range s.Disks {
		fmt.Fprintf(w, "      Device #%d\n         Device is a Hard drive\n", i)
		used := uint64(0)
		if d.State == "Online" {
			used = arcconfUsable(d.SizeMB)
		}
		ssd := "No"
		if d.SSD {
			ssd = "Yes"
		}
		for _, kv := range [][2]string{
			{"State", d.State}, {"Block Size", "512 Bytes"}, {"Supported", "Yes"}, {"Transfer Speed", d.Transfer},
			{"Reported Channel,Device(T:L)", fmt.Sprintf("%d,%d(%d:0)", d.Channel, d.Device, d.Device)},
			{"Reported Location", fmt.Sprintf("Enclosure %d, Slot %d", d.Enclosure, d.Slot)},
			{"Vendor", "ATA"}, {"Model", d.Model}, {"Firmware", d.Firmware}, {"Serial Number", d.Serial},
			{"Used Size", fmt.Sprintf("%d MB", used)}, {"Total Size", fmt.Sprintf("%d MB", d.SizeMB)}, {"SSD", ssd},
		} {
			arcKV(w, 9, kv[0], kv[1])
		}
		fmt.Fprint(w, "\n")
	}
}

func (s *ArcconfState) ldStatus(ld ArcconfLD) string {
	for _, m := range ld.Members {
		if d := s.disk(m); d == nil || d.State != "Online" {
			return "Degraded"
		}
	}
	return "Optimal"
}

func (s *ArcconfState) disk(loc string) *ArcconfDisk {
	for i := range s.Disks {
		if s.Disks[i].loc() == loc {
			return &s.Disks[i]
		}
	}
	return nil
}

// arcconfUsable is what a member gives a logical device: check_raid's
// ASR71605 reserves 4628 MB of each 2861588 MB drive.
func arcconfUsable(sizeMB uint64) uint64 { return sizeMB - 4628 }

var arcName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,16}$`)

// create handles "[Name X] <size|MAX> <level> <ch> <dev>… noprompt".
func (s *ArcconfState) create(args []string, w io.Writer) error {
	if len(args) == 0 || !strings.EqualFold(args[0], "LOGICALDRIVE") {
		return fmt.Errorf("CREATE: want LOGICALDRIVE after the controller, got %q", args)
	}
	args = args[1:]
	if len(args) == 0 || !strings.EqualFold(args[len(args)-1], "noprompt") {
		return fmt.Errorf("CREATE: FAKE arcconf answers no prompts: end with noprompt")
	}
	args = args[:len(args)-1]
	name := ""
	if len(args) > 1 && strings.EqualFold(args[0], "Name") {
		name, args = args[1], args[2:]
		if !arcName.MatchString(name) {
			return fmt.Errorf("CREATE: logical device name %q: the firmware keeps 1-16 characters", name)
		}
	}
	if len(args) < 4 || len(args)%2 != 0 {
		return fmt.Errorf("CREATE: want <size|MAX> <RAID#> then channel/device pairs, got %q", args)
	}
	size, level, pairs := args[0], strings.ToUpper(args[1]), args[2:]
	if _, err := strconv.ParseUint(size, 10, 64); err != nil && !strings.EqualFold(size, "MAX") {
		return fmt.Errorf("CREATE: want <size|MAX> after the options, got %q (options other than Name are not answered)", size)
	}
	okN := map[string]func(int) bool{
		"0": func(n int) bool { return n >= 1 }, "1": func(n int) bool { return n == 2 }, "1E": func(n int) bool { return n >= 3 },
		"5": func(n int) bool { return n >= 3 }, "6": func(n int) bool { return n >= 4 }, "10": func(n int) bool { return n >= 4 && n%2 == 0 },
	}[level]
	if okN == nil {
		return fmt.Errorf("CREATE: RAID level %q is not one of 0, 1, 1E, 5, 6, 10", args[1])
	}
	var members []string
	for i := 0; i < len(pairs); i += 2 {
		ch, err1 := strconv.Atoi(pairs[i])
		dev, err2 := strconv.Atoi(pairs[i+1])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("CREATE: %q %q is not a channel and device number", pairs[i], pairs[i+1])
		}
		members = append(members, fmt.Sprintf("%d:%d", ch, dev))
	}
	if !okN(len(members)) {
		return fmt.Errorf("CREATE: %d devices do not make a RAID %s", len(members), level)
	}
	var per uint64
	for i, m := range members {
		d := s.disk(m)
		if d == nil {
			return fmt.Errorf("CREATE: no device at channel %s", strings.Replace(m, ":", " device ", 1))
		}
		if d.State != "Ready" || slices.Contains(members[:i], m) {
			return fmt.Errorf("CREATE: device %s is %s, not Ready", m, d.State)
		}
		if u := arcconfUsable(d.SizeMB); i == 0 || u < per {
			per = u
		}
	}
	n := uint64(len(members))
	maxMB := map[string]uint64{"0": per * n, "1": per, "1E": per * n / 2, "5": per * (n - 1), "6": per * (n - 2), "10": per * n / 2}[level]
	sizeMB := maxMB
	if !strings.EqualFold(size, "MAX") {
		v, err := strconv.ParseUint(size, 10, 64)
		if err != nil || v == 0 || v > maxMB {
			return fmt.Errorf("CREATE: size %q is not MAX or a number of MB up to %d", size, maxMB)
		}
		sizeMB = v
	}
	num := 0
	for slices.ContainsFunc(s.LDs, func(l ArcconfLD) bool { return l.Number == num }) {
		num++
	}
	if name == "" {
		name = fmt.Sprintf("LogicalDrv %d", num)
	}
	s.LDs = append(s.LDs, ArcconfLD{Number: num, Name: name, Level: level, SizeMB: sizeMB, Members: members})
	for _, m := range members {
		s.disk(m).State = "Online"
	}
	fmt.Fprintf(w, "\nCreating logical device: %s\n", name)
	return nil
}

// delete handles "LOGICALDRIVE <n> noprompt".
func (s *ArcconfState) delete(args []string, w io.Writer) error {
	if len(args) != 3 || !strings.EqualFold(args[0], "LOGICALDRIVE") || !strings.EqualFold(args[2], "noprompt") {
		return fmt.Errorf("DELETE: want \"DELETE %d LOGICALDRIVE <n> noprompt\", got %q", s.Index, args)
	}
	num, err := strconv.Atoi(args[1])
	i := slices.IndexFunc(s.LDs, func(l ArcconfLD) bool { return l.Number == num })
	if err != nil || i < 0 {
		return fmt.Errorf("DELETE: no logical device %q", args[1])
	}
	ld := s.LDs[i]
	for _, m := range ld.Members {
		if d := s.disk(m); d != nil {
			d.State = "Ready"
		}
	}
	s.LDs = slices.Delete(s.LDs, i, i+1)
	fmt.Fprintf(w, "\nDeleting: logical device %d (%q)\n", ld.Number, ld.Name)
	return nil
}
