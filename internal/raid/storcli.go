package raid

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// storcli and perccli (Dell's build of it), version 007.x, with the "J"
// flag: one JSON document {"Controllers": [{"Command Status": {…},
// "Response Data": {…}}]}, one element per controller the command touched.
// Which command ran shows in the Response Data keys. storcli2/perccli2
// (version 008.x, for the SAS4116-based PERC 12 / 9600 series) print a
// different schema ("PID" instead of "DID", a drive "State" of "Conf" plus a
// "Status"); that is refused, not guessed at.

func storcliParsers() []parser {
	return []parser{
		{command: "show", detect: storcliHas("System Overview", "Number of Controllers"), parse: parseStorcliShow},
		{command: "ctrl-show", detect: storcliHas("Basics", "Product Name", "VD LIST", "PD LIST", "TOPOLOGY"), parse: parseStorcliCtrl},
		{command: "drive-show", detect: storcliAny(storcliHasPrefix("Drive /c"), storcliHas("Drive Information")), parse: parseStorcliDrives},
		{command: "vd-show", detect: storcliVDList, parse: parseStorcliVDs},
		{command: "enclosure-show", detect: storcliHas("Properties"), parse: parseStorcliEnclosures},
		{command: "foreign-show", detect: storcliHas("FOREIGN CONFIGURATION"), parse: parseStorcliForeign},
		{command: "action", detect: storcliNoData, parse: parseStorcliAction},
	}
}

type storcliCtl struct {
	status map[string]any
	data   map[string]any
	hasRD  bool
}

// storcliDecode reads the document; detection calls it on the joined lines.
func storcliDecode(data []byte) ([]storcliCtl, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON document")
	}
	list, ok := doc["Controllers"].([]any)
	if !ok {
		return nil, errors.New(`no "Controllers" array`)
	}
	var out []storcliCtl
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Controllers[%d] is not an object", i)
		}
		st, ok := m["Command Status"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf(`Controllers[%d] has no "Command Status" object`, i)
		}
		c := storcliCtl{status: st}
		if rd, ok := m["Response Data"].(map[string]any); ok {
			c.data, c.hasRD = rd, true
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New(`empty "Controllers" array`)
	}
	return out, nil
}

// doc decodes the output once per parse.
func (p *parseCtx) doc() ([]storcliCtl, error) {
	if !p.decoded {
		p.storcli, p.storcliErr = storcliDecode(p.data)
		p.decoded = true
	}
	return p.storcli, p.storcliErr
}

func storcliHas(keys ...string) func(*parseCtx) bool {
	return func(p *parseCtx) bool {
		ctls, err := p.doc()
		if err != nil {
			return false
		}
		for _, k := range keys {
			if _, ok := ctls[0].data[k]; ok {
				return true
			}
		}
		return false
	}
}

func storcliHasPrefix(prefix string) func(*parseCtx) bool {
	return func(p *parseCtx) bool {
		ctls, err := p.doc()
		if err != nil {
			return false
		}
		for k := range ctls[0].data {
			if strings.HasPrefix(k, prefix) {
				return true
			}
		}
		return false
	}
}

func storcliAny(fs ...func(*parseCtx) bool) func(*parseCtx) bool {
	return func(p *parseCtx) bool {
		for _, f := range fs {
			if f(p) {
				return true
			}
		}
		return false
	}
}

// storcliVDList: "/cN/vall show" prints a "Virtual Drives" list,
// "/cN/vall show all" one "/cN/vM" list per VD.
func storcliVDList(p *parseCtx) bool {
	ctls, err := p.doc()
	if err != nil {
		return false
	}
	if _, ok := ctls[0].data["Virtual Drives"].([]any); ok {
		return true
	}
	for k := range ctls[0].data {
		if storcliVDKey.MatchString(k) {
			return true
		}
	}
	return false
}

func storcliNoData(p *parseCtx) bool {
	ctls, err := p.doc()
	return err == nil && !ctls[0].hasRD
}

