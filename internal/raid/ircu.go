package raid

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// sas2ircu and sas3ircu (LSI/Avago/Broadcom "IR Configuration Utility")
// print the same text format; the field names and state abbreviations
// below are those of the SAS2IRCU/SAS3IRCU user guides (DISPLAY, LIST and
// STATUS commands). Every successful run ends with
// "SAS2IRCU: Utility Completed Successfully." and, for a controller
// command, "SAS2IRCU: Command DISPLAY Completed Successfully." first; an
// output without them is a truncated run.

func ircuParsers() []parser {
	return []parser{
		{command: "display", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsLine(l, "Read configuration has been initiated for controller")
		}, parse: parseIRCUDisplay},
		{command: "list", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsLine(l, "Adapter") && containsLine(l, " Index ")
		}, parse: parseIRCUList},
		{command: "status", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsLine(l, "Background command progress status for controller")
		}, parse: parseIRCUStatus},
		{command: "create", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsLine(l, "Command CREATE Completed Successfully")
		}, parse: parseIRCUAction("CREATE")},
		{command: "delete", detect: func(p *parseCtx) bool {
			l := p.lines
			return containsLine(l, "Command DELETE Completed Successfully") || containsLine(l, "Command DELETEVOLUME Completed Successfully")
		}, parse: parseIRCUAction("DELETE")},
	}
}

var (
	ircuPrefix  = regexp.MustCompile(`^SAS[23]IRCU: (.*)$`)
	ircuBanner  = regexp.MustCompile(`SAS[23] IR Configuration Utility`)
	ircuVersion = regexp.MustCompile(`^Version (\S+)`)
)

// ircuToolError turns the tool's "SAS2IRCU: …" error lines into a
// ToolError. "MPTLib2 Error 1" is what the tool prints when it cannot open
// the driver's control device (/dev/mpt2ctl, /dev/mpt3ctl): no controller,
// or its driver is not loaded.
func ircuToolError(p *parseCtx) error {
	var msgs []string
	kind := error(nil)
	for _, l := range p.lines {
		m := ircuPrefix.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			if strings.Contains(l, "is not supported by the firmware currently loaded") {
				msgs = append(msgs, strings.TrimSpace(l))
			}
			continue
		}
		msg := strings.TrimSpace(m[1])
		if strings.Contains(strings.ToLower(msg), "successfully") {
			continue
		}
		switch {
		case strings.Contains(msg, "MPTLib2 Error") || strings.Contains(msg, "No Controllers") || strings.Contains(msg, "no controllers"):
			kind = ErrNoController
		case strings.Contains(msg, "no IR volumes"):
			kind = ErrNoVolumes
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		return nil
	}
	return p.toolErr(strings.Join(msgs, " / "), 0, kind)
}

// ircuExplain says why no ircu command matched: no banner, or cut short.
func ircuExplain(p *parseCtx) error {
	_, _, _, err := ircuBody(p, "")
	return err
}

// ircuBody checks the banner and the completion lines and returns the
// lines between them, with the tool version.
func ircuBody(p *parseCtx, command string) (body []string, start int, version string, err error) {
	bannerAt := -1
	for i, l := range p.lines {
		if ircuBanner.MatchString(l) {
			bannerAt = i
			break
		}
	}
	if bannerAt < 0 {
		return nil, 0, "", p.errf(ErrUnsupported, 0, "no %q banner: not sas2ircu/sas3ircu output", "IR Configuration Utility")
	}
	if bannerAt+1 < len(p.lines) {
		if m := ircuVersion.FindStringSubmatch(strings.TrimSpace(p.lines[bannerAt+1])); m != nil {
			version = m[1]
		}
	}
	end := -1
	cmdDone := command == ""
	for i := bannerAt; i < len(p.lines); i++ {
		m := ircuPrefix.FindStringSubmatch(strings.TrimSpace(p.lines[i]))
		if m == nil {
			continue
		}
		if command != "" && strings.HasPrefix(m[1], "Command "+command+" Completed Successfully") {
			cmdDone = true
			if end < 0 {
				end = i
			}
		}
		if strings.HasPrefix(m[1], "Utility Completed Successfully") && end < 0 {
			end = i
		}
	}
	if end < 0 || !cmdDone || !containsLine(p.lines[bannerAt:], "Utility Completed Successfully") {
		want := "Utility Completed Successfully."
		if command != "" {
			want = "Command " + command + " Completed Successfully."
		}
		return nil, 0, "", p.errf(ErrTruncated, 0, "output ends without %q (the tool died or the capture was cut)", want)
	}
	start = bannerAt + 1
	for start < end && (strings.HasPrefix(p.lines[start], "Version ") || strings.HasPrefix(p.lines[start], "Copyright ")) {
		start++
	}
	return p.lines[start:end], start, version, nil
}

