package raid

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/needle-boot/needle/internal/quote"
)

// parser reads one command's output of one tool family.
type parser struct {
	command string
	// detect reports whether the output looks like this command's.
	detect func(p *parseCtx) bool
	parse  func(p *parseCtx) (*Result, error)
}

// family is a set of tool names sharing one output format.
type family struct {
	names   []string
	parsers []parser
	// toolError finds an error the tool printed in place of its output.
	toolError func(p *parseCtx) error
	// explain says why no parser recognised the output (truncated,
	// not this tool's output at all); nil lets Parse give its own reason.
	explain func(p *parseCtx) error
}

// families is the table of supported tools. Aliases print the same format:
// perccli is Dell's build of storcli, hpssacli/hpacucli are ssacli's older
// names.
func families() []family {
	return []family{
		{names: []string{"sas2ircu", "sas3ircu"}, parsers: ircuParsers(), toolError: ircuToolError, explain: ircuExplain},
		{names: []string{"storcli", "storcli64", "perccli", "perccli64"}, parsers: storcliParsers(), toolError: storcliToolError, explain: storcliExplain},
		{names: []string{"arcconf"}, parsers: arcconfParsers(), toolError: arcconfToolError},
		{names: []string{"tw_cli", "tw_cli64"}, parsers: twcliParsers(), toolError: twcliToolError, explain: twcliExplain},
		{names: []string{"ssacli", "hpssacli", "hpacucli"}, parsers: ssacliParsers(), toolError: ssacliToolError},
	}
}

// Tools lists the tool names Parse accepts.
func Tools() []string {
	var out []string
	for _, f := range families() {
		out = append(out, f.names...)
	}
	return out
}

// Commands lists the command names Parse knows for tool, in detection
// order; nil for an unknown tool.
func Commands(tool string) []string {
	f, ok := lookupFamily(tool)
	if !ok {
		return nil
	}
	var out []string
	for _, p := range f.parsers {
		out = append(out, p.command)
	}
	return out
}

func lookupFamily(tool string) (family, bool) {
	for _, f := range families() {
		if slices.Contains(f.names, tool) {
			return f, true
		}
	}
	return family{}, false
}

// Parse reads the output of tool's command cmd. An empty cmd means: detect
// the command from the output itself. Failures the tool reported are
// *ToolError, outputs the parser cannot read are *ParseError; a returned
// Result has passed the consistency checks of Check.
func Parse(tool, cmd string, data []byte) (*Result, error) {
	f, ok := lookupFamily(tool)
	if !ok {
		return nil, fmt.Errorf("raid: unknown tool %q (known: %s)", tool, strings.Join(Tools(), ", "))
	}
	p := newParseCtx(tool, data)
	if len(p.lines) == 0 {
		return nil, p.errf(ErrTruncated, 0, "empty output")
	}
	if cmd != "" && !slices.Contains(Commands(tool), cmd) {
		return nil, fmt.Errorf("raid: %s has no command %q (known: %s)", tool, cmd, strings.Join(Commands(tool), ", "))
	}
	// A tool error looks the same whatever the command was.
	p.command = cmd
	if err := f.toolError(p); err != nil {
		return nil, err
	}
	var chosen *parser
	for i := range f.parsers {
		if cmd != "" && f.parsers[i].command == cmd || cmd == "" && f.parsers[i].detect(p) {
			chosen = &f.parsers[i]
			break
		}
	}
	if chosen == nil && f.explain != nil {
		if err := f.explain(p); err != nil {
			return nil, err
		}
	}
	if chosen == nil {
		return nil, p.errf(ErrUnsupported, 0, "cannot tell which command printed this output (first line %q); name it with a command: %s",
			firstNonBlank(p.lines), strings.Join(Commands(tool), ", "))
	}
	p.command = chosen.command
	r, err := chosen.parse(p)
	if err != nil {
		return nil, err
	}
	r.Tool = tool
	r.Command = chosen.command
	r.Warnings = append(r.Warnings, p.warnings...)
	if r.Controllers == nil {
		r.Controllers = []Controller{}
	}
	if r.Volumes == nil {
		r.Volumes = []Volume{}
	}
	if r.Disks == nil {
		r.Disks = []PhysicalDisk{}
	}
	r.Warnings = append(r.Warnings, warnDuplicates(r)...)
	if err := Check(r); err != nil {
		return nil, p.errf(ErrMalformed, 0, "%v", err)
	}
	return r, nil
}

