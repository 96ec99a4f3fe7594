// Package install defines needle's install as data: the stage sequence
// over a Machine, the state one stage hands to the next. The init runs it;
// the shell's `needle` commands run parts of it by hand.
package install

import (
	"net/http"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/fetch"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/needle-boot/needle/modules"
)

// Files the image may carry (needle build --plan, --plan-key, --ca), under
// Machine.ConfigDir.
const (
	PlanFile    = "plan.yaml"
	PlanSigFile = "plan.yaml.sig"
	PlanKeys    = "plan-keys.pub"
	ImageHosts  = "image-hosts" // needle build --image-host: plan.ParseHosts
	CAFile      = "ca.pem"
)

// Machine is the environment the stages run in: the kernel command line,
// the reporter, the sysfs/procfs root and the image's paths. What a stage
// finds or makes is not kept here: it is the stage's typed result
// (results.go), which Sequence hands to the steps that read it.
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
	// Tools are the RAID vendor tools present in the image; nil means look
	// them up on PATH.
	Tools []string

	// After is what the init does once the sequence is done: "reboot"
	// when the plan says so (a kexec never comes back).
	After string

	modIndex *modules.Index // the image's module index, read once
	finish   []func()       // what Finish stops: the lease renewal, the report stream
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
		Config: cfg, Report: rep, Root: sysroot.Host(),
		ConfigDir: "/etc/needle", RunDir: "/run/needle", HTTP: hc,
		PCIIDs:        "/usr/share/misc/pci.ids",
		KernelRelease: unix.ByteSliceToString(uts.Release[:]), ModulesRoot: "/lib/modules",
		Hold: hold,
	}, nil
}

func (m *Machine) config(name string) string { return filepath.Join(m.ConfigDir, name) }
func (m *Machine) run(name string) string    { return filepath.Join(m.RunDir, name) }

// Destructive says whether a stage changes disks or controllers; the ones
// that do not (inventory, modules, network, plan) are safe to run again.
func Destructive(stage cmdline.Stage) bool {
	switch stage {
	case cmdline.Inventory, cmdline.Modules, cmdline.Network, cmdline.Bisect, cmdline.Plan:
		return false
	}
	return true
}
