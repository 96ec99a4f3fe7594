package raid

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// arcconf (Adaptec/Microsemi/Microchip) prints "Controllers found: N",
// dash-ruled sections of "Key : value" lines, and ends every successful run
// with "Command completed successfully.". Its spelling drifts between
// versions ("Controller information"/"Controller Information", "Logical
// device number"/"Logical Device Number") and so does the way a logical
// device names its members, so keys are matched case-insensitively and
// members are resolved against the physical device list. GETCONFIG does
// not print the controller number it was asked for: Index is 0 there and
// the caller, which chose the number, knows it.

func arcconfParsers() []parser {
	return []parser{
		{command: "getconfig", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsFold(l, "Logical device information") || containsFold(l, "Physical Device information")
		}, parse: parseArcconfConfig},
		{command: "getstatus", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsFold(l, "Logical Device Task") || containsFold(l, "Current operation")
		}, parse: parseArcconfStatus},
		{command: "create", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsFold(l, "Creating logical device")
		}, parse: parseArcconfCreate},
		{command: "delete", detect: func(p *parseCtx) bool {
			return arcconfDeleting(p.lines) != ""
		}, parse: parseArcconfDelete},
		{command: "list", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsFold(l, "Controller ID") && containsFold(l, "Controller information")
		}, parse: parseArcconfList},
	}
}

// arcKV splits at the first colon followed by a blank or the line end, so
// "Reported Channel,Device(T:L) : 0,0(0:0)" keeps its key whole.
func arcKV(line string) (key, value string, ok bool) {
	for i := 0; i < len(line); i++ {
		if line[i] == ':' && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t') {
			return strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:]), true
		}
	}
	return "", "", false
}

func containsFold(lines []string, sub string) bool {
	sub = strings.ToLower(sub)
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l), sub) {
			return true
		}
	}
	return false
}

var arcconfFound = regexp.MustCompile(`(?i)^Controllers found:\s*(\d+)`)

// arcconfToolError: "Controllers found: 0" and the tool's failure lines.
func arcconfToolError(p *parseCtx) error {
	for _, l := range p.lines {
		t := strings.TrimSpace(l)
		if m := arcconfFound.FindStringSubmatch(t); m != nil && m[1] == "0" {
			return p.toolErr(t, 0, ErrNoController)
		}
		lt := strings.ToLower(t)
		if strings.HasPrefix(lt, "command aborted") || strings.HasPrefix(lt, "command failed") ||
			strings.HasPrefix(lt, "invalid controller number") || strings.HasPrefix(lt, "error:") {
			return p.toolErr(t, 0, nil)
		}
	}
	return nil
}

// arcconfBody returns the lines from "Controllers found" to the completion
// line.
func arcconfBody(p *parseCtx) ([]string, int, error) {
	start := -1
	for i, l := range p.lines {
		if arcconfFound.MatchString(strings.TrimSpace(l)) {
			start = i + 1
			break
		}
	}
	if start < 0 {
		return nil, 0, p.errf(ErrUnsupported, 0, "no 'Controllers found: N' line: not arcconf output")
	}
	for i := start; i < len(p.lines); i++ {
		if strings.HasPrefix(strings.TrimSpace(p.lines[i]), "Command completed successfully") {
			return p.lines[start:i], start, nil
		}
	}
	return nil, 0, p.errf(ErrTruncated, 0, "output ends without %q (the tool died or the capture was cut)", "Command completed successfully.")
}

type arcBlock struct {
	line int
	kv   map[string]string // lower-cased keys
	list []string          // "Key : value" lines in order, for segments
}

func newArcBlock(line int) *arcBlock { return &arcBlock{line: line, kv: map[string]string{}} }

func (b *arcBlock) get(keys ...string) string {
	for _, k := range keys {
		if v, ok := b.kv[strings.ToLower(k)]; ok {
			return v
		}
	}
	return ""
}

var (
	arcLDHeader  = regexp.MustCompile(`(?i)^Logical device number (\d+)$`)
	arcDevHeader = regexp.MustCompile(`^Device #(\d+)$`)
	arcSegment   = regexp.MustCompile(`(?i)^(?:Group \d+, )?(?:Segment|Device) \d+$`)
)