// storcliLoad decodes and classifies decode failures.
func storcliLoad(p *parseCtx) ([]storcliCtl, error) {
	ctls, err := p.doc()
	if err == nil {
		if v := str(ctls[0].status["CLI Version"]); strings.HasPrefix(v, "008.") || storcli2Schema(ctls[0].data) {
			return nil, p.errf(ErrUnsupported, 0, "storcli2/perccli2 JSON schema (CLI Version %q) is not supported: drives carry PID/State Conf/Status instead of DID/State; use storcli/perccli 007.x", v)
		}
		return ctls, nil
	}
	trim := bytes.TrimSpace(p.data)
	var syn *json.SyntaxError
	switch {
	case len(trim) > 0 && trim[0] != '{':
		return nil, p.errf(ErrUnsupported, 0, "not JSON (first line %q): only the J (JSON) output of storcli/perccli is read, run the command with J", firstNonBlank(p.lines))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return nil, p.errf(ErrTruncated, 0, "JSON document ends early: %v", err)
	case errors.As(err, &syn):
		line := 1 + bytes.Count(p.data[:min(int(syn.Offset), len(p.data))], []byte("\n"))
		return nil, p.errf(ErrMalformed, line, "invalid JSON: %v", err)
	}
	return nil, p.errf(ErrMalformed, 0, "%v", err)
}

// storcliExplain says why no storcli command matched: not JSON, cut
// short, the 008.x schema.
func storcliExplain(p *parseCtx) error {
	ctls, err := storcliLoad(p)
	if err != nil {
		return err
	}
	var keys []string
	for k := range ctls[0].data {
		keys = append(keys, strconv.Quote(k))
	}
	sort.Strings(keys)
	return p.errf(ErrUnsupported, 0, "storcli/perccli JSON (Controllers[].Command Status and Response Data) of a command this parser does not read: Response Data keys %s", strings.Join(keys, ", "))
}

// storcli2Schema spots the 008.x keys even when the version is absent.
func storcli2Schema(rd map[string]any) bool {
	for _, k := range []string{"Drives List", "Enclosure List", "LU/NS LIST"} {
		if _, ok := rd[k]; ok {
			return true
		}
	}
	if pds, ok := rd["PD LIST"].([]any); ok && len(pds) > 0 {
		if m, ok := pds[0].(map[string]any); ok {
			if _, ok := m["PID"]; ok {
				return true
			}
		}
	}
	return false
}

// storcliToolError reports "Status": "Failure" of any controller with the
// tool's description and detailed messages, and "Number of Controllers": 0.
func storcliToolError(p *parseCtx) error {
	ctls, err := p.doc()
	if err != nil {
		return nil // storcliLoad explains it
	}
	for _, c := range ctls {
		if str(c.status["Status"]) == "Failure" {
			msg := str(c.status["Description"])
			code, _ := intOf(c.status["ErrCd"])
			if det, ok := c.status["Detailed Status"].([]any); ok {
				for _, d := range det {
					if m, ok := d.(map[string]any); ok {
						part := strings.TrimSpace(str(m["Drive"]) + " " + str(m["ErrMsg"]))
						if part != "" {
							msg += " / " + part
						}
						if n, ok := intOf(m["ErrCd"]); ok && code == 0 {
							code = n
						}
					}
				}
			}
			if msg == "None" || msg == "" {
				msg = "Status Failure"
			}
			// perccli/storcli on a host without one: "Description" :
			// "No Controller found" (no "Controller" key).
			var kind error
			if strings.EqualFold(msg, "No Controller found") {
				kind = ErrNoController
			}
			if ctl := str(c.status["Controller"]); ctl != "" {
				msg = "controller " + ctl + ": " + msg
			}
			return p.toolErr(msg, code, kind)
		}
	}
	if n, ok := intOf(ctls[0].data["Number of Controllers"]); ok && n == 0 {
		return p.toolErr("Number of Controllers = 0", 0, ErrNoController)
	}
	return nil
}

