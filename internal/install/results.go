package install

import (
	"context"
	"net"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/bootmedia"
	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/network"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/stage"
	"github.com/needle-boot/needle/modules"
)

// The stages' typed results. Each step receives the results it reads as
// arguments and returns what it makes; Sequence is the one place that
// wires them, and the printed sequence shows the flow (stage.Step Uses and
// Makes). The inventory itself (*inventory.Inventory) is the first result;
// the modules and raid stages hand on a fresh one once devices appeared.

// Modules is what the modules stage hands on: the hwdb (modules/hwdb,
// updated by modules/medium and network/hwdb), what coldplug did
// (modules/coldplug) and the boot medium (modules/medium).
type Modules struct {
	// HWDB is the rule set the install decides with: built-in, the image's
	// hwdb.d, the boot medium's rules and (after the network) needle.hwdb=.
	HWDB     *hwdb.DB
	Coldplug modules.Report
	// Medium is the stick or CD needle booted from; nil for a netboot.
	Medium *bootmedia.Medium

	cp          *modules.Coldplug // kept for the rescans of settle and medium
	closeLoader func() error
}

// BootDevices are the devices the plan may not erase unless it names them:
// the boot medium's.
func (r *Modules) BootDevices() []string {
	if r == nil || r.Medium == nil {
		return nil
	}
	return []string{r.Medium.Device}
}

// Network is what the network stage hands on; its zero value is a network
// that stayed down (best-effort when nothing needs it).
type Network struct {
	State    *network.State
	MAC      net.HardwareAddr // of the NIC that got the address
	Hostname string           // from the lease
	Report   *report.HTTP     // the event stream to needle.report=, when given
}

// Planned is what the plan stage hands on: the plan as fetched, and once
// validated against the inventory, the disks it selects.
type Planned struct {
	URL    string // where it came from: a URL or a file in the image or on the stick
	Bytes  []byte
	Signer string // the key that verified its signature; "" when unsigned
	Plan   *plan.Plan
	// Validated holds the disk selections; the raid stage resolves those
	// that select a volume or an md array it made.
	Validated *plan.Validated
}

// Volumes is what the raid stage hands on: what it applied per controller
// and the md arrays it made. Their block devices are resolved into the
// plan's selections (Planned.Validated).
type Volumes struct {
	Applied []*raid.Applied
	MDConf  []string        // the mdadm.conf ARRAY lines of the arrays made
	members map[string]bool // plan disks that became md members: the disks stage leaves them alone
}

// Disks is what the disks stage hands on: each target disk opened
// exclusively, placed and formatted, and the references the files and
// handoff stages resolve.
type Disks struct {
	targets []*target
	PartDev map[string]string // plan partition name → /dev/sdaN
	Refs    map[string]string // ${partuuid:NAME}, ${uuid:NAME}, ${label:NAME} values
}

// Images is what the image stage hands on: each image written and checked.
type Images struct {
	Written []WrittenImage
}

// WrittenImage is one image as written.
type WrittenImage struct {
	Name, Device, Digest string
	Bytes                int64
}