// parseIRCUList reads the LIST table:
//
//	Index    Type          ID      ID    Pci Address          Ven ID  Dev ID
//	  0     SAS2008     1000h    72h   00h:03h:00h:00h      1028h   1f1eh
func parseIRCUList(p *parseCtx) (*Result, error) {
	body, start, version, err := ircuBody(p, "")
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: version}
	inTable := false
	for i, l := range body {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "-----") {
			inTable = true
			continue
		}
		if !inTable || t == "" {
			continue
		}
		f := strings.Fields(t)
		if len(f) != 7 {
			return nil, p.errf(ErrMalformed, start+i+1, "controller row has %d columns, want 7: %q", len(f), t)
		}
		c, err := ircuListRow(f)
		if err != nil {
			return nil, p.errf(ErrMalformed, start+i+1, "%v", err)
		}
		r.Controllers = append(r.Controllers, c)
	}
	if !inTable {
		return nil, p.errf(ErrMalformed, 0, "no controller table")
	}
	if len(r.Controllers) == 0 {
		return nil, p.toolErr("LIST printed an empty controller table", 0, ErrNoController)
	}
	return r, nil
}

func ircuListRow(f []string) (Controller, error) {
	idx, ok := atoiOK(f[0])
	if !ok {
		return Controller{}, fmt.Errorf("index %q is not a number", f[0])
	}
	hex := func(s string) (uint64, error) {
		return strconv.ParseUint(strings.TrimSuffix(strings.ToLower(s), "h"), 16, 32)
	}
	var ids [4]uint64
	for i, s := range []string{f[2], f[3], f[5], f[6]} {
		n, err := hex(s)
		if err != nil || n > 0xffff {
			return Controller{}, fmt.Errorf("PCI id %q is not a 16-bit hex number", s)
		}
		ids[i] = n
	}
	// "00h:03h:00h:00h" is segment:bus:device:function.
	parts := strings.Split(f[4], ":")
	if len(parts) != 4 {
		return Controller{}, fmt.Errorf("PCI address %q is not segment:bus:device:function", f[4])
	}
	var a [4]uint64
	for i, s := range parts {
		n, err := hex(s)
		if err != nil {
			return Controller{}, fmt.Errorf("PCI address %q: %v", f[4], err)
		}
		a[i] = n
	}
	if a[0] > 0xffff || a[1] > 0xff || a[2] > 0x1f || a[3] > 7 {
		return Controller{}, fmt.Errorf("PCI address %q out of range", f[4])
	}
	return Controller{
		Index:        idx,
		Model:        f[1],
		PCIID:        fmt.Sprintf("%04x:%04x", ids[0], ids[1]),
		PCISubsystem: fmt.Sprintf("%04x:%04x", ids[2], ids[3]),
		PCIAddress:   fmt.Sprintf("%04x:%02x:%02x.%x", a[0], a[1], a[2], a[3]),
	}, nil
}

// ircuBlock is a run of "Key : value" lines.
type ircuBlock struct {
	line int // 1-based line of the block's header
	kv   map[string]string
	keys []string
}

func (b *ircuBlock) set(k, v string) {
	if b.kv == nil {
		b.kv = map[string]string{}
	}
	if _, dup := b.kv[k]; !dup {
		b.keys = append(b.keys, k)
	}
	b.kv[k] = v
}