// Check verifies that a Result is internally consistent: volume IDs are
// unique per controller, every volume member is among the listed disks and
// every disk's volume among the listed volumes (when the output lists
// them), locations and IDs are present, and states are normalised words
// or Unknown ones.
func Check(r *Result) error {
	known := map[string]bool{}
	vols := map[string]bool{}
	for _, v := range r.Volumes {
		k := diskKey(v.Controller, v.ID)
		if vols[k] {
			return fmt.Errorf("volume %s listed twice on controller %d", v.ID, v.Controller)
		}
		vols[k] = true
	}
	for _, d := range r.Disks {
		if d.Volume != "" && len(r.Volumes) > 0 && !vols[diskKey(d.Controller, d.Volume)] {
			return fmt.Errorf("disk %s: volume %s is not among the listed volumes", d.Location, d.Volume)
		}
		if d.Location == "" {
			return fmt.Errorf("disk with empty location (model %q serial %q)", d.Model, d.Serial)
		}
		if !slices.Contains(diskStates, d.State) && !IsUnknown(d.State) {
			return fmt.Errorf("disk %s: state %q is not a normalised state", d.Location, d.State)
		}
		known[diskKey(d.Controller, d.Location)] = true
	}
	for _, v := range r.Volumes {
		if v.ID == "" {
			return fmt.Errorf("volume with empty id (name %q)", v.Name)
		}
		if !slices.Contains(volumeStates, v.State) && !IsUnknown(v.State) {
			return fmt.Errorf("volume %s: state %q is not a normalised state", v.ID, v.State)
		}
		if len(r.Disks) == 0 {
			continue
		}
		for _, m := range v.Members {
			if m == "" {
				return fmt.Errorf("volume %s: empty member", v.ID)
			}
			if !known[diskKey(v.Controller, m)] {
				return fmt.Errorf("volume %s: member %s is not among the listed disks", v.ID, m)
			}
		}
	}
	return nil
}

var (
	diskStates   = []string{DiskOnline, DiskReady, DiskHotSpare, DiskRebuilding, DiskFailed, DiskMissing, DiskOffline, DiskForeign, DiskStandby, DiskUnknown}
	volumeStates = []string{VolumeOptimal, VolumeDegraded, VolumeRebuilding, VolumeVerifying, VolumeInitializing, VolumeFailed, VolumeOffline, VolumeUnknown}
)

func diskKey(ctrl int, loc string) string { return fmt.Sprintf("%d/%s", ctrl, loc) }

// warnDuplicates notes disks that share one location: the output then
// cannot say which of them a volume member is.
func warnDuplicates(r *Result) []string {
	seen := map[string]int{}
	for _, d := range r.Disks {
		seen[diskKey(d.Controller, d.Location)]++
	}
	var keys []string
	for k, n := range seen {
		if n > 1 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		out = append(out, fmt.Sprintf("%d disks share location %s (controller/location)", seen[k], k))
	}
	return out
}

// parseCtx carries the input split into lines and the names used in errors.
type parseCtx struct {
	tool     string
	command  string
	data     []byte
	lines    []string
	warnings []string
	// storcli caches the decoded JSON document for detection and parsing.
	storcli    []storcliCtl
	storcliErr error
	decoded    bool
}

func newParseCtx(tool string, data []byte) *parseCtx {
	s := string(bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n")))
	s = strings.TrimRight(s, "\n")
	var lines []string
	if strings.TrimSpace(s) != "" {
		lines = strings.Split(s, "\n")
	}
	return &parseCtx{tool: tool, data: data, lines: lines}
}

// errf builds a ParseError; quoted values are cut (quote.Args), so a 50 MB
// garbage line is not echoed whole.
func (p *parseCtx) errf(kind error, line int, format string, args ...any) error {
	return &ParseError{Tool: p.tool, Command: p.command, Line: line, Reason: fmt.Sprintf(format, quote.Args(format, args)...), Err: kind}
}

func (p *parseCtx) toolErr(msg string, code int, kind error) error {
	return &ToolError{Tool: p.tool, Command: p.command, Message: msg, Code: code, Kind: kind}
}

func (p *parseCtx) warnf(format string, args ...any) {
	p.warnings = append(p.warnings, fmt.Sprintf(format, quote.Args(format, args)...))
}

func firstNonBlank(lines []string) string {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// keyValue splits "  Key   : value" at the first colon; ok is false for
// lines without one.
func keyValue(line string) (key, value string, ok bool) {
	k, v, ok := strings.Cut(line, ":")
	if !ok {
		return "", "", false
	}
	return strings.TrimSpace(k), strings.TrimSpace(v), true
}

func containsLine(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}