// str renders a JSON scalar as the tool printed it, trimmed.
func str(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func intOf(v any) (int, bool) {
	s := str(v)
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func ctlIndex(c storcliCtl) (int, bool) {
	if n, ok := intOf(c.status["Controller"]); ok && n >= 0 {
		return n, true
	}
	if b, ok := c.data["Basics"].(map[string]any); ok {
		if n, ok := intOf(b["Controller"]); ok && n >= 0 {
			return n, true
		}
	}
	return 0, false
}

func objList(v any) ([]map[string]any, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		m, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		out = append(out, m)
	}
	return out, true
}

// parseStorcliShow reads "show": the system overview, one row per
// controller.
func parseStorcliShow(p *parseCtx) (*Result, error) {
	ctls, err := storcliLoad(p)
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: str(ctls[0].status["CLI Version"])}
	rows, ok := objList(ctls[0].data["System Overview"])
	if !ok {
		return nil, p.errf(ErrMalformed, 0, `no "System Overview" list`)
	}
	for i, row := range rows {
		idx, ok := intOf(row["Ctl"])
		if !ok || idx < 0 {
			return nil, p.errf(ErrMalformed, 0, "System Overview[%d]: Ctl %v is not a number", i, row["Ctl"])
		}
		r.Controllers = append(r.Controllers, Controller{Index: idx, Model: str(row["Model"]), Status: storcliHealth(str(row["Hlth"]))})
	}
	if n, ok := intOf(ctls[0].data["Number of Controllers"]); ok && n != len(rows) {
		return nil, p.errf(ErrMalformed, 0, "Number of Controllers is %d but System Overview has %d rows", n, len(rows))
	}
	return r, nil
}

func storcliHealth(s string) string {
	switch s {
	case "Opt":
		return "optimal"
	case "NdAtn":
		return "needs attention"
	}
	return strings.ToLower(s)
}

var storcliPCI = regexp.MustCompile(`^([0-9a-fA-F]{2,4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2}):([0-9a-fA-F]{1,2})$`)

// storcliController reads the controller fields of "/cN show [all]": the
// 007.x "show all" groups them under Basics/Version/Bus, plain "show" puts
// them at the top level.
func storcliController(c storcliCtl) Controller {
	get := func(group string, keys ...string) string {
		src := c.data
		if g, ok := c.data[group].(map[string]any); ok {
			src = g
		}
		for _, k := range keys {
			if s := str(src[k]); s != "" {
				return s
			}
		}
		return ""
	}
	idx, _ := ctlIndex(c)
	ctrl := Controller{
		Index:         idx,
		Model:         get("Basics", "Model", "Product Name"),
		Serial:        get("Basics", "Serial Number"),
		Firmware:      get("Version", "Firmware Version", "FW Version"),
		BIOS:          get("Version", "Bios Version", "BIOS Version"),
		Driver:        get("Version", "Driver Name"),
		DriverVersion: get("Version", "Driver Version"),
		Mode:          "RAID",
	}
	if m := storcliPCI.FindStringSubmatch(get("Basics", "PCI Address")); m != nil {
		dom, _ := strconv.ParseUint(m[1], 16, 16)
		bus, _ := strconv.ParseUint(m[2], 16, 8)
		dev, _ := strconv.ParseUint(m[3], 16, 8)
		fn, _ := strconv.ParseUint(m[4], 16, 8)
		if dev <= 0x1f && fn <= 7 {
			ctrl.PCIAddress = fmt.Sprintf("%04x:%02x:%02x.%x", dom, bus, dev, fn)
		}
	}
	ids := [4]int{-1, -1, -1, -1}
	for i, k := range []string{"Vendor Id", "Device Id", "SubVendor Id", "SubDevice Id"} {
		if n, ok := intOf(get("Bus", k)); ok && n >= 0 && n <= 0xffff {
			ids[i] = n
		}
	}
	if ids[0] >= 0 && ids[1] >= 0 {
		ctrl.PCIID = fmt.Sprintf("%04x:%04x", ids[0], ids[1])
	}
	if ids[2] >= 0 && ids[3] >= 0 {
		ctrl.PCISubsystem = fmt.Sprintf("%04x:%04x", ids[2], ids[3])
	}
	if st, ok := c.data["Status"].(map[string]any); ok {
		ctrl.Status = strings.ToLower(str(st["Controller Status"]))
		if strings.HasPrefix(strings.ToUpper(str(st["Current Personality"])), "HBA") {
			ctrl.Mode = "HBA"
		}
	}
	return ctrl
}

// storcliVDState maps the VD states of storcli's legend ("Optl=Optimal|
// OfLn=OffLine|Pdgd=Partially Degraded|Dgrd=Degraded|Rec=Recovery|
// Cac=CacheCade").
func storcliVDState(s string) (string, bool) {
	switch s {
	case "Optl":
		return VolumeOptimal, true
	case "Dgrd", "Pdgd":
		return VolumeDegraded, true
	case "OfLn":
		return VolumeOffline, true
	case "Rec":
		return VolumeRebuilding, true
	case "Frgn":
		return VolumeOffline, true
	}
	return "", false
}