// parseArcconfConfig reads "GETCONFIG n AL" (also LD/PD): controller,
// logical devices with their segments, physical devices.
func parseArcconfConfig(p *parseCtx) (*Result, error) {
	body, start, err := arcconfBody(p)
	if err != nil {
		return nil, err
	}
	section := ""
	ctrl := newArcBlock(0)
	var lds, devs []*arcBlock
	isDrive := map[*arcBlock]bool{}
	var cur *arcBlock
	for i := 0; i < len(body); i++ {
		ln := start + i + 1
		t := strings.TrimSpace(body[i])
		if strings.HasPrefix(t, "-----") {
			// A top-level section title sits between two rules at column 0.
			if i+2 < len(body) && !strings.HasPrefix(body[i+1], " ") && strings.HasPrefix(strings.TrimSpace(body[i+2]), "-----") {
				section = strings.ToLower(strings.TrimSpace(body[i+1]))
				cur = nil
				i += 2
			}
			continue
		}
		if t == "" {
			continue
		}
		switch section {
		case "controller information":
			if k, v, ok := arcKV(t); ok {
				if _, dup := ctrl.kv[strings.ToLower(k)]; !dup {
					ctrl.kv[strings.ToLower(k)] = v
				}
			}
		case "logical device information":
			if cur == nil && strings.EqualFold(t, "No logical devices configured") {
				continue // a controller without logical devices
			}
			if m := arcLDHeader.FindStringSubmatch(t); m != nil {
				cur = newArcBlock(ln)
				cur.kv["#"] = m[1]
				lds = append(lds, cur)
				continue
			}
			if cur == nil {
				return nil, p.errf(ErrMalformed, ln, "logical device field before 'Logical device number N': %q", t)
			}
			k, v, ok := arcKV(t)
			if !ok {
				continue // sub-headings: "Logical device segment information"
			}
			if arcSegment.MatchString(k) {
				cur.list = append(cur.list, fmt.Sprintf("%d\x00%s", ln, v))
				continue
			}
			cur.kv[strings.ToLower(k)] = v
		case "physical device information":
			if m := arcDevHeader.FindStringSubmatch(t); m != nil {
				cur = newArcBlock(ln)
				devs = append(devs, cur)
				continue
			}
			if strings.HasPrefix(t, "Device is a") {
				if cur != nil {
					isDrive[cur] = t == "Device is a Hard drive"
				}
				continue
			}
			if cur == nil {
				continue // channel headers of old SCSI controllers
			}
			if k, v, ok := arcKV(t); ok {
				if _, dup := cur.kv[strings.ToLower(k)]; !dup {
					cur.kv[strings.ToLower(k)] = v
				}
			}
		}
	}
	ldOnly := len(ctrl.kv) == 0 && len(lds) > 0 && len(devs) == 0
	if len(ctrl.kv) == 0 && !ldOnly {
		return nil, p.errf(ErrMalformed, 0, "no controller information section")
	}
	if ldOnly {
		// "GETCONFIG n LD" prints the logical devices alone.
		p.warnf("no controller or physical device section (GETCONFIG LD): the controller is reported without its details")
	}
	c := Controller{
		Model:    ctrl.get("Controller Model"),
		Serial:   ctrl.get("Controller Serial Number"),
		Firmware: ctrl.get("Firmware"),
		BIOS:     ctrl.get("BIOS"),
		Status:   strings.ToLower(ctrl.get("Controller Status")),
		Mode:     "RAID",
	}
	if c.Model == "" && !ldOnly {
		return nil, p.errf(ErrMalformed, 0, "controller section has no 'Controller Model'")
	}
	if drv := ctrl.get("Driver"); drv != "" {
		c.DriverVersion = drv
	}
	if mode := strings.ToUpper(ctrl.get("Controller Mode")); strings.HasPrefix(mode, "HBA") {
		c.Mode = "HBA"
	}
	r := &Result{Controllers: []Controller{c}}

	idx := map[string]string{} // resolver keys -> disk location
	for _, b := range devs {
		if !isDrive[b] {
			continue
		}
		d, keys, err := arcconfDisk(b)
		if err != nil {
			return nil, p.errf(ErrMalformed, b.line, "%v", err)
		}
		for _, k := range keys {
			idx[k] = d.Location
		}
		r.Disks = append(r.Disks, d)
	}
	if ldOnly {
		idx = nil
	}
	for _, b := range lds {
		v, err := arcconfVolume(p, b, idx)
		if err != nil {
			return nil, err
		}
		r.Volumes = append(r.Volumes, v)
	}
	return r, nil
}

