package raid

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/needle-boot/needle/internal/shell"
	"github.com/needle-boot/needle/internal/toolrun"
)

// Driver drives one vendor tool through a Runner: it reads the state of
// every controller the tool sees, and creates and deletes volumes.
type Driver interface {
	// Tool is the tool family name (sas2ircu, storcli, …).
	Tool() string
	// State lists the controllers, then reads each one's volumes and
	// disks. A machine without a controller the tool manages gives an
	// empty Result, not an error.
	State(ctx context.Context) (*Result, error)
	// CreateArgs and DeleteArgs are the exact arguments Create and Delete
	// run (after the binary), for dry runs.
	CreateArgs(ctrl int, v VolumeSpec) ([]string, error)
	DeleteArgs(ctrl int, volID string) ([]string, error)
	Create(ctx context.Context, ctrl int, v VolumeSpec) error
	Delete(ctx context.Context, ctrl int, volID string) error
	// Binary is the program run (a name looked up in PATH, or a path).
	Binary() string
}

// ControllerError is a failure while talking to one controller; it names
// the controller as far as the tool told (a crash diagnosis needs it).
type ControllerError struct {
	Tool       string
	Index      int
	PCIAddress string // empty when the tool did not say
	PCIID      string
	Err        error
}

func (e *ControllerError) Error() string {
	s := fmt.Sprintf("%s controller %d", e.Tool, e.Index)
	if e.PCIAddress != "" {
		s += " (" + e.PCIAddress
		if e.PCIID != "" {
			s += " " + e.PCIID
		}
		s += ")"
	}
	return s + ": " + e.Err.Error()
}

func (e *ControllerError) Unwrap() error { return e.Err }

// NewDriver returns the driver for a tool name as the plan and the hwdb
// spell it (perccli is storcli's format, sas3ircu sas2ircu's). binary is
// the program to run; empty means the tool name itself, found in PATH.
func NewDriver(tool, binary string, r toolrun.Runner) (Driver, error) {
	if binary == "" {
		binary = tool
	}
	b := base{tool: tool, bin: binary, r: r}
	switch tool {
	case "sas2ircu", "sas3ircu":
		return ircu{b}, nil
	case "storcli", "storcli64", "perccli", "perccli64":
		return storcli{b}, nil
	case "arcconf":
		return arcconf{b}, nil
	case "tw_cli", "tw_cli64":
		return twcli{b}, nil
	case "ssacli", "hpssacli", "hpacucli":
		return ssacli{b}, nil
	}
	return nil, fmt.Errorf("raid: no driver for tool %q (known: %v)", tool, Tools())
}

type base struct {
	tool string
	bin  string
	r    toolrun.Runner
}

func (b base) Tool() string   { return b.tool }
func (b base) Binary() string { return b.bin }

// call runs the tool and parses its output as command cmd. A tool that
// crashed or timed out gives its toolrun.Error: its partial output proves
// nothing. A tool that failed and said why gives the ToolError joined with
// the toolrun.Error; output that does not parse gives the ParseError (and the
// toolrun.Error when the tool also failed).
func (b base) call(ctx context.Context, cmd string, args ...string) (*Result, error) {
	out, err := b.r.Run(ctx, b.bin, args...)
	var re *toolrun.Error
	if errors.As(err, &re) && (re.Crashed() || re.Err != nil && re.ExitCode < 0) {
		return nil, err
	}
	res, perr := Parse(b.tool, cmd, out)
	switch {
	case perr != nil && err != nil:
		return nil, fmt.Errorf("%w (%w)", perr, err)
	case perr != nil:
		return nil, perr
	case err != nil:
		return nil, fmt.Errorf("%s: output parsed but the tool failed: %w", shell.Join(append([]string{b.bin}, args...)), err)
	}
	return res, nil
}

func newState(tool string) *Result {
	return &Result{Tool: tool, Command: "state", Controllers: []Controller{}, Volumes: []Volume{}, Disks: []PhysicalDisk{}}
}

// merge adds one controller's detailed result to the state, the listed
// controller's identity completed by the detail's fields.
func (r *Result) merge(listed Controller, detail *Result) {
	c := listed
	for _, d := range detail.Controllers {
		if d.Index != listed.Index && len(detail.Controllers) > 1 {
			continue
		}
		fill := func(dst *string, src string) {
			if *dst == "" {
				*dst = src
			}
		}
		fill(&c.Model, d.Model)
		fill(&c.Serial, d.Serial)
		fill(&c.Firmware, d.Firmware)
		fill(&c.BIOS, d.BIOS)
		fill(&c.Driver, d.Driver)
		fill(&c.DriverVersion, d.DriverVersion)
		fill(&c.PCIAddress, d.PCIAddress)
		fill(&c.PCIID, d.PCIID)
		fill(&c.PCISubsystem, d.PCISubsystem)
		fill(&c.Mode, d.Mode)
		fill(&c.Status, d.Status)
	}
	r.Controllers = append(r.Controllers, c)
	for _, v := range detail.Volumes {
		v.Controller = listed.Index
		r.Volumes = append(r.Volumes, v)
	}
	for _, d := range detail.Disks {
		d.Controller = listed.Index
		r.Disks = append(r.Disks, d)
	}
	r.Tasks = append(r.Tasks, detail.Tasks...)
	r.Warnings = append(r.Warnings, detail.Warnings...)
	if r.ToolVersion == "" {
		r.ToolVersion = detail.ToolVersion
	}
}

