// Package cmdline parses the kernel command line needle is booted with:
// the needle.* keys, the kernel's own ip= and pxelinux/iPXE's BOOTIF=.
//
// A malformed value is an error naming the key; an unknown needle.* key is a
// warning (an operator's typo must be visible, but must not stop a boot that
// would otherwise work).
package cmdline

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/needle-boot/needle/internal/quote"
)

// Stage is the name of a stage of needle's sequence, as needle.break=,
// needle.fail=, `needle install --from/--to`, the events and the logs name
// it. The names are these constants and nowhere else.
type Stage string

// The stages.
const (
	Inventory Stage = "inventory"
	Modules   Stage = "modules"
	Network   Stage = "network"
	// Bisect runs instead of the install stages when needle.bisect= is
	// given: it swaps driver candidates and probes them, and writes no disk.
	Bisect  Stage = "bisect"
	Plan    Stage = "plan"
	RAID    Stage = "raid"
	Disks   Stage = "disks"
	Image   Stage = "image"
	Files   Stage = "files"
	Handoff Stage = "handoff"
)

// Stages are the stages in the order needle runs them (README.md, "Kernel
// command line").
var Stages = []Stage{Inventory, Modules, Network, Bisect, Plan, RAID, Disks, Image, Files, Handoff}

// StageIndex is s's position in Stages, -1 for a name that is no stage.
func StageIndex(s string) int { return slices.Index(Stages, Stage(s)) }

