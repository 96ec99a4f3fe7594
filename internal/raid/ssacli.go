package raid

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ssacli (HPE Smart Storage Administrator CLI; hpssacli and hpacucli are
// its older names) prints an indented outline: a controller header at
// column 0 ("Smart Array P822 in Slot 2 (Embedded)"), arrays, logical and
// physical drives below it, "Key: Value" details further indented. Older
// firmwares put an advisory banner before the first header. Drives are
// addressed as port:box:bay ("5I:1:1"), logical drives by number.

func ssacliParsers() []parser {
	return []parser{
		{command: "config-detail", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsLine(l, "Logical Drive: ") || containsLine(l, "Bus Interface: ")
		}, parse: parseSsacli},
		{command: "ld-show", detect: func(p *parseCtx) bool {
			l := p.lines
			for _, s := range l {
				if ssaLDLine.MatchString(strings.TrimSpace(s)) {
					return true
				}
			}
			return false
		}, parse: parseSsacli},
		{command: "pd-show", detect: func(p *parseCtx) bool {
			l := p.lines
			for _, s := range l {
				if t := strings.TrimSpace(s); ssaPDBlock.MatchString(t) || ssaPDMember.MatchString(t) {
					return true
				}
			}
			return false
		}, parse: parseSsacli},
		{command: "status", detect: func(p *parseCtx) bool {
			return containsLine(p.lines, "Controller Status: ")
		}, parse: parseSsacli},
	}
}

var (
	ssaCtrlHeader = regexp.MustCompile(`^(.+?) in Slot (\S+)(.*)$`)
	// ssaCtrlNoSlot is an older hpacucli header that names no slot
	// ("Smart Array 6i" alone on its line).
	ssaCtrlNoSlot = regexp.MustCompile(`^(?:HPE? )?(?:Dynamic )?Smart (?:Array|HBA)\b[^:]*$`)
	ssaSerial     = regexp.MustCompile(`\s*\(sn: [^)]*\)\s*$`)
	ssaLDLine     = regexp.MustCompile(`^logicaldrive (\d+) \(([^,]+), (RAID [^,]+), (.+)\)$`)
	ssaPDBlock    = regexp.MustCompile(`^physicaldrive (\S+)$`)
	ssaPDMember   = regexp.MustCompile(`^physicaldrive (\S+) \((.*)\)$`)
	ssaArray      = regexp.MustCompile(`(?i)^array:? (\w+)(?: \((.*)\))?$`)
	ssaLDBlock    = regexp.MustCompile(`^Logical Drive: (\d+)$`)
	ssaPercent    = regexp.MustCompile(`(\d+(?:\.\d+)?)% complete`)
)

// ssacliToolError: "Error: …" (continued on indented lines) in place of
// the output.
func ssacliToolError(p *parseCtx) error {
	for i, l := range p.lines {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "Error:") {
			continue
		}
		msg := strings.TrimSpace(strings.TrimPrefix(t, "Error:"))
		for j := i + 1; j < len(p.lines) && strings.HasPrefix(p.lines[j], " ") && strings.TrimSpace(p.lines[j]) != ""; j++ {
			msg += " " + strings.TrimSpace(p.lines[j])
		}
		kind := error(nil)
		if strings.Contains(msg, "No controllers detected") {
			kind = ErrNoController
		}
		return p.toolErr(msg, 0, kind)
	}
	return nil
}

func indent(s string) int { return len(s) - len(strings.TrimLeft(s, " \t")) }

// ssaBlock is one header and the "Key: Value" lines indented below it.
type ssaBlock struct {
	kind   string // "ctrl", "array", "ld", "pd", "sep"
	indent int
	line   int
	kv     map[string]string
	vol    int // index in Result.Volumes for "ld"
	id     string
	array  string
	ctl    int    // controller of a "pd" block
	group  string // "hba" for drives under "HBA Drives"
}

// ssaOutline is the state of one pass over an ssacli outline.
type ssaOutline struct {
	p          *parseCtx
	r          *Result
	ctl        int
	cur        *ssaBlock
	pds, lds   []*ssaBlock
	ctrlKV     map[int]map[string]string
	array      string
	group      string
	seenHeader bool
	noSlot     int // controllers numbered without a slot so far
}

