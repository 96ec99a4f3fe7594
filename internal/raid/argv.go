package raid

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// VolumeSpec is a volume to create: the plan's view, in the tool's own
// disk addresses.
type VolumeSpec struct {
	Controller int
	// Level is a normalised level (raid0, raid1, …).
	Level string
	// Members are disk Locations as the parsers report them.
	Members []string
	// SizeBytes is the volume size; 0 means the largest the members allow.
	SizeBytes uint64
	// Name is the volume name the plan's "volume named os" hint matches.
	Name string
}

// nameRule is how long a volume name one tool keeps may be. The characters
// are needle's own set everywhere (the plan's, A-Z a-z 0-9 _ . -), so a
// name needs no quoting in any tool's argument parser.
type nameRule struct {
	max int
	// why cites where the limit comes from.
	why string
}

var (
	// LSI firmware keeps at most 15 characters of a volume name (MPI2
	// RAID volume page, MegaRAID VD name).
	lsiNames = nameRule{15, "LSI firmware keeps 15 characters"}
	// aacraid reads a container's name into a 16-byte field
	// (drivers/scsi/aacraid/aacraid.h, struct aac_get_name_resp).
	arcconfNames = nameRule{16, "Adaptec firmware keeps 16 characters"}
	// "The string can be up to 21 characters and cannot contain spaces"
	// (3ware SATA+SAS RAID Controller Card CLI Guide 10.2, /cx add).
	twcliNames = nameRule{21, "3ware firmware keeps 21 characters"}
)

var nameChars = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// check refuses a name the tool would truncate or mangle, rather than
// create a volume whose name no longer matches the plan's.
func (r nameRule) check(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("volume name is empty: the plan's name is how needle finds the volume again")
	case !nameChars.MatchString(name):
		return fmt.Errorf("volume name %q: want 1-%d of A-Z a-z 0-9 _ . -", name, r.max)
	case len(name) > r.max:
		return fmt.Errorf("volume name %q is %d characters, want 1-%d of A-Z a-z 0-9 _ . - (%s; needle does not truncate it)", name, len(name), r.max, r.why)
	}
	return nil
}

var ircuMember = regexp.MustCompile(`^\d+:\d+$`)

// SAS2IRCUCreateArgs builds "sas2ircu <ctl> CREATE <type> <size|MAX>
// <encl:slot>… <name> noprompt" (SAS2IRCU user guide, CREATE): size in MB
// (MiB), volume types RAID0, RAID1, RAID1E, RAID10. sas3ircu takes the
// same arguments.
func SAS2IRCUCreateArgs(s VolumeSpec) ([]string, error) {
	typ := map[string]string{"raid0": "RAID0", "raid1": "RAID1", "raid1e": "RAID1E", "raid10": "RAID10"}[s.Level]
	if typ == "" {
		return nil, fmt.Errorf("sas2ircu create: level %q not supported (raid0, raid1, raid1e, raid10)", s.Level)
	}
	if err := checkSpec(s, &lsiNames, ircuMember, "enclosure:slot"); err != nil {
		return nil, fmt.Errorf("sas2ircu create: %w", err)
	}
	if s.Level == "raid1" && len(s.Members) != 2 {
		return nil, fmt.Errorf("sas2ircu create: raid1 takes exactly 2 members, got %d", len(s.Members))
	}
	size := "MAX"
	if s.SizeBytes > 0 {
		if s.SizeBytes%(1<<20) != 0 {
			return nil, fmt.Errorf("sas2ircu create: size %d is not a whole number of MiB", s.SizeBytes)
		}
		size = strconv.FormatUint(s.SizeBytes>>20, 10)
	}
	args := []string{strconv.Itoa(s.Controller), "CREATE", typ, size}
	args = append(args, s.Members...)
	return append(args, s.Name, "noprompt"), nil
}

// SAS2IRCUDeleteVolumeArgs builds "sas2ircu <ctl> DELETEVOLUME <id>
// noprompt", which removes one volume (DELETE would remove them all).
func SAS2IRCUDeleteVolumeArgs(controller int, volumeID string) ([]string, error) {
	if _, ok := atoiOK(volumeID); !ok {
		return nil, fmt.Errorf("sas2ircu deletevolume: volume id %q is not a number", volumeID)
	}
	return []string{strconv.Itoa(controller), "DELETEVOLUME", volumeID, "noprompt"}, nil
}