var (
	arcChanDev   = regexp.MustCompile(`^(\d+),(\d+)`)
	arcEnclSlot  = regexp.MustCompile(`(?i)Enclosure (\d+), Slot (\d+)`)
	arcConnSlot  = regexp.MustCompile(`(?i)Slot (\d+)\s*\(Connector (\d+)`)
	arcConnDev   = regexp.MustCompile(`(?i)Connector (\d+), Device (\d+)`)
	arcSegChDev  = regexp.MustCompile(`^\((\d+),(\d+)\)$`)
	arcSegEncl   = regexp.MustCompile(`(?i)Enclosure:(\d+),\s*Slot:(\d+)`)
	arcSegConn   = regexp.MustCompile(`(?i)Connector:(\d+),\s*Device:(\d+)`)
	arcSegFormat = regexp.MustCompile(`^(\w[\w ]*?)\s*(\([^)]*\))?\s*(\S*)$`)
)

// arcconfDisk reads a "Device #n / Device is a Hard drive" block. The
// Location is "channel:device" from "Reported Channel,Device(T:L)", the
// address arcconf's CREATE command takes; the keys let logical device
// segments, which name drives in several ways, find it.
func arcconfDisk(b *arcBlock) (PhysicalDisk, []string, error) {
	m := arcChanDev.FindStringSubmatch(b.get("Reported Channel,Device(T:L)", "Reported Channel,Device"))
	if m == nil {
		return PhysicalDisk{}, nil, fmt.Errorf("drive without 'Reported Channel,Device'")
	}
	d := PhysicalDisk{
		Location: m[1] + ":" + m[2],
		Model:    b.get("Model"),
		Serial:   b.get("Serial number"),
		Firmware: b.get("Firmware"),
		RawState: b.get("State"),
	}
	keys := []string{"cd:" + m[1] + "," + m[2]}
	loc := b.get("Reported Location")
	if mm := arcEnclSlot.FindStringSubmatch(loc); mm != nil {
		keys = append(keys, "es:"+mm[1]+","+mm[2])
	}
	if mm := arcConnSlot.FindStringSubmatch(loc); mm != nil {
		keys = append(keys, "cs:"+mm[2]+","+mm[1])
	}
	if mm := arcConnDev.FindStringSubmatch(loc); mm != nil {
		keys = append(keys, "cs:"+mm[1]+","+mm[2])
	}
	switch strings.ToLower(d.RawState) {
	case "online":
		d.State = DiskOnline
	case "ready":
		d.State = DiskReady
	case "failed":
		d.State = DiskFailed
	case "rebuilding":
		d.State = DiskRebuilding
	case "hot spare", "hot-spare", "global hot-spare", "dedicated hot-spare":
		d.State = DiskHotSpare
	case "raw (pass through)":
		d.State = DiskOnline
	case "missing":
		d.State = DiskMissing
	case "offline":
		d.State = DiskOffline
	default:
		d.State = Unknown(d.RawState)
	}
	size := b.get("Total Size", "Size")
	if size != "" {
		n, ok := parseSize(strings.ReplaceAll(size, " ", ""), binaryUnits)
		if !ok {
			return d, nil, fmt.Errorf("drive %s: unreadable size %q", d.Location, size)
		}
		d.SizeBytes = n
	}
	switch strings.ToLower(b.get("SSD")) {
	case "yes":
		d.Media = "ssd"
	case "no":
		d.Media = "hdd"
	}
	ts := strings.ToUpper(b.get("Transfer Speed"))
	switch {
	case strings.HasPrefix(ts, "SATA"):
		d.Interface = "sata"
	case strings.HasPrefix(ts, "SAS"):
		d.Interface = "sas"
	case strings.HasPrefix(ts, "ULTRA"):
		d.Interface = "scsi"
	}
	if d.Serial != "" && !strings.Contains(d.Serial, "*") {
		keys = append(keys, "sn:"+d.Serial)
	}
	return d, keys, nil
}