var (
	ircuInitiated = regexp.MustCompile(`initiated for controller (\d+)`)
	ircuAbbrev    = regexp.MustCompile(`\(([A-Z]+)\)\s*$`)
	ircuPHY       = regexp.MustCompile(`^PHY\[(\d+)\] Enclosure#/Slot#$`)
	ircuMemberLoc = regexp.MustCompile(`^(\d+):(\d+)$`)
)

// parseIRCUDisplay reads "<n> DISPLAY": the controller, IR volumes,
// physical devices and enclosures sections. One pass sorts the lines into
// the sections' blocks (ircuDisplay.line); the controller, then the
// volumes and drives are built from them.
func parseIRCUDisplay(p *parseCtx) (*Result, error) {
	body, start, version, err := ircuBody(p, "DISPLAY")
	if err != nil {
		return nil, err
	}
	d := &ircuDisplay{p: p, body: body, start: start, ctrlIndex: -1, devIsDisk: map[*ircuBlock]bool{}}
	for i := range body {
		if err := d.line(i); err != nil {
			return nil, err
		}
	}
	if d.ctrlIndex < 0 {
		return nil, p.errf(ErrMalformed, 0, "no 'Read configuration has been initiated for controller N' line")
	}
	ctrl, err := d.controller()
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: version, Controllers: []Controller{ctrl}}
	if err := d.volumes(r); err != nil {
		return nil, err
	}
	if err := d.disks(r); err != nil {
		return nil, err
	}
	if ctrl.Mode == "IT" && len(r.Volumes) > 0 {
		return nil, p.errf(ErrMalformed, 0, "controller reports 'RAID Support: No' but lists %d IR volumes", len(r.Volumes))
	}
	return r, nil
}

// ircuDisplay is the state of one pass over a DISPLAY body.
type ircuDisplay struct {
	p          *parseCtx
	body       []string
	start      int // line number of body[0], minus one
	ctrlIndex  int // from "initiated for controller N"; -1 until seen
	section    string
	ctrlKV     ircuBlock
	vols, devs []*ircuBlock
	cur        *ircuBlock
	devIsDisk  map[*ircuBlock]bool
}

// isRule tells whether body line j is a rule of dashes.
func (d *ircuDisplay) isRule(j int) bool {
	return j >= 0 && j < len(d.body) && strings.HasPrefix(strings.TrimSpace(d.body[j]), "------")
}

// line reads body line i into the current section.
func (d *ircuDisplay) line(i int) error {
	ln := d.start + i + 1
	t := strings.TrimSpace(d.body[i])
	if d.isRule(i) {
		return nil
	}
	// A section title stands between two rules.
	if d.isRule(i-1) && d.isRule(i+1) {
		return d.title(ln, t)
	}
	if m := ircuInitiated.FindStringSubmatch(t); m != nil {
		d.ctrlIndex, _ = strconv.Atoi(m[1])
		return nil
	}
	if t == "" {
		return nil
	}
	switch d.section {
	case "Controller information":
		k, v, ok := keyValue(t)
		if !ok {
			return d.p.errf(ErrMalformed, ln, "controller line without ':': %q", t)
		}
		d.ctrlKV.set(k, v)
	case "IR Volume information":
		return d.volumeLine(ln, t)
	case "Physical device information":
		return d.deviceLine(ln, t)
	case "Enclosure information":
		// Logical IDs and slot counts: nothing the model needs.
	default:
		return d.p.errf(ErrMalformed, ln, "line outside any section: %q", t)
	}
	return nil
}

// title enters a section. An unknown one (a newer tool's section) is
// refused: its lines would otherwise be read as fields of the section
// before it.
func (d *ircuDisplay) title(ln int, t string) error {
	switch t {
	case "Controller information", "IR Volume information", "Physical device information", "Enclosure information":
		d.section = t
		d.cur = nil
		return nil
	}
	return d.p.errf(ErrUnsupported, ln, "unknown section %q", t)
}

