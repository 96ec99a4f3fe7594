package raid

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// tw_cli (3ware 9000-series, later LSI) prints whitespace-aligned tables:
// a header line, a rule of dashes, rows, a blank line. "/cN show" stacks
// the unit, port and BBU tables; "/cN show all" puts "/cN Key = Value"
// lines before them. Drives are addressed by port (pN); units by uN.

func twcliParsers() []parser {
	return []parser{
		{command: "unit-name", detect: func(p *parseCtx) bool {
			for _, l := range p.lines {
				if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
					return twUnitName.MatchString(t)
				}
			}
			return false
		}, parse: parseTwcliUnitName},
		{command: "del", detect: func(p *parseCtx) bool {
			return twDeleted(p.lines) != ""
		}, parse: parseTwcliDel},
		{command: "add", detect: func(p *parseCtx) bool {
			return containsLine(p.lines, "Creating new unit on controller")
		}, parse: parseTwcliAdd},
		{command: "phy", detect: twHeader("Phy"), parse: parseTwcliTables},
		{command: "info", detect: twHeader("Ctl"), parse: parseTwcliTables},
		{command: "ctrl-show", detect: func(p *parseCtx) bool {
			return twHeader("Unit")(p) && (twHeader("VPort")(p) || twHeader("Port")(p)) || containsLine(p.lines, " Firmware Version = ")
		}, parse: parseTwcliTables},
		{command: "unitstatus", detect: twHeader("Unit"), parse: parseTwcliTables},
		{command: "drivestatus", detect: func(p *parseCtx) bool {
			return twHeader("VPort")(p) || twHeader("Port")(p)
		}, parse: parseTwcliTables},
	}
}

// twHeader matches a table header by its first column name, followed by a
// rule line.
func twHeader(first string) func(*parseCtx) bool {
	return func(p *parseCtx) bool {
		l := p.lines
		for i := 0; i+1 < len(l); i++ {
			f := strings.Fields(l[i])
			if len(f) > 1 && f[0] == first && strings.HasPrefix(strings.TrimSpace(l[i+1]), "---") {
				return true
			}
		}
		return false
	}
}

var twPrompt = regexp.MustCompile(`^//\S*> `)

// twV1Unit is a unit line of the first tw_cli (1.x, Escalade 7000-era
// controllers): "Unit  4: JBOD 41.17 GB (80418240 blocks): OK", under a
// "Controller 0" block of "Model:", "FW:" lines and before "Port  N:"
// lines; there are no tables.
var twV1Unit = regexp.MustCompile(`^Unit\s+\d+: `)

// twcliExplain refuses captured interactive sessions: several commands'
// outputs, possibly of different states, cannot be one model. It also
// names the tw_cli 1.x listing, which this package does not read.
func twcliExplain(p *parseCtx) error {
	for i, l := range p.lines {
		if twPrompt.MatchString(l) {
			return p.errf(ErrUnsupported, i+1, "interactive tw_cli session (prompt %q): feed one command's output", strings.Fields(l)[0])
		}
	}
	for i, l := range p.lines {
		if twV1Unit.MatchString(strings.TrimSpace(l)) {
			return p.errf(ErrUnsupported, i+1, "tw_cli 1.x listing ('Unit N: …' lines, as on an Escalade 7810): not read; only the table output of tw_cli 2.x and later is")
		}
	}
	return nil
}

func twcliToolError(p *parseCtx) error {
	if err := twcliExplain(p); err != nil {
		return err
	}
	for _, l := range p.lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "Error:") || strings.HasPrefix(t, "Error (") {
			kind := error(nil)
			if strings.Contains(strings.ToLower(t), "no controller") {
				kind = ErrNoController
			}
			return p.toolErr(t, 0, kind)
		}
		if strings.EqualFold(strings.TrimSuffix(t, "."), "No controller found") {
			return p.toolErr(t, 0, ErrNoController)
		}
	}
	return nil
}

type twTable struct {
	line   int
	header []string
	rows   [][]string
	lines  []int
}

var twKV = regexp.MustCompile(`^/c(\d+) (.+?) = (.*)$`)