// listThenDetail is State for the tools that list their controllers
// first and then describe each one: listArgs (output parsed as listCmd),
// then detail(c) per listed controller, merged into one state. A machine
// without a controller the tool manages gives an empty state.
func (b base) listThenDetail(ctx context.Context, listCmd string, listArgs []string, detail func(c Controller) (*Result, error)) (*Result, error) {
	st := newState(b.tool)
	list, err := b.call(ctx, listCmd, listArgs...)
	if errors.Is(err, ErrNoController) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	st.ToolVersion = list.ToolVersion
	for _, c := range list.Controllers {
		det, err := detail(c)
		if err != nil {
			return nil, ctrlErr(b.tool, c, err)
		}
		st.merge(c, det)
	}
	return st, Check(st)
}

func ctrlErr(tool string, c Controller, err error) error {
	return &ControllerError{Tool: tool, Index: c.Index, PCIAddress: c.PCIAddress, PCIID: c.PCIID, Err: err}
}

// ircu drives sas2ircu and sas3ircu: "LIST", then "<n> DISPLAY" per
// controller (SAS2IRCU user guide).
type ircu struct{ base }

func (d ircu) State(ctx context.Context) (*Result, error) {
	return d.listThenDetail(ctx, "list", []string{"LIST"}, func(c Controller) (*Result, error) {
		return d.call(ctx, "display", strconv.Itoa(c.Index), "DISPLAY")
	})
}

func (d ircu) CreateArgs(ctrl int, v VolumeSpec) ([]string, error) {
	v.Controller = ctrl
	return SAS2IRCUCreateArgs(v)
}

func (d ircu) DeleteArgs(ctrl int, id string) ([]string, error) {
	return SAS2IRCUDeleteVolumeArgs(ctrl, id)
}

func (d ircu) Create(ctx context.Context, ctrl int, v VolumeSpec) error {
	args, err := d.CreateArgs(ctrl, v)
	return d.run(ctx, "create", args, err)
}

func (d ircu) Delete(ctx context.Context, ctrl int, id string) error {
	args, err := d.DeleteArgs(ctrl, id)
	return d.run(ctx, "delete", args, err)
}

// storcli drives storcli and perccli with J output: "show J", then
// "/cN show J" per controller (its TOPOLOGY gives the VD members).
type storcli struct{ base }

func (d storcli) State(ctx context.Context) (*Result, error) {
	return d.listThenDetail(ctx, "show", []string{"show", "J"}, func(c Controller) (*Result, error) {
		return d.call(ctx, "ctrl-show", fmt.Sprintf("/c%d", c.Index), "show", "J")
	})
}

func (d storcli) CreateArgs(ctrl int, v VolumeSpec) ([]string, error) {
	v.Controller = ctrl
	return StorcliCreateArgs(v)
}

// DeleteArgs uses force: needle deletes a volume only for a plan that
// said recreate, and such a volume usually holds an old OS.
func (d storcli) DeleteArgs(ctrl int, id string) ([]string, error) {
	return StorcliDeleteArgs(ctrl, id, true)
}

func (d storcli) Create(ctx context.Context, ctrl int, v VolumeSpec) error {
	args, err := d.CreateArgs(ctrl, v)
	return d.run(ctx, "action", args, err)
}

func (d storcli) Delete(ctx context.Context, ctrl int, id string) error {
	args, err := d.DeleteArgs(ctrl, id)
	return d.run(ctx, "action", args, err)
}

// run runs a create or delete whose argv was built with err: through call,
// parsing the output as cmd, or through change when cmd is "" (a tool that
// prints nothing when it works).
func (b base) run(ctx context.Context, cmd string, args []string, err error) error {
	if err != nil {
		return err
	}
	if cmd == "" {
		return b.change(ctx, args...)
	}
	_, err = b.call(ctx, cmd, args...)
	return err
}

// change runs a create or delete that prints nothing when it works
// (ssacli), so there is no output to parse: an "Error: …" it prints
// instead becomes the ToolError, joined with the toolrun.Error of its exit
// status; other text (a warning) is not an error by itself.
func (b base) change(ctx context.Context, args ...string) error {
	out, err := b.r.Run(ctx, b.bin, args...)
	var re *toolrun.Error
	if errors.As(err, &re) && (re.Crashed() || re.Err != nil && re.ExitCode < 0) {
		return err
	}
	var te *ToolError
	if _, perr := Parse(b.tool, "", out); errors.As(perr, &te) {
		if err != nil {
			return fmt.Errorf("%w (%w)", te, err)
		}
		return te
	}
	return err
}

