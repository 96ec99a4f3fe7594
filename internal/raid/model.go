// Package raid reads the state of hardware RAID controllers from the output
// of their vendor tools (sas2ircu/sas3ircu, storcli/perccli, arcconf, tw_cli,
// ssacli) into one controller model. The parsers are pure functions over the
// captured bytes: they never run a tool, so the same code checks a live
// controller, a recorded fixture, and a new firmware's output an operator
// feeds to `needle raid parse`.
//
// A parser either understands an output's layout completely or returns an
// error that names the tool, the command and the reason; it never returns a
// partial model that looks valid, because the apply step deletes and
// creates volumes from what it reads. A state, status or level word it does
// not know is no reason to refuse the whole output: the volume, array or
// disk is still reported, with that word kept verbatim as
// "unknown: <text>" (Unknown, IsUnknown), and apply refuses to act on it.
//
// On top of the parsers: a Runner (run.go) through which every tool call
// goes, with a per-call timeout, the quoted argv logged and a *toolrun.Error
// carrying exit status, signal and stderr; a Driver per tool (driver.go:
// sas2ircu/sas3ircu, storcli/perccli, arcconf, tw_cli and ssacli each read
// the state and create and delete volumes, with argv built by the pure
// functions of argv.go); the idempotent apply (diff.go, apply.go: Plan is
// a pure diff of the state against the plan's volumes, Apply runs it and
// verifies the read-back, ApplyPlan does so for a plan's whole raid
// section); the diagnosis of a crashed or hung tool
// (diag.go); the device nodes the tools open (devnodes.go); and the
// mapping of a volume to its OS block device (volumedisk.go).
package raid

import (
	"fmt"
	"strings"
)

// Result is what one run of a vendor tool says about the controllers.
type Result struct {
	// Tool is the tool family that printed the output (see Tools).
	Tool string `json:"tool"`
	// Command is the command that printed it, detected from the output
	// itself unless the caller named it (see Commands).
	Command string `json:"command"`
	// ToolVersion is the tool's own version string when it prints one.
	ToolVersion string         `json:"tool_version,omitempty"`
	Controllers []Controller   `json:"controllers"`
	Volumes     []Volume       `json:"volumes"`
	Disks       []PhysicalDisk `json:"disks"`
	// Tasks are background operations the output reports (rebuild,
	// verify, initialisation) that are not already folded into a volume.
	Tasks []Task `json:"tasks,omitempty"`
	// Message is the tool's success message for commands that change the
	// configuration (create, delete), e.g. storcli's "Add VD Succeeded.".
	Message string `json:"message,omitempty"`
	// Warnings are inconsistencies inside the output that did not stop the
	// parse, e.g. two disks claiming the same slot.
	Warnings []string `json:"warnings,omitempty"`
}

// Controller is one RAID controller or HBA.
type Controller struct {
	// Index is the tool's controller number (sas2ircu's index, storcli's
	// /cN, arcconf's 1-based controller number, tw_cli's cN, ssacli's slot).
	Index  int    `json:"index"`
	Model  string `json:"model,omitempty"`
	Serial string `json:"serial,omitempty"`
	// Firmware and BIOS are the versions as the tool prints them.
	Firmware string `json:"firmware,omitempty"`
	BIOS     string `json:"bios,omitempty"`
	// Driver and DriverVersion are the kernel driver as the tool reports it
	// (storcli "megaraid_sas", arcconf's driver build); the authoritative
	// module version comes from /sys/module, not from here.
	Driver        string `json:"driver,omitempty"`
	DriverVersion string `json:"driver_version,omitempty"`
	// PCIAddress is domain:bus:device.function in the kernel's sysfs form
	// (0000:03:00.0) when the tool prints the location.
	PCIAddress string `json:"pci_address,omitempty"`
	// PCIID is vendor:device and PCISubsystem subvendor:subdevice, in the
	// lower-case 4-digit hex that hwdb rules use.
	PCIID        string `json:"pci_id,omitempty"`
	PCISubsystem string `json:"pci_subsystem,omitempty"`
	// Mode is "IR" or "IT" for LSI SAS HBAs (integrated RAID or plain
	// initiator-target firmware), "RAID" or "HBA" for the others.
	Mode string `json:"mode,omitempty"`
	// Status is the controller's own health word, lower-cased.
	Status string `json:"status,omitempty"`
}

// PhysicalDisk is one drive behind a controller.
type PhysicalDisk struct {
	Controller int `json:"controller"`
	// Location is the tool's own address of the drive, the one its create
	// commands take: "enclosure:slot" for sas2ircu and storcli (":slot"
	// when storcli shows no enclosure), "channel:device" for arcconf (its
	// "Reported Channel,Device"), "port:box:bay" for ssacli, "pN" for
	// tw_cli ports.
	Location string `json:"location"`
	// Slot is "enclosure:slot", the form plans write members in, when the
	// tool's own Location is another form and the output gives the
	// enclosure: tw_cli's Encl-Slot column, ssacli's Box and Bay.
	Slot string `json:"slot,omitempty"`
	// SizeBytes is 0 when the tool does not print a usable size.
	SizeBytes uint64 `json:"size_bytes"`
	// Media is "hdd", "ssd" or "" when the output does not say.
	Media     string `json:"media,omitempty"`
	Interface string `json:"interface,omitempty"`
	Model     string `json:"model,omitempty"`
	Serial    string `json:"serial,omitempty"`
	Firmware  string `json:"firmware,omitempty"`
	// State is normalised: online (member of a volume), ready (usable,
	// unconfigured), hotspare, rebuilding, failed, missing, offline,
	// foreign, standby, unknown. RawState is the tool's own word.
	State    string `json:"state"`
	RawState string `json:"raw_state,omitempty"`
	// Volume is the ID of the volume the disk belongs to when the output
	// says so directly (storcli DG, tw_cli unit).
	Volume string `json:"volume,omitempty"`
}