func arcconfVolume(p *parseCtx, b *arcBlock, idx map[string]string) (Volume, error) {
	v := Volume{
		ID:       b.kv["#"],
		Name:     b.get("Logical device name"),
		Level:    normLevel(b.get("RAID level")),
		RawState: b.get("Status of logical device"),
	}
	switch strings.ToLower(v.RawState) {
	case "optimal":
		v.State = VolumeOptimal
	case "degraded", "impacted", "suboptimal, fault tolerant", "suboptimal":
		v.State = VolumeDegraded
	case "failed":
		v.State = VolumeFailed
	case "offline":
		v.State = VolumeOffline
	default:
		arcImpacted(&v)
	}
	if v.Level == "" {
		return v, p.errf(ErrMalformed, b.line, "logical device %s: no RAID level", v.ID)
	}
	size, ok := parseSize(strings.ReplaceAll(b.get("Size"), " ", ""), binaryUnits)
	if !ok {
		return v, p.errf(ErrMalformed, b.line, "logical device %s: unreadable Size %q", v.ID, b.get("Size"))
	}
	v.SizeBytes = size
	for _, e := range b.list {
		lnS, seg, _ := strings.Cut(e, "\x00")
		ln, _ := strconv.Atoi(lnS)
		if strings.EqualFold(strings.TrimSpace(seg), "missing") {
			v.MissingMembers++
			continue
		}
		m := arcSegFormat.FindStringSubmatch(seg)
		if m == nil {
			return v, p.errf(ErrMalformed, ln, "logical device %s: unreadable segment %q", v.ID, seg)
		}
		state, where, serial := strings.ToLower(m[1]), m[2], m[3]
		var keys []string
		if mm := arcSegChDev.FindStringSubmatch(where); mm != nil {
			keys = append(keys, "cd:"+mm[1]+","+mm[2])
		}
		if mm := arcSegEncl.FindStringSubmatch(where); mm != nil {
			keys = append(keys, "es:"+mm[1]+","+mm[2])
		}
		if mm := arcSegConn.FindStringSubmatch(where); mm != nil {
			keys = append(keys, "cs:"+mm[1]+","+mm[2])
		}
		if serial != "" {
			keys = append(keys, "sn:"+serial)
		}
		if idx == nil {
			// No drive list to resolve the segment against: members
			// stay unlisted (nil), a rebuild still shows.
			if state == "rebuilding" && !IsUnknown(v.State) {
				v.State, v.Operation = VolumeRebuilding, "rebuild"
			}
			continue
		}
		loc := ""
		for _, k := range keys {
			if l, ok := idx[k]; ok {
				loc = l
				break
			}
		}
		if loc == "" {
			return v, p.errf(ErrMalformed, ln, "logical device %s: segment %q names no listed drive", v.ID, seg)
		}
		v.Members = append(v.Members, loc)
		if state == "rebuilding" && !IsUnknown(v.State) {
			v.State = VolumeRebuilding
			v.Operation = "rebuild"
		}
	}
	return v, nil
}

// parseArcconfStatus reads "GETSTATUS n": background tasks.
func parseArcconfStatus(p *parseCtx) (*Result, error) {
	body, start, err := arcconfBody(p)
	if err != nil {
		return nil, err
	}
	r := &Result{Controllers: []Controller{{}}}
	var cur *arcBlock
	var blocks []*arcBlock
	for i, l := range body {
		t := strings.TrimSpace(l)
		if strings.HasSuffix(strings.ToLower(t), "task:") {
			cur = newArcBlock(start + i + 1)
			blocks = append(blocks, cur)
			continue
		}
		if k, v, ok := arcKV(t); ok && cur != nil {
			cur.kv[strings.ToLower(k)] = v
		}
	}
	for _, b := range blocks {
		t := Task{Volume: b.get("Logical Device", "Logical device"), Operation: strings.ToLower(b.get("Current operation")), Status: strings.ToLower(b.get("Status"))}
		if t.Operation == "" {
			return nil, p.errf(ErrMalformed, b.line, "task without 'Current operation'")
		}
		pc := b.get("Percentage complete")
		f, err := strconv.ParseFloat(strings.TrimSuffix(pc, "%"), 64)
		if err != nil || f < 0 || f > 100 {
			return nil, p.errf(ErrMalformed, b.line, "task: 'Percentage complete' %q", pc)
		}
		t.Progress = f
		r.Tasks = append(r.Tasks, t)
	}
	return r, nil
}