// volumeLine reads a line of the IR volume section: "IR volume N" starts
// a volume, "PHY[n] Enclosure#/Slot# : E:S" adds a member.
func (d *ircuDisplay) volumeLine(ln int, t string) error {
	if strings.HasPrefix(t, "IR volume ") {
		d.cur = &ircuBlock{line: ln}
		d.vols = append(d.vols, d.cur)
		return nil
	}
	k, v, ok := keyValue(t)
	if !ok || d.cur == nil {
		return d.p.errf(ErrMalformed, ln, "unexpected line in IR volume section: %q", t)
	}
	if m := ircuPHY.FindStringSubmatch(k); m != nil {
		d.cur.set(k, v)
		d.cur.set("members", d.cur.kv["members"]+" "+v)
		return nil
	}
	d.cur.set(k, v)
	return nil
}

// deviceLine reads a line of the physical device section: "Device is a
// …" starts a device (only hard disks become drives).
func (d *ircuDisplay) deviceLine(ln int, t string) error {
	if strings.HasPrefix(t, "Initiator at ID") {
		return nil
	}
	if strings.HasPrefix(t, "Device is a") {
		d.cur = &ircuBlock{line: ln}
		d.devs = append(d.devs, d.cur)
		d.devIsDisk[d.cur] = t == "Device is a Hard disk"
		return nil
	}
	k, v, ok := keyValue(t)
	if d.cur == nil {
		return d.p.errf(ErrMalformed, ln, "device field before any 'Device is a' line: %q", t)
	}
	if !ok {
		// sas3ircu P17 repeats the state word on a line of its own
		// after an unreadable size ("???/???" then "Available (AVL)").
		if d.cur.kv["State"] == t {
			return nil
		}
		return d.p.errf(ErrMalformed, ln, "device line without ':': %q", t)
	}
	d.cur.set(k, v)
	return nil
}

// controller builds the controller from its section: model, firmware,
// IR or IT mode from "RAID Support", PCI address when all four parts
// are in range.
func (d *ircuDisplay) controller() (Controller, error) {
	ctrl := Controller{Index: d.ctrlIndex}
	if d.ctrlKV.kv == nil {
		return ctrl, d.p.errf(ErrMalformed, 0, "no controller information section")
	}
	kv := d.ctrlKV.kv
	ctrl.Model = kv["Controller type"]
	ctrl.BIOS = kv["BIOS version"]
	ctrl.Firmware = kv["Firmware version"]
	if ctrl.Model == "" || ctrl.Firmware == "" {
		return ctrl, d.p.errf(ErrMalformed, 0, "controller section lacks 'Controller type' or 'Firmware version'")
	}
	switch kv["RAID Support"] {
	case "Yes":
		ctrl.Mode = "IR"
	case "No":
		ctrl.Mode = "IT"
	default:
		return ctrl, d.p.errf(ErrMalformed, 0, "controller section: 'RAID Support' is %q, want Yes or No", kv["RAID Support"])
	}
	seg, e1 := atoiOK(kv["Segment"])
	bus, e2 := atoiOK(kv["Bus"])
	dev, e3 := atoiOK(kv["Device"])
	fn, e4 := atoiOK(kv["Function"])
	if e1 && e2 && e3 && e4 && seg <= 0xffff && bus <= 0xff && dev <= 0x1f && fn <= 7 {
		ctrl.PCIAddress = fmt.Sprintf("%04x:%02x:%02x.%x", seg, bus, dev, fn)
	}
	return ctrl, nil
}

// volumes adds the IR volumes.
func (d *ircuDisplay) volumes(r *Result) error {
	for _, b := range d.vols {
		v, err := ircuVolume(d.ctrlIndex, b)
		if err != nil {
			return d.p.errf(ErrMalformed, b.line, "%v", err)
		}
		r.Volumes = append(r.Volumes, v)
	}
	return nil
}

// disks adds the hard disks; enclosure services devices are not drives.
func (d *ircuDisplay) disks(r *Result) error {
	for _, b := range d.devs {
		if !d.devIsDisk[b] {
			continue
		}
		pd, err := ircuDisk(d.p, d.ctrlIndex, b)
		if err != nil {
			return d.p.errf(ErrMalformed, b.line, "%v", err)
		}
		r.Disks = append(r.Disks, pd)
	}
	return nil
}