// twTables splits the output into tables and "/cN Key = Value" pairs.
func twTables(p *parseCtx) ([]twTable, map[string]string, int, error) {
	var tables []twTable
	kv := map[string]string{}
	ctl := -1
	lines := p.lines
	for i := 0; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if m := twKV.FindStringSubmatch(t); m != nil {
			ctl, _ = strconv.Atoi(m[1])
			kv[m[2]] = strings.TrimSpace(m[3])
			continue
		}
		// A header is followed by a rule; phy's header has a line above it.
		if i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "---") {
			tb := twTable{line: i + 1, header: strings.Fields(t)}
			i += 2
			for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
				tb.rows = append(tb.rows, strings.Fields(lines[i]))
				tb.lines = append(tb.lines, i+1)
			}
			tables = append(tables, tb)
			continue
		}
		if i+2 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+2]), "---") {
			continue // the phy table's two-line header
		}
		return nil, nil, 0, p.errf(ErrMalformed, i+1, "line is neither a table nor '/cN key = value': %q", t)
	}
	if len(tables) == 0 && len(kv) == 0 {
		return nil, nil, 0, p.errf(ErrMalformed, 0, "no table")
	}
	return tables, kv, ctl, nil
}

func col(header []string, name string) int {
	for i, h := range header {
		if h == name {
			return i
		}
	}
	return -1
}

// parseTwcliTables reads every tw_cli table output: controller list,
// /cN show [all], unitstatus, drivestatus, phy.
func parseTwcliTables(p *parseCtx) (*Result, error) {
	tables, kv, ctl, err := twTables(p)
	if err != nil {
		return nil, err
	}
	r := &Result{}
	if ctl < 0 {
		ctl = 0 // unitstatus/drivestatus do not print the controller
	}
	if len(kv) > 0 {
		if kv["Model"] == "" {
			return nil, p.errf(ErrMalformed, 0, "'/c%d Model = …' missing", ctl)
		}
		c := Controller{
			Index: ctl, Model: kv["Model"], Firmware: kv["Firmware Version"], BIOS: kv["Bios Version"],
			Serial: kv["Serial Number"], DriverVersion: kv["Driver Version"], Mode: "RAID",
		}
		// The tool does not name its driver: 3w-sas drives the 9750
		// (SAS2108-based), 3w-9xxx the 9650/9690 (drivers/scsi/3w-sas.c,
		// 3w-9xxx.c).
		if strings.HasPrefix(c.Model, "9750") {
			c.Driver = "3w-sas"
		} else if strings.HasPrefix(c.Model, "9650") || strings.HasPrefix(c.Model, "9690") {
			c.Driver = "3w-9xxx"
		}
		r.Controllers = append(r.Controllers, c)
	}
	unitOf := map[string]int{} // unit id -> index in r.Volumes
	spares := map[string]bool{}
	for _, tb := range tables {
		switch tb.header[0] {
		case "Ctl":
			for j, row := range tb.rows {
				if len(row) < 2 || !strings.HasPrefix(row[0], "c") {
					return nil, p.errf(ErrMalformed, tb.lines[j], "controller row %q", strings.Join(row, " "))
				}
				n, ok := atoiOK(row[0][1:])
				if !ok {
					return nil, p.errf(ErrMalformed, tb.lines[j], "controller %q is not cN", row[0])
				}
				r.Controllers = append(r.Controllers, Controller{Index: n, Model: row[1], Mode: "RAID"})
			}
		case "Unit":
			sizeCol := col(tb.header, "Size(GB)")
			if sizeCol < 0 || col(tb.header, "Status") != 2 {
				return nil, p.errf(ErrMalformed, tb.line, "unit table header without Status/Size(GB): %q", strings.Join(tb.header, " "))
			}
			for j, row := range tb.rows {
				if len(row) != len(tb.header) {
					return nil, p.errf(ErrMalformed, tb.lines[j], "unit row has %d columns, header %d", len(row), len(tb.header))
				}
				if row[1] == "SPARE" {
					spares[row[0]] = true
					continue
				}
				v, err := twUnit(tb.header, row, ctl)
				if err != nil {
					return nil, p.errf(ErrMalformed, tb.lines[j], "%v", err)
				}
				unitOf[v.ID] = len(r.Volumes)
				r.Volumes = append(r.Volumes, v)
			}
		case "Port", "VPort":
			for j, row := range tb.rows {
				d, ok, err := twPort(tb.header[0], row, ctl)
				if err != nil {
					return nil, p.errf(ErrMalformed, tb.lines[j], "%v", err)
				}
				if !ok {
					continue
				}
				if spares[d.Volume] {
					d.State, d.Volume = DiskHotSpare, ""
				}
				r.Disks = append(r.Disks, d)
			}
		case "Phy", "Enclosure", "Name":
			// Links, enclosures, BBU: not part of the model.
		default:
			return nil, p.errf(ErrUnsupported, tb.line, "unknown table %q", strings.Join(tb.header, " "))
		}
	}
	// Members from the port table when the output has both.
	haveDisks := false
	for _, tb := range tables {
		if tb.header[0] == "Port" || tb.header[0] == "VPort" {
			haveDisks = true
		}
	}
	if haveDisks {
		for _, d := range r.Disks {
			if i, ok := unitOf[d.Volume]; ok {
				r.Volumes[i].Members = append(r.Volumes[i].Members, d.Location)
			}
		}
	}
	if len(r.Controllers) == 0 {
		r.Controllers = []Controller{{Index: ctl}}
	}
	return r, nil
}