// parseSsacli reads every ssacli outline output; which parts are present
// depends on the command: controllers, then logical drives, then physical
// drives are completed from what the pass collected.
func parseSsacli(p *parseCtx) (*Result, error) {
	o := &ssaOutline{p: p, r: &Result{}, ctl: -1, ctrlKV: map[int]map[string]string{}}
	for i, raw := range p.lines {
		if err := o.line(i+1, raw); err != nil {
			return nil, err
		}
	}
	if !o.seenHeader {
		return nil, p.errf(ErrUnsupported, 0, "no 'NAME in Slot N' controller header: not ssacli output")
	}
	o.controllers()
	if err := o.logicalDrives(); err != nil {
		return nil, err
	}
	if err := o.physicalDrives(); err != nil {
		return nil, err
	}
	o.spanArrays()
	return o.r, nil
}

// line reads one line of the outline.
func (o *ssaOutline) line(ln int, raw string) error {
	t := strings.TrimSpace(raw)
	if t == "" {
		return nil
	}
	in := indent(raw)
	if in == 0 {
		return o.topLine(ln, t)
	}
	if !o.seenHeader {
		return nil // banner continuation lines
	}
	if o.cur != nil && o.cur.kind == "sep" && in > o.cur.indent {
		return nil // enclosure processor details
	}
	if ok, err := o.header(ln, in, t); ok || err != nil {
		return err
	}
	return o.field(ln, in, t)
}

// topLine reads a line at column 0: a controller header, or before the
// first one a captured command line or advisory banner.
func (o *ssaOutline) topLine(ln int, t string) error {
	name := ssaSerial.ReplaceAllString(t, "")
	if m := ssaCtrlHeader.FindStringSubmatch(name); m != nil && !strings.Contains(name, ":") {
		slot, ok := atoiOK(m[2])
		if !ok {
			return o.p.errf(ErrUnsupported, ln, "controller slot %q is not a number: ssacli cannot be told which controller to change", m[2])
		}
		o.addController(slot, m[1], m[3])
		return nil
	}
	if ssaCtrlNoSlot.MatchString(name) {
		// Older hpacucli prints no slot for some boards: number them
		// -1, -2, … so no plan's controller index can name one by
		// accident.
		o.noSlot++
		o.p.warnf("line %d: controller %q names no slot; reported as controller %d, which apply cannot address", ln, name, -o.noSlot)
		o.addController(-o.noSlot, name, "")
		return nil
	}
	if !o.seenHeader {
		return nil
	}
	return o.p.errf(ErrMalformed, ln, "unexpected line at column 0: %q", t)
}

func (o *ssaOutline) addController(slot int, model, rest string) {
	o.seenHeader = true
	o.ctl = slot
	c := Controller{Index: slot, Model: strings.TrimPrefix(strings.TrimPrefix(model, "HPE "), "HP "), Mode: "RAID"}
	if strings.Contains(rest, "(HBA Mode)") {
		c.Mode = "HBA"
	}
	o.r.Controllers = append(o.r.Controllers, c)
	o.ctrlKV[slot] = map[string]string{}
	o.cur = &ssaBlock{kind: "ctrl"}
	o.array, o.group = "", ""
}

