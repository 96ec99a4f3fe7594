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
				if ssaPDBlock.MatchString(strings.TrimSpace(s)) {
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
	ssaLDLine     = regexp.MustCompile(`^logicaldrive (\d+) \(([^,]+), (RAID [^,]+), (.+)\)$`)
	ssaPDBlock    = regexp.MustCompile(`^physicaldrive (\S+)$`)
	ssaPDMember   = regexp.MustCompile(`^physicaldrive (\S+) \((.*)\)$`)
	ssaArray      = regexp.MustCompile(`(?i)^array:? (\w+)$`)
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

func indent(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

// parseSsacli reads every ssacli outline output; which parts are present
// depends on the command.
func parseSsacli(p *parseCtx) (*Result, error) {
	r := &Result{}
	ctl := -1
	type block struct {
		kind   string // "ctrl", "array", "ld", "pd", "sep"
		indent int
		line   int
		kv     map[string]string
		vol    int // index in r.Volumes for "ld"
		id     string
		array  string
	}
	var cur *block
	var pds, ldBlocks []*block
	ctrlKV := map[int]map[string]string{}
	array := ""
	seenHeader := false
	for i, raw := range p.lines {
		ln := i + 1
		t := strings.TrimSpace(raw)
		if t == "" {
			continue
		}
		if indent(raw) == 0 {
			if m := ssaCtrlHeader.FindStringSubmatch(t); m != nil && !strings.Contains(t, ":") {
				seenHeader = true
				slot, ok := atoiOK(m[2])
				if !ok {
					return nil, p.errf(ErrMalformed, ln, "controller slot %q is not a number", m[2])
				}
				ctl = slot
				c := Controller{Index: slot, Model: strings.TrimPrefix(strings.TrimPrefix(m[1], "HPE "), "HP "), Mode: "RAID"}
				if strings.Contains(m[3], "(HBA Mode)") {
					c.Mode = "HBA"
				}
				r.Controllers = append(r.Controllers, c)
				ctrlKV[slot] = map[string]string{}
				cur = &block{kind: "ctrl", indent: 0}
				array = ""
				continue
			}
			if !seenHeader {
				continue // captured command line or advisory banner
			}
			return nil, p.errf(ErrMalformed, ln, "unexpected line at column 0: %q", t)
		}
		if !seenHeader {
			continue // banner continuation lines
		}
		in := indent(raw)
		if cur != nil && cur.kind == "sep" && in > cur.indent {
			continue // enclosure processor details
		}
		if m := ssaArray.FindStringSubmatch(t); m != nil {
			array = m[1]
			cur = &block{kind: "array", indent: in, kv: map[string]string{}}
			continue
		}
		if t == "unassigned" || t == "Unassigned" {
			array, cur = "", nil
			continue
		}
		if m := ssaLDLine.FindStringSubmatch(t); m != nil {
			v, err := ssaVolume(ctl, m[1], m[2], m[3], m[4])
			if err != nil {
				return nil, p.errf(ErrMalformed, ln, "%v", err)
			}
			r.Volumes = append(r.Volumes, v)
			cur = nil
			continue
		}
		if m := ssaLDBlock.FindStringSubmatch(t); m != nil {
			r.Volumes = append(r.Volumes, Volume{Controller: ctl, ID: m[1]})
			cur = &block{kind: "ld", indent: in, line: ln, kv: map[string]string{}, vol: len(r.Volumes) - 1, array: array}
			ldBlocks = append(ldBlocks, cur)
			continue
		}
		if m := ssaPDBlock.FindStringSubmatch(t); m != nil {
			cur = &block{kind: "pd", indent: in, line: ln, kv: map[string]string{}, id: m[1], array: array}
			pds = append(pds, cur)
			continue
		}
		if strings.HasPrefix(t, "SEP ") || strings.HasPrefix(t, "Expander ") || strings.HasPrefix(t, "Enclosure ") ||
			strings.Contains(t, "Drive Cage at Port") || t == "Physical Drives" {
			cur = &block{kind: "sep", indent: in}
			continue
		}
		if cur == nil {
			return nil, p.errf(ErrMalformed, ln, "line outside any controller, array or drive: %q", t)
		}
		// A block's fields are indented below its header; a shallower
		// line that is no header is a layout this parser does not know.
		if cur.kind != "ctrl" && in <= cur.indent {
			return nil, p.errf(ErrMalformed, ln, "line at indentation %d after a %s block at %d: %q", in, cur.kind, cur.indent, t)
		}
		if cur.kind == "ld" {
			if m := ssaPDMember.FindStringSubmatch(t); m != nil {
				v := &r.Volumes[cur.vol]
				v.Members = append(v.Members, m[1])
				continue
			}
		}
		k, v, ok := keyValue(t)
		if !ok {
			if cur.kind == "sep" {
				continue
			}
			return nil, p.errf(ErrMalformed, ln, "line without ':': %q", t)
		}
		switch cur.kind {
		case "ctrl":
			ctrlKV[ctl][k] = v
		case "ld", "pd":
			if _, dup := cur.kv[k]; !dup {
				cur.kv[k] = v
			}
		}
	}
	if !seenHeader {
		return nil, p.errf(ErrUnsupported, 0, "no 'NAME in Slot N' controller header: not ssacli output")
	}
	for i := range r.Controllers {
		kv := ctrlKV[r.Controllers[i].Index]
		c := &r.Controllers[i]
		c.Serial = kv["Serial Number"]
		c.Firmware = kv["Firmware Version"]
		c.Driver = kv["Driver Name"]
		c.DriverVersion = kv["Driver Version"]
		c.Status = strings.ToLower(kv["Controller Status"])
		if strings.EqualFold(kv["Controller Mode"], "HBA") || strings.EqualFold(kv["HBA Mode Enabled"], "True") {
			c.Mode = "HBA"
		}
	}
	// Logical drives from "Logical Drive: N" blocks (config detail).
	for _, b := range ldBlocks {
		v := &r.Volumes[b.vol]
		v.Level = normLevel(b.kv["Fault Tolerance"])
		v.RawState = b.kv["Status"]
		n, ok := parseSize(strings.ReplaceAll(b.kv["Size"], " ", ""), binaryUnits)
		if !ok || v.Level == "" {
			return nil, p.errf(ErrMalformed, b.line, "logical drive %s: size %q, fault tolerance %q", v.ID, b.kv["Size"], b.kv["Fault Tolerance"])
		}
		v.SizeBytes = n
		if err := ssaVolumeState(v); err != nil {
			return nil, p.errf(ErrUnsupported, b.line, "%v", err)
		}
	}
	for _, b := range pds {
		d, err := ssaDisk(p, ctl, b.id, b.array, b.kv)
		if err != nil {
			return nil, p.errf(ErrMalformed, b.line, "%v", err)
		}
		r.Disks = append(r.Disks, d)
	}
	// A logical drive that names no members (only mirror and parity
	// groups list them) spans every data drive of its array: Smart Array
	// carves each logical drive across the whole array.
	for _, b := range ldBlocks {
		v := &r.Volumes[b.vol]
		if len(v.Members) > 0 {
			continue
		}
		for _, pd := range pds {
			if pd.array == b.array && b.array != "" && !strings.Contains(pd.kv["Drive Type"], "Spare") {
				v.Members = append(v.Members, pd.id)
			}
		}
	}
	return r, nil
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
	return v, ssaVolumeState(&v)
}

// ssaVolumeState maps logical drive statuses ("OK", "Interim Recovery
// Mode" = degraded and running on parity, "Recovering, 12% complete",
// "Failed", "Ready for Rebuild").
func ssaVolumeState(v *Volume) error {
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
		return fmt.Errorf("logical drive %s: unknown status %q", v.ID, s)
	}
	if m := ssaPercent.FindStringSubmatch(s); m != nil && v.Operation != "" {
		f, err := strconv.ParseFloat(m[1], 64)
		if err == nil && f <= 100 {
			v.Progress = &f
		}
	}
	return nil
}

func ssaDisk(p *parseCtx, ctl int, id, array string, kv map[string]string) (PhysicalDisk, error) {
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
		if strings.EqualFold(kv["Drive exposed to OS"], "True") || strings.Contains(kv["Drive Type"], "HBA Mode") {
			d.State = DiskOnline
		}
	case st == "Failed":
		d.State = DiskFailed
	case strings.HasPrefix(st, "Rebuilding"):
		d.State = DiskRebuilding
	default:
		return d, fmt.Errorf("physicaldrive %s: unknown Status %q", id, st)
	}
	return d, nil
}