var storcliMember = regexp.MustCompile(`^\d*:\d+$`)

// StorcliCreateArgs builds "storcli /cN add vd rL [size=NMB] name=NAME
// drives=E:S,E:S [pdperarray=2] J" (StorCLI reference, "add vd"). Sizes
// are binary MB like the tool's own. perccli takes the same arguments.
func StorcliCreateArgs(s VolumeSpec) ([]string, error) {
	lvl := map[string]string{"raid0": "r0", "raid1": "r1", "raid5": "r5", "raid6": "r6", "raid10": "r10"}[s.Level]
	if lvl == "" {
		return nil, fmt.Errorf("storcli add vd: level %q not supported (raid0, raid1, raid5, raid6, raid10)", s.Level)
	}
	if err := checkSpec(s, &lsiNames, storcliMember, "enclosure:slot"); err != nil {
		return nil, fmt.Errorf("storcli add vd: %w", err)
	}
	args := []string{fmt.Sprintf("/c%d", s.Controller), "add", "vd", lvl}
	if s.SizeBytes > 0 {
		if s.SizeBytes%(1<<20) != 0 {
			return nil, fmt.Errorf("storcli add vd: size %d is not a whole number of MiB", s.SizeBytes)
		}
		args = append(args, fmt.Sprintf("size=%dMB", s.SizeBytes>>20))
	}
	args = append(args, "name="+s.Name, "drives="+strings.Join(s.Members, ","))
	if s.Level == "raid10" {
		if len(s.Members)%2 != 0 {
			return nil, fmt.Errorf("storcli add vd: raid10 needs an even number of members, got %d", len(s.Members))
		}
		args = append(args, "pdperarray=2")
	}
	return append(args, "J"), nil
}

// StorcliDeleteArgs builds "storcli /cN/vV del [force] J". force is needed
// when the VD holds an OS or partitions, and only a plan that asked to
// recreate the volume may set it.
func StorcliDeleteArgs(controller int, vd string, force bool) ([]string, error) {
	if _, ok := atoiOK(vd); !ok {
		return nil, fmt.Errorf("storcli del: virtual drive %q is not a number", vd)
	}
	args := []string{fmt.Sprintf("/c%d/v%s", controller, vd), "del"}
	if force {
		args = append(args, "force")
	}
	return append(args, "J"), nil
}

// checkSpec checks what every create takes: a controller, a name the tool
// keeps whole (names nil: the tool stores none), members in the tool's
// address form, each once.
func checkSpec(s VolumeSpec, names *nameRule, member *regexp.Regexp, form string) error {
	if s.Controller < 0 {
		return fmt.Errorf("controller %d", s.Controller)
	}
	if names != nil {
		if err := names.check(s.Name); err != nil {
			return err
		}
	}
	if len(s.Members) == 0 {
		return fmt.Errorf("no members")
	}
	seen := map[string]bool{}
	for _, m := range s.Members {
		if !member.MatchString(m) {
			return fmt.Errorf("member %q is not %s", m, form)
		}
		if seen[m] {
			return fmt.Errorf("member %s named twice", m)
		}
		seen[m] = true
	}
	return nil
}

// wholeMiB is the size argument in MiB, 0 for max; the tools take whole
// (binary) megabytes.
func wholeMiB(s VolumeSpec) (uint64, error) {
	if s.SizeBytes%(1<<20) != 0 {
		return 0, fmt.Errorf("size %d is not a whole number of MiB", s.SizeBytes)
	}
	return s.SizeBytes >> 20, nil
}

// members is how many members a level takes on one tool: exactly, at
// least, and whether in pairs.
type members struct {
	exact, min int
	pairs      bool
}

// memberCount checks the member count a level takes on a tool, as its
// documentation gives it.
func memberCount(level string, n int, rules map[string]members) error {
	r := rules[level]
	switch {
	case r.exact > 0 && n != r.exact:
		return fmt.Errorf("%s takes exactly %d members, got %d", level, r.exact, n)
	case n < r.min:
		return fmt.Errorf("%s takes at least %d members, got %d", level, r.min, n)
	case r.pairs && n%2 != 0:
		return fmt.Errorf("%s needs an even number of members, got %d", level, n)
	}
	return nil
}

var arcconfMember = regexp.MustCompile(`^(\d+):(\d+)$`)