// header reads an indented line that opens a block (array, logical or
// physical drive, enclosure) or is a one-line drive summary.
func (o *ssaOutline) header(ln, in int, t string) (bool, error) {
	if m := ssaArray.FindStringSubmatch(t); m != nil {
		o.array, o.group = m[1], ""
		o.cur = &ssaBlock{kind: "array", indent: in, kv: map[string]string{}, id: ssaArrayState(m[2])}
		return true, nil
	}
	switch t {
	case "unassigned", "Unassigned":
		o.array, o.group, o.cur = "", "", nil
		return true, nil
	case "HBA Drives":
		o.array, o.group, o.cur = "", "hba", nil
		return true, nil
	}
	if m := ssaLDLine.FindStringSubmatch(t); m != nil {
		v, err := ssaVolume(o.ctl, m[1], m[2], m[3], m[4])
		if err != nil {
			return true, o.p.errf(ErrMalformed, ln, "%v", err)
		}
		o.setArray(&v)
		o.r.Volumes = append(o.r.Volumes, v)
		o.cur = nil
		return true, nil
	}
	if m := ssaLDBlock.FindStringSubmatch(t); m != nil {
		v := Volume{Controller: o.ctl, ID: m[1]}
		o.setArray(&v)
		o.r.Volumes = append(o.r.Volumes, v)
		o.cur = &ssaBlock{kind: "ld", indent: in, line: ln, kv: map[string]string{}, vol: len(o.r.Volumes) - 1, array: o.array}
		o.lds = append(o.lds, o.cur)
		return true, nil
	}
	if m := ssaPDBlock.FindStringSubmatch(t); m != nil {
		o.cur = &ssaBlock{kind: "pd", indent: in, line: ln, kv: map[string]string{}, id: m[1], array: o.array, ctl: o.ctl, group: o.group}
		o.pds = append(o.pds, o.cur)
		return true, nil
	}
	if m := ssaPDMember.FindStringSubmatch(t); m != nil && (o.cur == nil || o.cur.kind != "ld") {
		// "physicaldrive 1I:1:1 (port 1I:box 1:bay 1, SAS, 900.1 GB,
		// OK)": the one-line form of "show config" and "pd all show".
		b := &ssaBlock{kind: "pd", indent: in, line: ln, kv: ssaPDSummary(m[2]), id: m[1], array: o.array, ctl: o.ctl, group: o.group}
		o.pds = append(o.pds, b)
		o.cur = nil
		return true, nil
	}
	if strings.HasPrefix(t, "SEP ") || strings.HasPrefix(t, "Expander ") || strings.HasPrefix(t, "Enclosure ") ||
		strings.Contains(t, "Drive Cage at Port") || t == "Physical Drives" {
		o.cur = &ssaBlock{kind: "sep", indent: in}
		return true, nil
	}
	return false, nil
}

// setArray records the array a logical drive lives in and that array's
// status when its header printed one.
func (o *ssaOutline) setArray(v *Volume) {
	v.Array = o.array
	if o.cur != nil && o.cur.kind == "array" && o.cur.array == "" {
		v.ArrayState = o.cur.id
		return
	}
	for i := len(o.r.Volumes) - 1; i >= 0; i-- {
		if w := o.r.Volumes[i]; w.Controller == o.ctl && w.Array == o.array {
			v.ArrayState = w.ArrayState
			return
		}
	}
}

// field reads a "Key: Value" line, or a member of a logical drive, below
// the current block.
func (o *ssaOutline) field(ln, in int, t string) error {
	cur := o.cur
	if cur == nil {
		return o.p.errf(ErrMalformed, ln, "line outside any controller, array or drive: %q", t)
	}
	// A block's fields are indented below its header; a shallower line
	// that is no header is a layout this parser does not know.
	if cur.kind != "ctrl" && in <= cur.indent {
		return o.p.errf(ErrMalformed, ln, "line at indentation %d after a %s block at %d: %q", in, cur.kind, cur.indent, t)
	}
	if cur.kind == "ld" {
		if m := ssaPDMember.FindStringSubmatch(t); m != nil {
			v := &o.r.Volumes[cur.vol]
			v.Members = append(v.Members, m[1])
			return nil
		}
	}
	k, v, ok := keyValue(t)
	if !ok {
		if cur.kind == "sep" {
			return nil
		}
		return o.p.errf(ErrMalformed, ln, "line without ':': %q", t)
	}
	switch cur.kind {
	case "ctrl":
		o.ctrlKV[o.ctl][k] = v
	case "ld", "pd":
		if _, dup := cur.kv[k]; !dup {
			cur.kv[k] = v
		}
	}
	return nil
}

// controllers fills each controller from its "Key: Value" details.
func (o *ssaOutline) controllers() {
	for i := range o.r.Controllers {
		c := &o.r.Controllers[i]
		kv := o.ctrlKV[c.Index]
		c.Serial = kv["Serial Number"]
		c.Firmware = kv["Firmware Version"]
		c.Driver = kv["Driver Name"]
		c.DriverVersion = kv["Driver Version"]
		c.Status = strings.ToLower(kv["Controller Status"])
		if strings.EqualFold(kv["Controller Mode"], "HBA") || strings.EqualFold(kv["HBA Mode Enabled"], "True") {
			c.Mode = "HBA"
		}
	}
}