// storcliPDState maps the PD states of the legend ("Onln=Online|
// UGood=Unconfigured Good|UBad=Unconfigured Bad|Offln=Offline|Rbld=Rebuild|
// GHS=Global Hot Spare|DHS=Dedicated Hot Spare|Msng=Missing|…").
func storcliPDState(s string) (string, bool) {
	switch s {
	case "Onln":
		return DiskOnline, true
	case "UGood", "JBOD":
		// JBOD drives are passed to the OS whole; neither a member nor free.
		if s == "JBOD" {
			return DiskOnline, true
		}
		return DiskReady, true
	case "UBad", "UGUnsp", "UGShld", "UBUnsp", "Shld", "HSPShld", "CFShld", "Failed":
		return DiskFailed, true
	case "Offln":
		return DiskOffline, true
	case "Rbld", "Cpybck":
		return DiskRebuilding, true
	case "GHS", "DHS":
		return DiskHotSpare, true
	case "Msng":
		return DiskMissing, true
	case "Frgn":
		return DiskForeign, true
	}
	return "", false
}

var storcliEIDSlt = regexp.MustCompile(`^\s*(\d*)\s*:\s*(\d+)\s*$`)

// storcliLocation turns "252:0" into "252:0" and " :4" (no enclosure)
// into ":4", the form storcli's drives= option takes.
func storcliLocation(v any) (string, bool) {
	m := storcliEIDSlt.FindStringSubmatch(str(v))
	if m == nil {
		return "", false
	}
	return m[1] + ":" + m[2], true
}

func storcliPD(p *parseCtx, ctl int, row map[string]any, where string) (PhysicalDisk, error) {
	loc, ok := storcliLocation(row["EID:Slt"])
	if !ok {
		return PhysicalDisk{}, p.errf(ErrMalformed, 0, "%s: EID:Slt %q is not enclosure:slot", where, str(row["EID:Slt"]))
	}
	d := PhysicalDisk{
		Controller: ctl,
		Location:   loc,
		Model:      str(row["Model"]),
		Interface:  strings.ToLower(str(row["Intf"])),
		Media:      mediaOf(str(row["Med"])),
		RawState:   str(row["State"]),
	}
	if d.State, ok = storcliPDState(d.RawState); !ok {
		d.State = Unknown(d.RawState)
	}
	if size, ok := parseSize(str(row["Size"]), binaryUnits); ok {
		d.SizeBytes = size
	} else {
		return d, p.errf(ErrMalformed, 0, "%s: drive %s has unreadable Size %q", where, loc, str(row["Size"]))
	}
	return d, nil
}

// parseStorcliCtrl reads "/cN show" and "/cN show all" (also /call): the
// controller, the VD LIST with members from the TOPOLOGY, the PD LIST.
func parseStorcliCtrl(p *parseCtx) (*Result, error) {
	ctls, err := storcliLoad(p)
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: str(ctls[0].status["CLI Version"])}
	for _, c := range ctls {
		ctrl := storcliController(c)
		if _, ok := ctlIndex(c); !ok {
			return nil, p.errf(ErrMalformed, 0, "controller without a number in Command Status or Basics")
		}
		if ctrl.Model == "" {
			return nil, p.errf(ErrMalformed, 0, "controller %d: no Model/Product Name", ctrl.Index)
		}
		r.Controllers = append(r.Controllers, ctrl)
		where := fmt.Sprintf("controller %d", ctrl.Index)

		// Members per drive group from the TOPOLOGY's DRIVE rows.
		members := map[string][]string{}
		topo, _ := objList(c.data["TOPOLOGY"])
		for _, t := range topo {
			if str(t["Type"]) != "DRIVE" {
				continue
			}
			loc, ok := storcliLocation(t["EID:Slot"])
			if !ok {
				return nil, p.errf(ErrMalformed, 0, "%s: TOPOLOGY drive row with EID:Slot %q", where, str(t["EID:Slot"]))
			}
			dg := str(t["DG"])
			members[dg] = append(members[dg], loc)
		}
		dgToVD := map[string]string{}
		vds, hasVDs := objList(c.data["VD LIST"])
		if !hasVDs && c.data["VD LIST"] != nil {
			return nil, p.errf(ErrMalformed, 0, "%s: VD LIST is not a list", where)
		}
		for _, row := range vds {
			v, dg, err := storcliVD(p, ctrl.Index, row, where)
			if err != nil {
				return nil, err
			}
			v.Members = members[dg]
			if len(topo) > 0 && len(v.Members) == 0 {
				p.warnf("%s: VD %s (drive group %s) has no DRIVE rows in the TOPOLOGY; members unknown", where, v.ID, dg)
			}
			dgToVD[dg] = v.ID
			r.Volumes = append(r.Volumes, v)
		}
		if n, ok := intOf(c.data["Virtual Drives"]); ok && n != len(vds) {
			return nil, p.errf(ErrMalformed, 0, "%s: Virtual Drives is %d but VD LIST has %d rows", where, n, len(vds))
		}
		pds, _ := objList(c.data["PD LIST"])
		for _, row := range pds {
			d, err := storcliPD(p, ctrl.Index, row, where)
			if err != nil {
				return nil, err
			}
			d.Volume = dgToVD[str(row["DG"])]
			r.Disks = append(r.Disks, d)
		}
		if n, ok := intOf(c.data["Physical Drives"]); ok && n != len(pds) {
			return nil, p.errf(ErrMalformed, 0, "%s: Physical Drives is %d but PD LIST has %d rows", where, n, len(pds))
		}
	}
	return r, nil
}