func twUnit(header, row []string, ctl int) (Volume, error) {
	v := Volume{Controller: ctl, ID: row[0], Level: normLevel(row[1]), RawState: row[2]}
	if !strings.HasPrefix(v.ID, "u") {
		return v, fmt.Errorf("unit %q is not uN", v.ID)
	}
	size, ok := parseSize(row[col(header, "Size(GB)")]+"GB", binaryUnits)
	if !ok {
		return v, fmt.Errorf("unit %s: size %q", v.ID, row[col(header, "Size(GB)")])
	}
	v.SizeBytes = size
	st := strings.ToUpper(v.RawState)
	switch {
	case st == "OK":
		v.State = VolumeOptimal
	case st == "DEGRADED":
		v.State = VolumeDegraded
	case strings.HasPrefix(st, "REBUILD"):
		v.State, v.Operation = VolumeRebuilding, "rebuild"
	case strings.HasPrefix(st, "VERIFY"):
		v.State, v.Operation = VolumeVerifying, "verify"
	case strings.HasPrefix(st, "INITIALIZ") || strings.HasPrefix(st, "INIT-"):
		v.State, v.Operation = VolumeInitializing, "initialize"
	case strings.HasPrefix(st, "MIGRAT"):
		v.State, v.Operation = VolumeOptimal, "migrate"
	case st == "INOPERABLE":
		v.State = VolumeFailed
	case st == "OFFLINE":
		v.State = VolumeOffline
	default:
		v.State = Unknown(v.RawState)
	}
	if v.Operation != "" {
		for _, c := range []string{"%RCmpl", "%V/I/M", "%Cmpl"} {
			if i := col(header, c); i >= 0 && row[i] != "-" {
				// "29%(A)": the verify was started by the auto-verify schedule.
				f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(row[i], "(A)"), "%"), 64)
				if err != nil || f < 0 || f > 100 {
					return v, fmt.Errorf("unit %s: %s %q", v.ID, c, row[i])
				}
				v.Progress = &f
			}
		}
	}
	return v, nil
}