// logicalDrives completes the "Logical Drive: N" blocks of config detail.
func (o *ssaOutline) logicalDrives() error {
	for _, b := range o.lds {
		v := &o.r.Volumes[b.vol]
		v.Level = normLevel(b.kv["Fault Tolerance"])
		v.RawState = b.kv["Status"]
		n, ok := parseSize(strings.ReplaceAll(b.kv["Size"], " ", ""), binaryUnits)
		if !ok || v.Level == "" {
			return o.p.errf(ErrMalformed, b.line, "logical drive %s: size %q, fault tolerance %q", v.ID, b.kv["Size"], b.kv["Fault Tolerance"])
		}
		v.SizeBytes = n
		ssaVolumeState(v)
	}
	return nil
}

func (o *ssaOutline) physicalDrives() error {
	for _, b := range o.pds {
		d, err := ssaDisk(o.p, o.ctl, b)
		if err != nil {
			return o.p.errf(ErrMalformed, b.line, "%v", err)
		}
		o.r.Disks = append(o.r.Disks, d)
	}
	return nil
}

// spanArrays gives a logical drive that names no members (only mirror
// and parity groups list them) every data drive of its array on its
// controller: Smart Array carves each logical drive across the whole
// array. Both the "Logical Drive: N" blocks of config detail and the
// one-line "logicaldrive N (…)" of show config are completed; a listing
// without physical drives (ld all show) leaves them memberless.
func (o *ssaOutline) spanArrays() {
	for i := range o.r.Volumes {
		v := &o.r.Volumes[i]
		if len(v.Members) > 0 || v.Array == "" {
			continue
		}
		for _, pd := range o.pds {
			if pd.ctl == v.Controller && pd.array == v.Array && !strings.Contains(pd.kv["Drive Type"], "Spare") {
				v.Members = append(v.Members, pd.id)
			}
		}
	}
}

// ssaArrayState reads the parenthesis of an array header: "(SAS, Unused
// Space: 0 MB)" describes it, "(Failed)" or "(…, Status: Failed)" gives
// its status. OK and no status are "".
func ssaArrayState(paren string) string {
	st := ""
	for _, f := range strings.Split(paren, ",") {
		f = strings.TrimSpace(f)
		k, v, ok := strings.Cut(f, ":")
		switch {
		case ok && strings.TrimSpace(k) == "Status":
			st = strings.TrimSpace(v)
		case ok || f == "" || ssaMediaWord(f):
		default:
			st = f
		}
	}
	switch {
	case st == "" || st == "OK":
		return ""
	case st == "Failed":
		return VolumeFailed
	}
	return Unknown(st)
}

func ssaMediaWord(f string) bool {
	switch f {
	case "SAS", "SATA", "SCSI", "Solid State SAS", "Solid State SATA", "Solid State NVMe", "NVMe", "Mixed":
		return true
	}
	return false
}

// ssaPDSummary turns "port 1I:box 1:bay 1, SAS, 900.1 GB, OK" (with
// ", spare" or similar after the status on some drives) into the keys of
// the detailed form.
func ssaPDSummary(s string) map[string]string {
	kv := map[string]string{}
	f := strings.Split(s, ", ")
	for i, x := range f {
		x = strings.TrimSpace(x)
		switch {
		case i == 0 && strings.HasPrefix(x, "port "):
			for _, part := range strings.Split(x, ":") {
				if k, v, ok := strings.Cut(part, " "); ok {
					kv[strings.ToUpper(k[:1])+k[1:]] = v
				}
			}
		case i == 1:
			kv["Interface Type"] = x
		case i == 2:
			kv["Size"] = x
		case i == 3:
			kv["Status"] = x
		case x == "spare":
			kv["Drive Type"] = "Spare Drive"
		}
	}
	return kv
}

// ssaVolume reads "logicaldrive 1 (558.9 GB, RAID 1, OK)". Logical drive
// sizes are binary: that RAID 1 of two 600 GB (6e11-byte) drives is 558.9
// GiB, and proliantutils creates "size=" GB×1024 and reads "50.0 GB" back
// for 50 of its GB. Physical drive sizes are the decimal label.
func ssaVolume(ctl int, id, size, level, status string) (Volume, error) {
	v := Volume{Controller: ctl, ID: id, Level: normLevel(strings.TrimPrefix(level, "RAID ")), RawState: status}
	n, ok := parseSize(strings.ReplaceAll(size, " ", ""), binaryUnits)
	if !ok {
		return v, fmt.Errorf("logical drive %s: size %q", id, size)
	}
	v.SizeBytes = n
	ssaVolumeState(&v)
	return v, nil
}