func storcliVD(p *parseCtx, ctl int, row map[string]any, where string) (Volume, string, error) {
	dgvd := str(row["DG/VD"])
	dg, vd, ok := strings.Cut(dgvd, "/")
	if !ok {
		// storcli 1.x on Nytro WarpDrive prints "DG/VD": 0, a bare number.
		if _, isNum := atoiOK(dgvd); !isNum {
			return Volume{}, "", p.errf(ErrMalformed, 0, "%s: DG/VD %q is not dg/vd", where, dgvd)
		}
		dg, vd = dgvd, dgvd
		p.warnf("%s: DG/VD printed as the bare number %s; taken as drive group %s, virtual drive %s", where, dgvd, dg, vd)
	}
	if _, ok1 := atoiOK(dg); !ok1 {
		return Volume{}, "", p.errf(ErrMalformed, 0, "%s: DG/VD %q is not dg/vd", where, dgvd)
	}
	if _, ok2 := atoiOK(vd); !ok2 {
		return Volume{}, "", p.errf(ErrMalformed, 0, "%s: DG/VD %q is not dg/vd", where, dgvd)
	}
	v := Volume{Controller: ctl, ID: vd, Name: str(row["Name"]), Level: normLevel(str(row["TYPE"])), RawState: str(row["State"])}
	var okS bool
	if v.State, okS = storcliVDState(v.RawState); !okS {
		v.State = Unknown(v.RawState)
	}
	if v.Level == "" {
		return v, "", p.errf(ErrMalformed, 0, "%s: VD %s has no TYPE", where, dgvd)
	}
	size, okZ := parseSize(str(row["Size"]), binaryUnits)
	if !okZ {
		return v, "", p.errf(ErrMalformed, 0, "%s: VD %s has unreadable Size %q", where, dgvd, str(row["Size"]))
	}
	v.SizeBytes = size
	return v, dg, nil
}

var (
	storcliDriveKey = regexp.MustCompile(`^Drive (/c\d+(?:/e(\d+))?/s(\d+))$`)
	storcliVDKey    = regexp.MustCompile(`^/c(\d+)/v(\d+)$`)
	storcliSectors  = regexp.MustCompile(`\[0x([0-9a-fA-F]+) Sectors\]`)
)

