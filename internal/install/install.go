// Package install defines needle's install as data: the stage sequence
// over a Machine, the state one stage hands to the next. The init runs it;
// the shell's `needle` commands run parts of it by hand.
package install

import (
	"net"
	"net/http"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/bootmedia"
	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/fetch"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/network"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/internal/raid"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/stage"
	"github.com/needle-boot/needle/modules"
)

// Files the image may carry (needle build --plan, --plan-key, --ca), under
// Machine.ConfigDir.
const (
	PlanFile    = "plan.yaml"
	PlanSigFile = "plan.yaml.sig"
	PlanKeys    = "plan-keys.pub"
	CAFile      = "ca.pem"
)

// Machine is what the stages share. Each stage reads the fields earlier
// stages filled and fills its own.
type Machine struct {
	Config    *cmdline.Config
	Report    *report.Reporter
	Root      inventory.Root // sysfs and procfs
	ConfigDir string         // /etc/needle: the plan, keys and CA baked into the image
	RunDir    string         // /run/needle: what the install leaves for the shell
	HTTP      *http.Client
	// Hold brackets every child process the stages run, so PID 1's orphan
	// reaper leaves their exit status to them (sysinit.Reaper.Hold).
	Hold   func() (release func())
	PCIIDs string // pci.ids in the image, when needle build --pci-ids put one there

	// KernelRelease is the running kernel's (uname -r); its modules are in
	// ModulesRoot/KernelRelease.
	KernelRelease string
	ModulesRoot   string

	// Filled by the inventory stage, and again after coldplug.
	Inventory *inventory.Inventory
	// Filled by the modules stage.
	HWDB        *hwdb.DB
	Coldplug    modules.Report
	coldplugger *modules.Coldplug // kept for settle's rescans
	modIndex    *modules.Index    // the image's module index, read once
	closeLoader func() error
	// Filled by the network stage: the NIC that got the address, and the
	// lease's hostname.
	Network    *network.State
	MAC        net.HardwareAddr
	Hostname   string
	ReportHTTP *report.HTTP
	// Filled by the plan stage.
	PlanURL   string
	PlanBytes []byte
	// PlanSigner names the key that verified the plan's signature ("" for
	// an unsigned plan), for the receipt.
	PlanSigner string
	Plan       *plan.Plan
	Validated  *plan.Validated
	// Filled by the disks stage: the disks being written, the partition
	// devices by plan name, and the ${partuuid:NAME} / ${uuid:NAME} /
	// ${label:NAME} values.
	disks   []*target
	PartDev map[string]string
	Refs    map[string]string
	// raidApplied is what the raid stage did per controller, for the
	// receipt.
	raidApplied []*raid.Applied
	// MDConf are the mdadm.conf ARRAY lines of the arrays needle made;
	// mdMembers the plan disks that became md members (the disks stage
	// leaves them alone).
	MDConf    []string
	mdMembers map[string]bool
	// Filled by the files stage: what is mounted under /mnt/needle.
	mounted    map[string]string
	mountOrder []string
	// After is what the init does once the sequence is done: "reboot"
	// when the plan says so (a kexec never comes back).
	After string
	// Medium is the stick or CD needle booted from, when there is one.
	Medium *bootmedia.Medium
	// Tools are the RAID vendor tools present in the image.
	Tools []string
	// BootDevices hold the boot medium (a USB stick, say): never erased
	// unless the plan names them.
	BootDevices []string
}

// OnHost returns a Machine for the running system with the ramdisk's
// paths: the init uses it, and so does `needle install` in the debug shell.
func OnHost(cfg *cmdline.Config, rep *report.Reporter, hold func() func()) (*Machine, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return nil, err
	}
	hc, err := fetch.HTTPClient("/etc/needle/" + CAFile)
	if err != nil {
		return nil, err
	}
	if hold == nil {
		hold = func() func() { return func() {} }
	}
	return &Machine{
		Config: cfg, Report: rep, Root: inventory.Host(),
		ConfigDir: "/etc/needle", RunDir: "/run/needle", HTTP: hc,
		PCIIDs:        "/usr/share/misc/pci.ids",
		KernelRelease: unix.ByteSliceToString(uts.Release[:]), ModulesRoot: "/lib/modules",
		Hold:    hold,
		PartDev: map[string]string{}, Refs: map[string]string{}, mounted: map[string]string{},
		mdMembers: map[string]bool{},
	}, nil
}

func (m *Machine) config(name string) string { return filepath.Join(m.ConfigDir, name) }
func (m *Machine) run(name string) string    { return filepath.Join(m.RunDir, name) }

// Sequence returns the install's steps in order.
func Sequence(m *Machine) stage.Sequence {
	return stage.Sequence{
		{Stage: cmdline.Inventory, Name: "scan", Fatal: true, Run: m.scan},
		{Stage: cmdline.Modules, Name: "coldplug", Fatal: true, Run: m.coldplug},
		{Stage: cmdline.Modules, Name: "settle", Fatal: true, Run: m.settle},
		{Stage: cmdline.Modules, Name: "medium", Fatal: true, Run: m.findMedium},
		{Stage: cmdline.Network, Name: "up", Fatal: true, Needed: m.networkNeeded,
			NeededWhen: "a plan, report or hwdb URL must be reached", Run: m.bringUpNetwork},
		{Stage: cmdline.Network, Name: "hwdb", Fatal: true, Run: m.fetchHWDB},
		{Stage: cmdline.Network, Name: "report", Fatal: true, Run: m.startReport},
		{Stage: cmdline.Plan, Name: "fetch", Fatal: true, Run: m.fetchPlan},
		{Stage: cmdline.Plan, Name: "validate", Fatal: true, Run: m.validatePlan},
		{Stage: cmdline.RAID, Name: "apply", Fatal: true, Run: m.applyRAID},
		{Stage: cmdline.RAID, Name: "md", Fatal: true, Run: m.createMD},
		{Stage: cmdline.Disks, Name: "release", Fatal: true, Run: m.releaseDisks},
		{Stage: cmdline.Disks, Name: "wipe", Fatal: true, Run: m.wipeDisks},
		{Stage: cmdline.Disks, Name: "layout", Fatal: true, Run: m.layoutDisks},
		{Stage: cmdline.Disks, Name: "format", Fatal: true, Run: m.formatDisks},
		{Stage: cmdline.Image, Name: "stream", Fatal: true, Run: m.streamImages},
		{Stage: cmdline.Image, Name: "table", Fatal: true, Run: m.writeTables},
		{Stage: cmdline.Files, Name: "write", Fatal: true, Run: m.writeFiles},
		{Stage: cmdline.Handoff, Name: "boot", Fatal: true, Run: m.handoff},
	}
}

// Destructive says whether a stage changes disks or controllers; the ones
// that do not (inventory, modules, network, plan) are safe to run again.
func Destructive(stage cmdline.Stage) bool {
	switch stage {
	case cmdline.Inventory, cmdline.Modules, cmdline.Network, cmdline.Plan:
		return false
	}
	return true
}