// Volume is one logical drive (IR volume, virtual drive, unit).
type Volume struct {
	Controller int `json:"controller"`
	// ID is the tool's own identifier: sas2ircu's volume ID, storcli's VD
	// number (not the DG), arcconf's logical device number, tw_cli's uN,
	// ssacli's logical drive number.
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// Level is raid0, raid1, raid1e, raid10, raid5, raid50, raid6, raid60,
	// jbod (a single-drive unit), or the tool's word lower-cased for the
	// rare others.
	Level string `json:"level"`
	// Members are the member disks' Locations, in the tool's order; nil
	// when the command does not list them (storcli's "/cN/vall show").
	Members []string `json:"members,omitempty"`
	// MissingMembers counts members the output reports as missing
	// without an address (arcconf "Segment 1 : Missing").
	MissingMembers int    `json:"missing_members,omitempty"`
	SizeBytes      uint64 `json:"size_bytes"`
	// State is normalised: optimal, degraded, rebuilding, verifying,
	// initializing, failed, offline, unknown. RawState is the tool's word.
	State    string `json:"state"`
	RawState string `json:"raw_state,omitempty"`
	// Array and ArrayState are the ssacli array the logical drive lives
	// in and that array's own status when its header prints one ("array B
	// (Failed)"): "failed", or Unknown(text); empty when it prints none.
	Array      string `json:"array,omitempty"`
	ArrayState string `json:"array_state,omitempty"`
	// Operation and Progress describe a background task on the volume
	// when the output shows one; Progress is in percent, absent when the
	// output does not give it.
	Operation string   `json:"operation,omitempty"`
	Progress  *float64 `json:"progress,omitempty"`
}

// Task is a background operation reported on its own, not attached to a
// volume the same output describes (arcconf GETSTATUS).
type Task struct {
	Controller int     `json:"controller"`
	Volume     string  `json:"volume"`
	Operation  string  `json:"operation"`
	Status     string  `json:"status,omitempty"`
	Progress   float64 `json:"progress"`
}

// UnknownPrefix starts a state, status or level a parser does not know;
// the tool's own text follows verbatim: "unknown: Erase In Progress".
const UnknownPrefix = "unknown: "

// Unknown marks text as a state, status or level the parser does not know.
func Unknown(text string) string { return UnknownPrefix + text }

// IsUnknown reports whether a state or level is one the parser did not
// know: Unknown's form, or the bare VolumeUnknown/DiskUnknown of an output
// that gives no state at all.
func IsUnknown(s string) bool { return s == VolumeUnknown || strings.HasPrefix(s, UnknownPrefix) }

// Settled reports whether apply may act on the volume: its state and its
// array's are known and no background task (rebuild, verify,
// initialisation, erase, transformation) runs on it. Failed and offline
// volumes are settled only for deletion (see Plan).
func (v Volume) Settled() bool {
	if IsUnknown(v.State) || IsUnknown(v.Level) || v.ArrayState != "" || v.Operation != "" {
		return false
	}
	switch v.State {
	case VolumeRebuilding, VolumeVerifying, VolumeInitializing:
		return false
	}
	return true
}

// Describe names the volume's state for messages: the normalised state,
// the tool's word, the array's state and the running task.
func (v Volume) Describe() string {
	s := v.State
	if v.RawState != "" && !strings.HasSuffix(v.State, v.RawState) {
		s += fmt.Sprintf(" (%s)", v.RawState)
	}
	if v.ArrayState != "" {
		s += fmt.Sprintf(", array %s %s", v.Array, v.ArrayState)
	}
	if IsUnknown(v.Level) {
		s += ", level " + v.Level
	}
	if v.Operation != "" {
		s += ", " + v.Operation + " running"
		if v.Progress != nil {
			s += fmt.Sprintf(" (%g%%)", *v.Progress)
		}
	}
	return s
}

// Normalised volume states.
const (
	VolumeOptimal      = "optimal"
	VolumeDegraded     = "degraded"
	VolumeRebuilding   = "rebuilding"
	VolumeVerifying    = "verifying"
	VolumeInitializing = "initializing"
	VolumeFailed       = "failed"
	VolumeOffline      = "offline"
	VolumeUnknown      = "unknown"
)

// Normalised disk states.
const (
	DiskOnline     = "online"
	DiskReady      = "ready"
	DiskHotSpare   = "hotspare"
	DiskRebuilding = "rebuilding"
	DiskFailed     = "failed"
	DiskMissing    = "missing"
	DiskOffline    = "offline"
	DiskForeign    = "foreign"
	DiskStandby    = "standby"
	DiskUnknown    = "unknown"
)