// parseArcconfCreate reads "CREATE n LOGICALDRIVE …": the new device name.
func parseArcconfCreate(p *parseCtx) (*Result, error) {
	body, _, err := arcconfBody(p)
	if err != nil {
		return nil, err
	}
	r := &Result{Controllers: []Controller{{}}}
	for _, l := range body {
		if t := strings.TrimSpace(l); strings.HasPrefix(strings.ToLower(t), "creating logical device") {
			r.Message = t
		}
	}
	return r, nil
}

// arcconfDeleting finds DELETE's report line, "Deleting: logical device N
// ("name")"; "" when there is none.
func arcconfDeleting(lines []string) string {
	for _, l := range lines {
		if t := strings.TrimSpace(l); strings.HasPrefix(strings.ToLower(t), "deleting: logical device") {
			return t
		}
	}
	return ""
}

// parseArcconfDelete reads "DELETE n LOGICALDRIVE m noprompt".
func parseArcconfDelete(p *parseCtx) (*Result, error) {
	body, _, err := arcconfBody(p)
	if err != nil {
		return nil, err
	}
	msg := arcconfDeleting(body)
	if msg == "" {
		return nil, p.errf(ErrMalformed, 0, "no 'Deleting: logical device N' line")
	}
	return &Result{Controllers: []Controller{{}}, Message: msg}, nil
}

var arcListRow = regexp.MustCompile(`^Controller (\d+):\s*:\s*(.*)$`)

// parseArcconfList reads "LIST": one "Controller N: : Status, Slot S, Mode,
// Name, SerialNumber, WWN" row per controller (arcconf 2.x and later).
func parseArcconfList(p *parseCtx) (*Result, error) {
	body, start, err := arcconfBody(p)
	if err != nil {
		return nil, err
	}
	r := &Result{}
	for i, l := range body {
		m := arcListRow.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		f := strings.Split(m[2], ",")
		if len(f) < 4 {
			return nil, p.errf(ErrMalformed, start+i+1, "controller row has %d fields, want Status, Slot, Mode, Name, …", len(f))
		}
		n, _ := strconv.Atoi(m[1])
		c := Controller{Index: n, Status: strings.ToLower(strings.TrimSpace(f[0])), Model: strings.TrimSpace(f[3]), Mode: "RAID"}
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(f[2])), "HBA") {
			c.Mode = "HBA"
		}
		if len(f) > 4 {
			c.Serial = strings.TrimSpace(f[4])
		}
		r.Controllers = append(r.Controllers, c)
	}
	if len(r.Controllers) == 0 {
		return nil, p.errf(ErrMalformed, 0, "no 'Controller N:' rows")
	}
	return r, nil
}

// arcImpactedTask is "Impacted ( Build/Verify with fix : 90 % )": a logical
// device that is not fully built yet, with the task building it.
var arcImpactedTask = regexp.MustCompile(`^Impacted \(\s*(.+?)\s*:\s*(\d+(?:\.\d+)?)\s*%\s*\)$`)

// arcImpacted maps a status the plain words do not cover: an Impacted
// device with its build task is initializing; anything else is kept as
// Unknown.
func arcImpacted(v *Volume) {
	m := arcImpactedTask.FindStringSubmatch(v.RawState)
	if m == nil {
		v.State = Unknown(v.RawState)
		return
	}
	v.State, v.Operation = VolumeInitializing, strings.ToLower(m[1])
	if f, err := strconv.ParseFloat(m[2], 64); err == nil && f <= 100 {
		v.Progress = &f
	}
}