func ircuAbbr(s string) string {
	if m := ircuAbbrev.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// ircuVolumeState maps "Status of volume" abbreviations (SAS2IRCU guide:
// OKY, DGD, FLD, MIS, INIT, ONL).
func ircuVolumeState(raw string) (string, bool) {
	switch ircuAbbr(raw) {
	case "OKY", "ONL":
		return VolumeOptimal, true
	case "DGD":
		return VolumeDegraded, true
	case "FLD", "MIS":
		return VolumeFailed, true
	case "INIT":
		return VolumeInitializing, true
	case "INA":
		return VolumeOffline, true
	}
	return VolumeUnknown, false
}

func ircuVolume(ctrl int, b *ircuBlock) (Volume, error) {
	kv := b.kv
	v := Volume{Controller: ctrl, ID: kv["Volume ID"], Name: kv["Volume Name"], RawState: kv["Status of volume"]}
	if _, ok := atoiOK(v.ID); !ok {
		return v, fmt.Errorf("IR volume: 'Volume ID' %q is not a number", v.ID)
	}
	var ok bool
	if v.State, ok = ircuVolumeState(v.RawState); !ok {
		v.State = Unknown(v.RawState)
	}
	v.Level = normLevel(kv["RAID level"])
	if v.Level == "" {
		return v, fmt.Errorf("IR volume %s: no 'RAID level'", v.ID)
	}
	size, ok := mib(kv["Size (in MB)"])
	if !ok {
		return v, fmt.Errorf("IR volume %s: 'Size (in MB)' %q is not a number", v.ID, kv["Size (in MB)"])
	}
	v.SizeBytes = size
	for _, m := range strings.Fields(kv["members"]) {
		if !ircuMemberLoc.MatchString(m) {
			return v, fmt.Errorf("IR volume %s: member %q is not enclosure:slot", v.ID, m)
		}
		v.Members = append(v.Members, m)
	}
	if len(v.Members) == 0 {
		return v, fmt.Errorf("IR volume %s: no PHY[n] member lines", v.ID)
	}
	return v, nil
}

// ircuDiskState maps device "State" abbreviations (SAS2IRCU guide: ONL,
// HSP, RDY, AVL, FLD, MIS, SBY, OSY, DGD, RBLD, OPT).
func ircuDiskState(raw string) (string, bool) {
	switch ircuAbbr(raw) {
	case "ONL", "OPT":
		return DiskOnline, true
	case "RDY", "AVL":
		return DiskReady, true
	case "HSP":
		return DiskHotSpare, true
	case "FLD", "DGD":
		return DiskFailed, true
	case "MIS":
		return DiskMissing, true
	case "SBY":
		return DiskStandby, true
	case "OSY", "RBLD":
		return DiskRebuilding, true
	case "OFL":
		return DiskOffline, true
	}
	return DiskUnknown, false
}

var ircuSize = regexp.MustCompile(`^(\d+)/(\d+)$`)

func ircuDisk(p *parseCtx, ctrl int, b *ircuBlock) (PhysicalDisk, error) {
	kv := b.kv
	encl, ok1 := atoiOK(kv["Enclosure #"])
	slot, ok2 := atoiOK(kv["Slot #"])
	if !ok1 || !ok2 {
		return PhysicalDisk{}, fmt.Errorf("disk: enclosure %q / slot %q are not numbers", kv["Enclosure #"], kv["Slot #"])
	}
	d := PhysicalDisk{
		Controller: ctrl,
		Location:   fmt.Sprintf("%d:%d", encl, slot),
		Model:      kv["Model Number"],
		Serial:     kv["Serial No"],
		Firmware:   kv["Firmware Revision"],
		Interface:  strings.ToLower(kv["Protocol"]),
		Media:      mediaOf(kv["Drive Type"]),
		RawState:   kv["State"],
	}
	var ok bool
	if d.State, ok = ircuDiskState(d.RawState); !ok {
		d.State = Unknown(d.RawState)
	}
	// "Size (in MB)/(in sectors)": the sector figure is the last LBA (a
	// 160 GB MK1661GS prints 312581807 for its 312581808 sectors), in
	// 512-byte units. "???/???" is printed for drives the firmware
	// cannot size (520-byte-sector NetApp disks); missing drives have no
	// size line at all.
	if s, present := kv["Size (in MB)/(in sectors)"]; present {
		if m := ircuSize.FindStringSubmatch(s); m != nil {
			last, err := strconv.ParseUint(m[2], 10, 64)
			if err != nil || last > 1<<54 {
				return d, fmt.Errorf("disk %s: sector count %q out of range", d.Location, m[2])
			}
			d.SizeBytes = (last + 1) * 512
		} else if s != "???/???" {
			return d, fmt.Errorf("disk %s: size %q is not MB/sectors", d.Location, s)
		}
	}
	return d, nil
}

// parseIRCUStatus reads "<n> STATUS": per volume the current background
// operation and its progress.
func parseIRCUStatus(p *parseCtx) (*Result, error) {
	body, start, version, err := ircuBody(p, "STATUS")
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: version}
	ctrlIdx := -1
	var vols []*ircuBlock
	var cur *ircuBlock
	statusLine := regexp.MustCompile(`progress status for controller (\d+)`)
	for i, raw := range body {
		ln := start + i + 1
		t := strings.TrimSpace(raw)
		if t == "" {
			continue
		}
		if m := statusLine.FindStringSubmatch(t); m != nil {
			ctrlIdx, _ = strconv.Atoi(m[1])
			continue
		}
		if strings.HasPrefix(t, "IR Volume ") {
			cur = &ircuBlock{line: ln}
			vols = append(vols, cur)
			continue
		}
		k, v, ok := keyValue(t)
		if !ok || cur == nil {
			return nil, p.errf(ErrMalformed, ln, "unexpected line: %q", t)
		}
		cur.set(k, v)
	}
	if ctrlIdx < 0 {
		return nil, p.errf(ErrMalformed, 0, "no 'Background command progress status for controller N' line")
	}
	r.Controllers = []Controller{{Index: ctrlIdx}}
	for _, b := range vols {
		kv := b.kv
		v := Volume{Controller: ctrlIdx, ID: kv["Volume ID"], RawState: kv["Volume state"]}
		if _, ok := atoiOK(v.ID); !ok {
			return nil, p.errf(ErrMalformed, b.line, "'Volume ID' %q is not a number", v.ID)
		}
		switch strings.ToLower(v.RawState) {
		case "optimal":
			v.State = VolumeOptimal
		case "degraded":
			v.State = VolumeDegraded
		case "failed", "missing":
			v.State = VolumeFailed
		case "initializing":
			v.State = VolumeInitializing
		case "inactive":
			v.State = VolumeOffline
		default:
			v.State = Unknown(v.RawState)
		}
		op := kv["Current operation"]
		if op == "" {
			return nil, p.errf(ErrMalformed, b.line, "volume %s: no 'Current operation'", v.ID)
		}
		if op != "None" {
			v.Operation = strings.ToLower(op)
			if pc, ok := kv["Percentage complete"]; ok {
				f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(pc), "%"), 64)
				if err != nil || f < 0 || f > 100 {
					return nil, p.errf(ErrMalformed, b.line, "volume %s: 'Percentage complete' %q", v.ID, pc)
				}
				v.Progress = &f
			}
			if strings.Contains(v.Operation, "rebuild") || strings.Contains(v.Operation, "synchron") {
				v.State = VolumeRebuilding
			}
		}
		r.Volumes = append(r.Volumes, v)
	}
	return r, nil
}

// parseIRCUAction reads the output of CREATE or DELETE: banner, prompts,
// then the completion lines; the Message is the tool's last line before
// "Command … Completed Successfully".
func parseIRCUAction(command string) func(p *parseCtx) (*Result, error) {
	return func(p *parseCtx) (*Result, error) {
		cmd := command
		if command == "DELETE" && containsLine(p.lines, "Command DELETEVOLUME Completed") {
			cmd = "DELETEVOLUME"
		}
		body, _, version, err := ircuBody(p, cmd)
		if err != nil {
			return nil, err
		}
		r := &Result{ToolVersion: version, Message: "Command " + cmd + " Completed Successfully."}
		for _, l := range body {
			if m := ircuPrefix.FindStringSubmatch(strings.TrimSpace(l)); m != nil && !strings.HasPrefix(m[1], "Command ") {
				r.Message = m[1]
			}
		}
		return r, nil
	}
}