// arcconf (Adaptec/Microsemi): "LIST", then "GETCONFIG <n> AL" per
// controller; CREATE and DELETE a LOGICALDRIVE (argv.go). Its controller
// numbers start at 1, and the model keeps them as they are.
type arcconf struct{ base }

func (d arcconf) State(ctx context.Context) (*Result, error) {
	return d.listThenDetail(ctx, "list", []string{"LIST"}, func(c Controller) (*Result, error) {
		return d.call(ctx, "getconfig", "GETCONFIG", strconv.Itoa(c.Index), "AL")
	})
}

func (d arcconf) CreateArgs(ctrl int, v VolumeSpec) ([]string, error) {
	v.Controller = ctrl
	return ArcconfCreateArgs(v)
}

func (d arcconf) DeleteArgs(ctrl int, id string) ([]string, error) {
	return ArcconfDeleteArgs(ctrl, id)
}

func (d arcconf) Create(ctx context.Context, ctrl int, v VolumeSpec) error {
	args, err := d.CreateArgs(ctrl, v)
	return d.run(ctx, "create", args, err)
}

func (d arcconf) Delete(ctx context.Context, ctrl int, id string) error {
	args, err := d.DeleteArgs(ctrl, id)
	return d.run(ctx, "delete", args, err)
}

// twcli (3ware): "info", then "/cN show" per controller and "/cN/uM show
// name" per unit (the unit table has no name column); "/cN add" and
// "/cN/uM del quiet" (argv.go).
type twcli struct{ base }

func (d twcli) State(ctx context.Context) (*Result, error) {
	return d.listThenDetail(ctx, "info", []string{"info"}, func(c Controller) (*Result, error) {
		det, err := d.call(ctx, "ctrl-show", fmt.Sprintf("/c%d", c.Index), "show")
		if err != nil {
			return nil, err
		}
		for i, v := range det.Volumes {
			named, err := d.call(ctx, "unit-name", fmt.Sprintf("/c%d/%s", c.Index, v.ID), "show", "name")
			if err != nil {
				return nil, err
			}
			if len(named.Volumes) != 1 || named.Volumes[0].ID != v.ID {
				return nil, fmt.Errorf("/c%d/%s show name answered for %+v", c.Index, v.ID, named.Volumes)
			}
			det.Volumes[i].Name = named.Volumes[0].Name
		}
		return det, nil
	})
}

func (d twcli) CreateArgs(ctrl int, v VolumeSpec) ([]string, error) {
	v.Controller = ctrl
	return TwcliCreateArgs(v)
}

func (d twcli) DeleteArgs(ctrl int, id string) ([]string, error) {
	return TwcliDeleteArgs(ctrl, id)
}

func (d twcli) Create(ctx context.Context, ctrl int, v VolumeSpec) error {
	args, err := d.CreateArgs(ctrl, v)
	return d.run(ctx, "add", args, err)
}

func (d twcli) Delete(ctx context.Context, ctrl int, id string) error {
	args, err := d.DeleteArgs(ctrl, id)
	return d.run(ctx, "del", args, err)
}

// ssacli (HPE Smart Array): one "ctrl all show config detail" covers every
// controller; "ctrl slot=S create type=ld …" and "ctrl slot=S ld N delete
// forced" (argv.go), which print nothing when they work. Controllers are
// addressed by slot, which is the model's Index for ssacli. ssacli stores
// no volume name (see VolumeNames).
type ssacli struct{ base }

func (d ssacli) State(ctx context.Context) (*Result, error) {
	st := newState(d.tool)
	all, err := d.call(ctx, "config-detail", "ctrl", "all", "show", "config", "detail")
	if errors.Is(err, ErrNoController) {
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	all.Tool, all.Command = d.tool, "state"
	return all, nil
}

func (d ssacli) CreateArgs(slot int, v VolumeSpec) ([]string, error) {
	v.Controller = slot
	return SsacliCreateArgs(v)
}

func (d ssacli) DeleteArgs(slot int, id string) ([]string, error) {
	return SsacliDeleteArgs(slot, id)
}

func (d ssacli) Create(ctx context.Context, slot int, v VolumeSpec) error {
	args, err := d.CreateArgs(slot, v)
	return d.run(ctx, "", args, err)
}

func (d ssacli) Delete(ctx context.Context, slot int, id string) error {
	args, err := d.DeleteArgs(slot, id)
	return d.run(ctx, "", args, err)
}

// VolumeNames reports whether tool stores a volume's name, which is how
// apply finds a plan's volume again. ssacli's create takes no name (the
// logical drive label is the firmware's), so for it apply tells volumes
// apart by their members instead.
func VolumeNames(tool string) bool {
	switch tool {
	case "ssacli", "hpssacli", "hpacucli":
		return false
	}
	return true
}