// StageList is "inventory, modules, …" for messages and usage.
func StageList() string {
	names := make([]string, len(Stages))
	for i, s := range Stages {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// OnFail values.
const (
	OnFailShell    = "shell"
	OnFailReboot   = "reboot"
	OnFailPoweroff = "poweroff"
)

// Config is what the command line asks of needle.
type Config struct {
	Break  string // needle.break=STAGE: run up to and including STAGE, then a shell
	Shell  bool   // needle.shell: a shell before any stage
	Plan   string // needle.plan=URL, with ${mac} … still unexpanded
	Report string // needle.report=URL
	OnFail string // needle.onfail=shell|reboot|poweroff (default shell)
	HWDB   string // needle.hwdb=URL: extra hwdb rules
	// Bisect is needle.bisect=URL (or an absolute directory, a stick's):
	// the bisection set `needle bisect build` wrote. The box then bisects
	// and does not install.
	Bisect string
	Debug  bool // needle.debug
	// Fail=STAGE makes that stage fail on purpose, so an operator can
	// rehearse what needle.onfail does on the real console and BMC.
	Fail string
	// Media is needle.media=usb|iso, which the stick's and the ISO's boot
	// entries set: the init then waits for the medium to appear.
	Media  string
	IP     []string         // every ip= value, in order (parsed by the network stage)
	BootIF net.HardwareAddr // from BOOTIF=01-aa-bb-…
	VLAN   []string         // dracut's vlan=
	Bond   []string         // dracut's bond=

	Warnings []string // unknown needle.* keys and the like
}

// Fields splits a command line as the kernel does (init/main.c,
// lib/cmdline.c next_arg): on spaces, with double quotes grouping a value
// that holds spaces; the quotes themselves are dropped.
func Fields(s string) []string {
	var out []string
	var cur strings.Builder
	inQuote, have := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// Parse reads a command line. The error names the first malformed key.
func Parse(line string) (*Config, error) {
	c := &Config{OnFail: OnFailShell}
	for _, f := range Fields(line) {
		key, val, hasVal := strings.Cut(f, "=")
		switch key {
		case "needle.break", "needle.fail":
			if StageIndex(val) < 0 {
				return nil, fmt.Errorf("%s=%s: not a stage (want one of %s)", key, quote.Value(val), StageList())
			}
			if key == "needle.break" {
				c.Break = val
			} else {
				c.Fail = val
			}
		case "needle.shell", "needle.debug":
			b, err := flag(key, val, hasVal)
			if err != nil {
				return nil, err
			}
			if key == "needle.shell" {
				c.Shell = b
			} else {
				c.Debug = b
			}
		case "needle.plan", "needle.report", "needle.hwdb":
			if err := checkURL(key, val); err != nil {
				return nil, err
			}
			switch key {
			case "needle.plan":
				c.Plan = val
			case "needle.report":
				c.Report = val
			default:
				c.HWDB = val
			}
		case "needle.bisect":
			if !strings.HasPrefix(val, "/") {
				if err := checkURL(key, val); err != nil {
					return nil, err
				}
			}
			c.Bisect = val
		case "needle.media":
			if val != "usb" && val != "iso" {
				return nil, fmt.Errorf("needle.media=%s: want usb or iso", quote.Value(val))
			}
			c.Media = val
		case "needle.onfail":
			switch val {
			case OnFailShell, OnFailReboot, OnFailPoweroff:
				c.OnFail = val
			default:
				return nil, fmt.Errorf("needle.onfail=%s: want shell, reboot or poweroff", quote.Value(val))
			}
		case "ip":
			if val == "" {
				return nil, fmt.Errorf("ip=: empty value")
			}
			c.IP = append(c.IP, val)
		case "vlan":
			c.VLAN = append(c.VLAN, val)
		case "bond":
			c.Bond = append(c.Bond, val)
		case "BOOTIF":
			mac, err := ParseBootIF(val)
			if err != nil {
				return nil, err
			}
			c.BootIF = mac
		default:
			if strings.HasPrefix(key, "needle.") {
				c.Warnings = append(c.Warnings, fmt.Sprintf("unknown key %s ignored (known: %s)", quote.Cut(key), strings.Join(knownKeys, " ")))
			}
		}
	}
	return c, nil
}

var knownKeys = []string{"needle.break", "needle.shell", "needle.plan", "needle.report", "needle.onfail", "needle.hwdb", "needle.debug", "needle.fail", "needle.media", "needle.bisect"}

func flag(key, val string, hasVal bool) (bool, error) {
	if !hasVal {
		return true, nil
	}
	switch val {
	case "1", "y", "yes", "true", "on":
		return true, nil
	case "0", "n", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s=%s: want no value, 1 or 0", key, quote.Value(val))
}

// checkURL accepts http and https URLs; ${var} templates are allowed in the
// path and query because the plan stage expands them later.
func checkURL(key, val string) error {
	if val == "" {
		return fmt.Errorf("%s=: empty URL", key)
	}
	probe := strings.NewReplacer("${", "", "}", "").Replace(val)
	u, err := url.Parse(probe)
	if err != nil {
		return fmt.Errorf("%s=%s: not a URL", key, quote.Value(val))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s=%s: scheme %s, want http or https", key, quote.Value(val), quote.Value(u.Scheme))
	}
	if u.Host == "" {
		return fmt.Errorf("%s=%s: no host", key, quote.Value(val))
	}
	return nil
}

// ParseBootIF reads pxelinux's BOOTIF=01-aa-bb-cc-dd-ee-ff: the hardware
// type (01 is Ethernet, ARP's htype) then the MAC, hyphen-separated.
func ParseBootIF(v string) (net.HardwareAddr, error) {
	htype, rest, ok := strings.Cut(v, "-")
	if !ok || len(htype) != 2 {
		return nil, fmt.Errorf("BOOTIF=%s: want 01-aa-bb-cc-dd-ee-ff", quote.Value(v))
	}
	mac, err := net.ParseMAC(rest)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("BOOTIF=%s: %s is not an Ethernet MAC", quote.Value(v), quote.Value(rest))
	}
	if htype != "01" {
		return nil, fmt.Errorf("BOOTIF=%s: hardware type %s, only 01 (Ethernet) is supported", quote.Value(v), htype)
	}
	return mac, nil
}