// twPort reads a port row. Old tables: "p0 OK u0 465.76 GB 976773168
// SERIAL"; new: "p8 OK - 136.73 GB SAS - /c0/e0/slt3 MODEL WORDS".
func twPort(kind string, row []string, ctl int) (PhysicalDisk, bool, error) {
	if len(row) < 2 || !strings.HasPrefix(row[0], "p") {
		return PhysicalDisk{}, false, fmt.Errorf("port row %q", strings.Join(row, " "))
	}
	if _, ok := atoiOK(row[0][1:]); !ok {
		return PhysicalDisk{}, false, fmt.Errorf("port %q is not pN", row[0])
	}
	if row[1] == "NOT-PRESENT" {
		return PhysicalDisk{}, false, nil
	}
	want := 7
	if kind == "VPort" {
		want = 8
	}
	if len(row) < want {
		return PhysicalDisk{}, false, fmt.Errorf("port %s: %d columns, want at least %d", row[0], len(row), want)
	}
	d := PhysicalDisk{Controller: ctl, Location: row[0], RawState: row[1]}
	if row[2] != "-" {
		d.Volume = row[2]
	}
	size, ok := parseSize(row[3]+row[4], binaryUnits)
	if !ok {
		return d, false, fmt.Errorf("port %s: size %q", d.Location, row[3]+" "+row[4])
	}
	d.SizeBytes = size
	if kind == "Port" {
		blocks, err := strconv.ParseUint(row[5], 10, 64)
		if err != nil || blocks > 1<<50 {
			return d, false, fmt.Errorf("port %s: blocks %q", d.Location, row[5])
		}
		d.SizeBytes = blocks * 512
		d.Serial = strings.Join(row[6:], " ")
	} else {
		d.Interface = strings.ToLower(row[5])
		d.Model = strings.Join(row[8:], " ")
		if m := twEnclSlot.FindStringSubmatch(row[7]); m != nil {
			d.Slot = m[1] + ":" + m[2]
		}
	}
	switch strings.ToUpper(d.RawState) {
	case "OK", "VERIFYING", "INITIALIZING":
		d.State = DiskReady
		if d.Volume != "" {
			d.State = DiskOnline
		}
	case "REBUILDING":
		d.State = DiskRebuilding
	case "DEGRADED", "ECC-ERROR", "SMART-FAILURE", "DEVICE-ERROR", "DRIVE-ERROR":
		d.State = DiskFailed
	case "OFFLINE":
		d.State = DiskOffline
	default:
		d.State = Unknown(d.RawState)
	}
	return d, true, nil
}

// twEnclSlot is the VPort table's Encl-Slot, "/c0/e1/slt3"; direct-attached
// drives show "-".
var twEnclSlot = regexp.MustCompile(`^/c\d+/e(\d+)/slt(\d+)$`)

// twUnitName is "/cN/uM show name": "/c0/u5 name = Joe" (CLI Guide 10.2,
// "/cx/ux show name"); a unit without a name prints nothing after "=".
var twUnitName = regexp.MustCompile(`^/c(\d+)/(u\d+) name =\s*(.*)$`)

func parseTwcliUnitName(p *parseCtx) (*Result, error) {
	r := &Result{}
	for i, l := range p.lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		m := twUnitName.FindStringSubmatch(t)
		if m == nil {
			return nil, p.errf(ErrMalformed, i+1, "not a '/cN/uM name = NAME' line: %q", t)
		}
		n, _ := strconv.Atoi(m[1])
		if len(r.Controllers) == 0 {
			r.Controllers = []Controller{{Index: n}}
		}
		r.Volumes = append(r.Volumes, Volume{Controller: n, ID: m[2], Name: strings.TrimSpace(m[3]), State: VolumeUnknown})
	}
	return r, nil
}

// twDeleted finds "/cN/uM del quiet"'s report, "Deleting /c0/u1 ... Done."
// (the legacy "maint deleteunit" prints "Deleting unit c4/u1 ...Done.");
// "" when there is none.
func twDeleted(lines []string) string {
	for _, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "Deleting ") && strings.Contains(t, "Done") {
			return t
		}
	}
	return ""
}

func parseTwcliDel(p *parseCtx) (*Result, error) {
	msg := twDeleted(p.lines)
	if msg == "" {
		return nil, p.errf(ErrTruncated, 0, "no 'Deleting … Done.' line")
	}
	return &Result{Controllers: []Controller{{}}, Message: msg}, nil
}

var twNewUnit = regexp.MustCompile(`The new unit is /c(\d+)/(u\d+)`)

func parseTwcliAdd(p *parseCtx) (*Result, error) {
	for _, l := range p.lines {
		if m := twNewUnit.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			return &Result{Controllers: []Controller{{Index: n}}, Message: "new unit /c" + m[1] + "/" + m[2]}, nil
		}
	}
	return nil, p.errf(ErrTruncated, 0, "no 'The new unit is /cN/uN' line")
}