// parseStorcliDrives reads "/cN/eall/sall show [all]" (also /call/…):
// one "Drive /cN/eE/sS" key per drive with a one-row list, and with "all"
// a "… - Detailed Information" object holding serial, firmware and the
// exact sector count.
func parseStorcliDrives(p *parseCtx) (*Result, error) {
	ctls, err := storcliLoad(p)
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: str(ctls[0].status["CLI Version"])}
	for _, c := range ctls {
		idx, ok := ctlIndex(c)
		if !ok {
			return nil, p.errf(ErrMalformed, 0, "drive list without a controller number in Command Status")
		}
		r.Controllers = append(r.Controllers, Controller{Index: idx})
		// "/cN/eall/sall show" without "all": one "Drive Information" list.
		if rows, ok := objList(c.data["Drive Information"]); ok {
			for i, row := range rows {
				d, err := storcliPD(p, idx, row, fmt.Sprintf("controller %d Drive Information[%d]", idx, i))
				if err != nil {
					return nil, err
				}
				r.Disks = append(r.Disks, d)
			}
		}
		var keys []string
		for k := range c.data {
			if storcliDriveKey.MatchString(k) {
				keys = append(keys, k)
			}
		}
		// JSON objects are unordered; keep the tool's slot order.
		sort.Slice(keys, func(i, j int) bool { return driveKeyLess(keys[i], keys[j]) })
		for _, k := range keys {
			rows, ok := objList(c.data[k])
			if !ok || len(rows) != 1 {
				return nil, p.errf(ErrMalformed, 0, "%q is not a one-row list", k)
			}
			d, err := storcliPD(p, idx, rows[0], k)
			if err != nil {
				return nil, err
			}
			m := storcliDriveKey.FindStringSubmatch(k)
			if want := m[2] + ":" + m[3]; want != d.Location {
				p.warnf("%s: the record says EID:Slt %s; using the record", k, d.Location)
			}
			if det, ok := c.data[k+" - Detailed Information"].(map[string]any); ok {
				if attr, ok := det[m[0]+" Device attributes"].(map[string]any); ok {
					d.Serial = str(attr["SN"])
					d.Firmware = str(attr["Firmware Revision"])
					if mm := str(attr["Model Number"]); mm != "" {
						d.Model = mm
					}
					d.SizeBytes = storcliExactSize(attr, str(rows[0]["SeSz"]), d.SizeBytes)
				}
			}
			r.Disks = append(r.Disks, d)
		}
	}
	return r, nil
}

// storcliExactSize computes bytes from "Coerced size": "10.691 TB
// [0x558900000 Sectors]" and the logical sector size; the coerced size is
// what a volume can use.
func storcliExactSize(attr map[string]any, seSz string, fallback uint64) uint64 {
	m := storcliSectors.FindStringSubmatch(str(attr["Coerced size"]))
	if m == nil {
		return fallback
	}
	n, err := strconv.ParseUint(m[1], 16, 64)
	if err != nil || n > 1<<50 {
		return fallback
	}
	ss := uint64(512)
	for _, s := range []string{str(attr["Logical Sector Size"]), str(attr["Sector Size"]), seSz} {
		if b, ok := parseSize(s, binaryUnits); ok && b > 0 {
			ss = b
			break
		}
	}
	return n * ss
}

func driveKeyLess(a, b string) bool {
	ma, mb := storcliDriveKey.FindStringSubmatch(a), storcliDriveKey.FindStringSubmatch(b)
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if ma[2] != mb[2] {
		return num(ma[2]) < num(mb[2])
	}
	if ma[3] != mb[3] {
		return num(ma[3]) < num(mb[3])
	}
	return a < b
}

// parseStorcliVDs reads "/cN/vall show": the VD list without members.
func parseStorcliVDs(p *parseCtx) (*Result, error) {
	ctls, err := storcliLoad(p)
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: str(ctls[0].status["CLI Version"])}
	for _, c := range ctls {
		idx, ok := ctlIndex(c)
		if !ok {
			return nil, p.errf(ErrMalformed, 0, "VD list without a controller number in Command Status")
		}
		r.Controllers = append(r.Controllers, Controller{Index: idx})
		if _, ok := c.data["Virtual Drives"]; !ok {
			if err := storcliVDsAll(p, r, idx, c.data); err != nil {
				return nil, err
			}
			continue
		}
		rows, ok := objList(c.data["Virtual Drives"])
		if !ok {
			return nil, p.errf(ErrMalformed, 0, `controller %d: "Virtual Drives" is not a list`, idx)
		}
		for _, row := range rows {
			v, _, err := storcliVD(p, idx, row, fmt.Sprintf("controller %d", idx))
			if err != nil {
				return nil, err
			}
			r.Volumes = append(r.Volumes, v)
		}
	}
	return r, nil
}