// ArcconfCreateArgs builds "arcconf CREATE <ctrl> LOGICALDRIVE Name <name>
// <size MB|MAX> <RAID#> <channel> <device>… noprompt" (ARCCONF user guide,
// CREATE: "arcconf CREATE <Controller#> LOGICALDRIVE [Options] <Size>
// <RAID#> <Channel# ID#> [Channel# ID#] ... [noprompt]"). The members are
// the "Reported Channel,Device" pairs GETCONFIG prints, which the parser
// keeps as "channel:device"; sizes are binary MB. arcconf numbers its
// controllers from 1, and the model keeps arcconf's own number.
func ArcconfCreateArgs(s VolumeSpec) ([]string, error) {
	lvl := map[string]string{"raid0": "0", "raid1": "1", "raid1e": "1E", "raid5": "5", "raid6": "6", "raid10": "10"}[s.Level]
	if lvl == "" {
		return nil, fmt.Errorf("arcconf create: level %q not supported (raid0, raid1, raid1e, raid5, raid6, raid10; raid50 and raid60 need a Legs layout needle does not choose)", s.Level)
	}
	if s.Controller < 1 {
		return nil, fmt.Errorf("arcconf create: controller %d: arcconf numbers controllers from 1 (as its LIST prints them)", s.Controller)
	}
	if err := checkSpec(s, &arcconfNames, arcconfMember, "channel:device"); err != nil {
		return nil, fmt.Errorf("arcconf create: %w", err)
	}
	if err := memberCount(s.Level, len(s.Members), map[string]members{"raid1": {exact: 2}, "raid1e": {min: 3}, "raid5": {min: 3}, "raid6": {min: 4}, "raid10": {min: 4, pairs: true}}); err != nil {
		return nil, fmt.Errorf("arcconf create: %w", err)
	}
	mib, err := wholeMiB(s)
	if err != nil {
		return nil, fmt.Errorf("arcconf create: %w", err)
	}
	size := "MAX"
	if mib > 0 {
		size = strconv.FormatUint(mib, 10)
	}
	args := []string{"CREATE", strconv.Itoa(s.Controller), "LOGICALDRIVE", "Name", s.Name, size, lvl}
	for _, m := range s.Members {
		cd := arcconfMember.FindStringSubmatch(m)
		args = append(args, cd[1], cd[2])
	}
	return append(args, "noprompt"), nil
}

// ArcconfDeleteArgs builds "arcconf DELETE <ctrl> LOGICALDRIVE <ld#>
// noprompt", which deletes one logical device.
func ArcconfDeleteArgs(controller int, ld string) ([]string, error) {
	if controller < 1 {
		return nil, fmt.Errorf("arcconf delete: controller %d: arcconf numbers controllers from 1", controller)
	}
	if _, ok := atoiOK(ld); !ok {
		return nil, fmt.Errorf("arcconf delete: logical device %q is not a number", ld)
	}
	return []string{"DELETE", strconv.Itoa(controller), "LOGICALDRIVE", ld, "noprompt"}, nil
}

var twcliMember = regexp.MustCompile(`^p(\d+)$`)

// TwcliCreateArgs builds "tw_cli /cN add type=raidL disk=P:P… name=NAME"
// (3ware CLI Guide 10.2, "/cx add type=<RaidType> disk=<p:-p> …
// [name=string]": ports joined by colons; types raid0, raid1, raid5, raid6,
// raid10, raid50, single, spare; RAID 6 takes at least five drives, RAID 1
// mirrors a pair). tw_cli has no size for a unit: its v0=/vol= options
// carve one unit into several volumes, so a sized volume is refused.
func TwcliCreateArgs(s VolumeSpec) ([]string, error) {
	typ := map[string]string{"raid0": "raid0", "raid1": "raid1", "raid5": "raid5", "raid6": "raid6", "raid10": "raid10"}[s.Level]
	if typ == "" {
		return nil, fmt.Errorf("tw_cli add: level %q not supported (raid0, raid1, raid5, raid6, raid10; raid50 needs a group= layout needle does not choose)", s.Level)
	}
	if err := checkSpec(s, &twcliNames, twcliMember, "a tw_cli port pN"); err != nil {
		return nil, fmt.Errorf("tw_cli add: %w", err)
	}
	if err := memberCount(s.Level, len(s.Members), map[string]members{"raid0": {min: 2}, "raid1": {exact: 2}, "raid5": {min: 3}, "raid6": {min: 5}, "raid10": {min: 4, pairs: true}}); err != nil {
		return nil, fmt.Errorf("tw_cli add: %w", err)
	}
	if s.SizeBytes > 0 {
		return nil, fmt.Errorf("tw_cli add: size %d: a 3ware unit spans its disks whole (v0=/vol= would carve it into several volumes); give size max", s.SizeBytes)
	}
	var ports []string
	for _, m := range s.Members {
		ports = append(ports, twcliMember.FindStringSubmatch(m)[1])
	}
	return []string{fmt.Sprintf("/c%d", s.Controller), "add", "type=" + typ, "disk=" + strings.Join(ports, ":"), "name=" + s.Name}, nil
}