// Sequence returns the install's steps in order, wired: every result a
// step reads comes from a step before it, so a cut of the sequence (the
// shell's `needle install --from`) that leaves a step without its input is
// refused by stage.Sequence.Check instead of running on empty state.
func Sequence(m *Machine) stage.Sequence {
	var (
		inv   *inventory.Inventory
		mods  = &Modules{}
		netw  = &Network{}
		pl    = &Planned{}
		vols  = &Volumes{members: map[string]bool{}}
		disks = &Disks{}
		imgs  = &Images{}
		inst  = &Installed{}
	)
	// Every step that changes disks or controllers is skipped when the
	// selected disk already holds this plan's install: the box goes
	// straight to the handoff.
	unlessInstalled := func(s stage.Step) stage.Step {
		s.Skip, s.SkipWhen = func() bool { return inst.Done }, "the disk already holds this plan's install"
		return s
	}
	use := func(s ...string) []string { return s }
	type run = func(context.Context) error
	step := func(st cmdline.Stage, name string, uses, makes []string, r run) stage.Step {
		return stage.Step{Stage: st, Name: name, Fatal: true, Uses: uses, Makes: makes, Run: r}
	}
	up := step(cmdline.Network, "up", use("modules", "medium"), use("network"), func(ctx context.Context) (err error) {
		netw, err = m.bringUpNetwork(ctx)
		return err
	})
	up.Needed, up.NeededWhen = func() bool { return m.networkNeeded(mods) }, "a plan, report, hwdb or bisect URL must be reached"
	return stage.Sequence{
		step(cmdline.Inventory, "scan", nil, use("inventory"), func(ctx context.Context) (err error) {
			inv, err = m.scan(ctx)
			return err
		}),
		step(cmdline.Modules, "hwdb", nil, use("hwdb"), func(ctx context.Context) (err error) {
			mods.HWDB, err = LoadHWDB(m.ConfigDir)
			return err
		}),
		step(cmdline.Modules, "coldplug", use("inventory", "hwdb"), use("modules"), func(ctx context.Context) error {
			return m.coldplug(ctx, inv, mods)
		}),
		step(cmdline.Modules, "settle", use("modules"), use("inventory"), func(ctx context.Context) (err error) {
			inv, err = m.settle(ctx, mods)
			return err
		}),
		step(cmdline.Modules, "medium", use("modules"), use("medium", "hwdb"), func(ctx context.Context) error {
			return m.findMedium(ctx, mods)
		}),
		up,
		step(cmdline.Network, "hwdb", use("inventory", "medium?", "network"), use("hwdb"), func(ctx context.Context) error {
			return m.fetchHWDB(ctx, inv, mods, netw)
		}),
		step(cmdline.Network, "report", use("inventory", "network"), use("network"), func(ctx context.Context) error {
			return m.startReport(inv, netw)
		}),
		step(cmdline.Plan, "fetch", use("inventory", "medium?", "network?"), use("plan"), func(ctx context.Context) (err error) {
			pl, err = m.fetchPlan(ctx, inv, mods, netw)
			return err
		}),
		step(cmdline.Plan, "validate", use("plan", "inventory", "hwdb", "medium?"), use("plan"), func(ctx context.Context) error {
			return m.validatePlan(pl, inv, mods)
		}),
		step(cmdline.Plan, "installed", use("plan"), use("installed"), func(ctx context.Context) (err error) {
			if inst, err = m.findInstall(ctx, pl, vols); err != nil {
				return err
			}
			m.Report.Infof("plan", "%s", inst.Why)
			if inst.Done {
				disks = inst.Disks
				m.Report.Infof("plan", "handing off to it instead of installing again (reinstall: true in the plan installs again)")
			}
			return nil
		}),
		unlessInstalled(step(cmdline.RAID, "apply", use("plan", "inventory", "hwdb", "modules", "medium?"), use("volumes", "inventory"), func(ctx context.Context) (err error) {
			inv, err = m.applyRAID(ctx, pl, inv, mods, vols)
			return err
		})),
		unlessInstalled(step(cmdline.RAID, "md", use("plan", "inventory", "medium?"), use("volumes", "inventory"), func(ctx context.Context) (err error) {
			inv, err = m.createMD(ctx, pl, inv, mods, vols)
			return err
		})),
		unlessInstalled(step(cmdline.Disks, "release", use("plan", "volumes?"), use("disks"), func(ctx context.Context) (err error) {
			disks, err = m.releaseDisks(ctx, pl, vols)
			return err
		})),
		unlessInstalled(step(cmdline.Disks, "wipe", use("disks"), nil, func(ctx context.Context) error {
			return m.wipeDisks(ctx, disks)
		})),
		unlessInstalled(step(cmdline.Disks, "layout", use("plan", "disks"), use("disks"), func(ctx context.Context) error {
			return m.layoutDisks(pl, disks)
		})),
		unlessInstalled(step(cmdline.Disks, "format", use("plan", "disks"), use("disks"), func(ctx context.Context) error {
			return m.formatDisks(pl, disks)
		})),
		unlessInstalled(step(cmdline.Image, "stream", use("disks"), use("images"), func(ctx context.Context) (err error) {
			imgs, err = m.streamImages(ctx, disks)
			return err
		})),
		unlessInstalled(step(cmdline.Image, "table", use("disks"), nil, func(ctx context.Context) error {
			return m.writeTables(ctx, disks)
		})),
		unlessInstalled(step(cmdline.Files, "write", use("plan", "inventory", "hwdb", "modules", "volumes?", "disks", "images"), nil, func(ctx context.Context) error {
			return m.writeFiles(ctx, installed{inv: inv, mods: mods, plan: pl, vols: vols, disks: disks, images: imgs})
		})),
		step(cmdline.Handoff, "boot", use("plan", "disks"), nil, func(ctx context.Context) error {
			return m.handoff(ctx, pl, disks)
		}),
	}
}

// installed is everything the files stage records in the receipt.
type installed struct {
	inv    *inventory.Inventory
	mods   *Modules
	plan   *Planned
	vols   *Volumes
	disks  *Disks
	images *Images
}