// ssaVolumeState maps logical drive statuses ("OK", "Interim Recovery
// Mode" = degraded and running on parity, "Recovering, 12% complete",
// "Failed", "Ready for Rebuild"); any other ("Erase In Progress") is kept
// as Unknown.
func ssaVolumeState(v *Volume) {
	s := v.RawState
	switch {
	case s == "OK":
		v.State = VolumeOptimal
	case s == "Interim Recovery Mode" || s == "Ready for Rebuild" || s == "Degraded":
		v.State = VolumeDegraded
	case strings.HasPrefix(s, "Recovering"):
		v.State, v.Operation = VolumeRebuilding, "rebuild"
	case strings.HasPrefix(s, "Transforming") || strings.HasPrefix(s, "Expanding"):
		v.State, v.Operation = VolumeOptimal, strings.ToLower(strings.Fields(s)[0])
	case s == "Failed":
		v.State = VolumeFailed
	case strings.HasPrefix(s, "Initializing") || strings.HasPrefix(s, "Parity Initialization"):
		v.State, v.Operation = VolumeInitializing, "initialize"
	default:
		v.State = Unknown(s)
	}
	if m := ssaPercent.FindStringSubmatch(s); m != nil && v.Operation != "" {
		f, err := strconv.ParseFloat(m[1], 64)
		if err == nil && f <= 100 {
			v.Progress = &f
		}
	}
}

func ssaDisk(p *parseCtx, ctl int, b *ssaBlock) (PhysicalDisk, error) {
	id, array, kv := b.id, b.array, b.kv
	d := PhysicalDisk{
		Controller: ctl, Location: id, RawState: kv["Status"],
		Serial: kv["Serial Number"], Firmware: kv["Firmware Revision"],
		Model: strings.Join(strings.Fields(kv["Model"]), " "),
	}
	if port, box, bay := kv["Port"], kv["Box"], kv["Bay"]; port != "" && port+":"+box+":"+bay != id {
		p.warnf("physicaldrive %s: its Port/Box/Bay say %s:%s:%s", id, port, box, bay)
	}
	// Box and bay are the enclosure and slot a plan names members by.
	if box, bay := kv["Box"], kv["Bay"]; box != "" && bay != "" {
		d.Slot = box + ":" + bay
	} else if f := strings.Split(id, ":"); len(f) == 3 {
		d.Slot = f[1] + ":" + f[2]
	}
	it := kv["Interface Type"]
	switch {
	case strings.Contains(it, "Solid State"):
		d.Media = "ssd"
	case kv["Rotational Speed"] != "":
		d.Media = "hdd"
	}
	switch {
	case strings.Contains(it, "SATA"):
		d.Interface = "sata"
	case strings.Contains(it, "SAS"):
		d.Interface = "sas"
	case strings.Contains(it, "NVMe"):
		d.Interface = "nvme"
	}
	if s := kv["Size"]; s != "" {
		n, ok := parseSize(strings.ReplaceAll(s, " ", ""), decimalUnits)
		if !ok {
			return d, fmt.Errorf("physicaldrive %s: size %q", id, s)
		}
		d.SizeBytes = n
	}
	switch st := d.RawState; {
	case st == "OK" || st == "Predictive Failure":
		d.State = DiskReady
		if array != "" || strings.HasPrefix(kv["Drive Type"], "Data Drive") && array != "" {
			d.State = DiskOnline
		}
		if strings.Contains(kv["Drive Type"], "Spare") {
			d.State = DiskHotSpare
		}
		if strings.EqualFold(kv["Drive exposed to OS"], "True") || strings.Contains(kv["Drive Type"], "HBA Mode") || b.group == "hba" {
			d.State = DiskOnline
		}
	case st == "Failed":
		d.State = DiskFailed
	case strings.HasPrefix(st, "Rebuilding"):
		d.State = DiskRebuilding
	default:
		d.State = Unknown(st)
	}
	return d, nil
}