var twcliUnit = regexp.MustCompile(`^u\d+$`)

// TwcliDeleteArgs builds "tw_cli /cN/uM del quiet": quiet answers the
// confirmation (CLI Guide 10.2, "/cx/ux del [noscan] [quiet]").
func TwcliDeleteArgs(controller int, unit string) ([]string, error) {
	if controller < 0 {
		return nil, fmt.Errorf("tw_cli del: controller %d", controller)
	}
	if !twcliUnit.MatchString(unit) {
		return nil, fmt.Errorf("tw_cli del: unit %q is not uN", unit)
	}
	return []string{fmt.Sprintf("/c%d/%s", controller, unit), "del", "quiet"}, nil
}

// ssacliMember: port:box:bay ("1I:1:1"), or box:bay and port:id on older
// controllers, as "physicaldrive …" lines name drives.
var ssacliMember = regexp.MustCompile(`^[0-9A-Za-z]+(?::[0-9]+){1,2}$`)

// SsacliCreateArgs builds "ssacli ctrl slot=S create type=ld
// drives=D,D… raid=L size=N|max" (ssacli help create: "raid=0|1|1+0|5|
// 50|6|60", "size=#|min|max|maxmbr" in binary MB, as proliantutils'
// hpssa driver passes GB×1024). ssacli addresses a controller by its
// slot, which the parser keeps as the controller's Index. Its create takes
// no name: the logical drive label is the firmware's, so needle tells
// ssacli volumes apart by their members.
func SsacliCreateArgs(s VolumeSpec) ([]string, error) {
	lvl := map[string]string{"raid0": "0", "raid1": "1", "raid10": "1+0", "raid5": "5", "raid6": "6", "raid50": "50", "raid60": "60"}[s.Level]
	if lvl == "" {
		return nil, fmt.Errorf("ssacli create: level %q not supported (raid0, raid1, raid10, raid5, raid6, raid50, raid60)", s.Level)
	}
	if err := checkSpec(s, nil, ssacliMember, "port:box:bay"); err != nil {
		return nil, fmt.Errorf("ssacli create: %w", err)
	}
	// raid=1 over more than two drives makes a 1+0: the plan says which.
	if err := memberCount(s.Level, len(s.Members), map[string]members{"raid1": {exact: 2}, "raid10": {min: 4, pairs: true}, "raid5": {min: 3}, "raid6": {min: 4}, "raid50": {min: 6}, "raid60": {min: 8}}); err != nil {
		return nil, fmt.Errorf("ssacli create: %w", err)
	}
	mib, err := wholeMiB(s)
	if err != nil {
		return nil, fmt.Errorf("ssacli create: %w", err)
	}
	size := "size=max"
	if mib > 0 {
		size = "size=" + strconv.FormatUint(mib, 10)
	}
	return []string{"ctrl", fmt.Sprintf("slot=%d", s.Controller), "create", "type=ld", "drives=" + strings.Join(s.Members, ","), "raid=" + lvl, size}, nil
}

// SsacliDeleteArgs builds "ssacli ctrl slot=S ld N delete forced": forced
// skips the confirmation, as a plan that said recreate already gave it.
func SsacliDeleteArgs(slot int, ld string) ([]string, error) {
	if slot < 0 {
		return nil, fmt.Errorf("ssacli delete: slot %d", slot)
	}
	if _, ok := atoiOK(ld); !ok {
		return nil, fmt.Errorf("ssacli delete: logical drive %q is not a number", ld)
	}
	return []string{"ctrl", fmt.Sprintf("slot=%d", slot), "ld", ld, "delete", "forced"}, nil
}