// storcliVDsAll reads "/cN/vall show all": per VD a one-row "/cN/vM" list,
// its members in "PDs for VD M" and "VDM Properties" (a running
// "Active Operations" is the volume's operation).
func storcliVDsAll(p *parseCtx, r *Result, idx int, data map[string]any) error {
	var ids []int
	for k := range data {
		if m := storcliVDKey.FindStringSubmatch(k); m != nil {
			n, _ := strconv.Atoi(m[2])
			ids = append(ids, n)
		}
	}
	sort.Ints(ids)
	for _, n := range ids {
		key := fmt.Sprintf("/c%d/v%d", idx, n)
		rows, ok := objList(data[key])
		if !ok || len(rows) != 1 {
			return p.errf(ErrMalformed, 0, "%q is not a one-row list (or names another controller than %d)", key, idx)
		}
		v, _, err := storcliVD(p, idx, rows[0], key)
		if err != nil {
			return err
		}
		if pds, ok := objList(data[fmt.Sprintf("PDs for VD %d", n)]); ok {
			v.Members = []string{}
			for _, row := range pds {
				d, err := storcliPD(p, idx, row, fmt.Sprintf("PDs for VD %d", n))
				if err != nil {
					return err
				}
				d.Volume = v.ID
				v.Members = append(v.Members, d.Location)
				r.Disks = append(r.Disks, d)
			}
		}
		if props, ok := data[fmt.Sprintf("VD%d Properties", n)].(map[string]any); ok {
			if op := str(props["Active Operations"]); op != "" && op != "None" {
				v.Operation = op
			}
		}
		r.Volumes = append(r.Volumes, v)
	}
	return nil
}

// parseStorcliEnclosures reads "/cN/eall show": enclosures are not part
// of the model, so only the controller is reported; the parse still checks
// the shape so a wrong command name is caught.
func parseStorcliEnclosures(p *parseCtx) (*Result, error) {
	ctls, err := storcliLoad(p)
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: str(ctls[0].status["CLI Version"])}
	for _, c := range ctls {
		idx, ok := ctlIndex(c)
		if !ok {
			return nil, p.errf(ErrMalformed, 0, "enclosure list without a controller number")
		}
		rows, ok := objList(c.data["Properties"])
		if !ok {
			return nil, p.errf(ErrMalformed, 0, `controller %d: "Properties" is not a list`, idx)
		}
		for i, row := range rows {
			if _, ok := intOf(row["EID"]); !ok {
				return nil, p.errf(ErrMalformed, 0, "controller %d: enclosure %d has no numeric EID", idx, i)
			}
		}
		r.Controllers = append(r.Controllers, Controller{Index: idx})
	}
	return r, nil
}

// parseStorcliForeign reads "/cN/fall show": foreign drive groups become
// volumes in state offline with raw state Frgn and id "foreign:DG".
func parseStorcliForeign(p *parseCtx) (*Result, error) {
	ctls, err := storcliLoad(p)
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: str(ctls[0].status["CLI Version"])}
	for _, c := range ctls {
		idx, _ := ctlIndex(c)
		r.Controllers = append(r.Controllers, Controller{Index: idx})
		rows, ok := objList(c.data["FOREIGN CONFIGURATION"])
		if !ok {
			return nil, p.errf(ErrMalformed, 0, `"FOREIGN CONFIGURATION" is not a list`)
		}
		for _, row := range rows {
			dg := str(row["DG"])
			if _, ok := atoiOK(dg); !ok {
				return nil, p.errf(ErrMalformed, 0, "foreign configuration row with DG %q", dg)
			}
			size, _ := parseSize(str(row["Size"]), binaryUnits)
			r.Volumes = append(r.Volumes, Volume{Controller: idx, ID: "foreign:" + dg, Level: normLevel(str(row["Type"])), SizeBytes: size, State: VolumeOffline, RawState: str(row["State"])})
		}
	}
	return r, nil
}

// parseStorcliAction reads the reply of a configuration command ("/c0 add
// vd …", "/c0/v1 del"): a Command Status only.
func parseStorcliAction(p *parseCtx) (*Result, error) {
	ctls, err := storcliLoad(p)
	if err != nil {
		return nil, err
	}
	r := &Result{ToolVersion: str(ctls[0].status["CLI Version"])}
	for _, c := range ctls {
		if str(c.status["Status"]) != "Success" {
			return nil, p.errf(ErrMalformed, 0, "Command Status is %q, want Success", str(c.status["Status"]))
		}
		idx, ok := ctlIndex(c)
		if !ok {
			return nil, p.errf(ErrMalformed, 0, "command status without a controller number")
		}
		r.Controllers = append(r.Controllers, Controller{Index: idx})
		r.Message = str(c.status["Description"])
	}
	return r, nil
}
