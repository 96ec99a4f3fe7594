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

// volumeName: LSI firmware keeps at most 15 characters of a volume name
// (MPI2 RAID volume page, MegaRAID VD name); needle also restricts the
// characters so the name survives every tool's argument parsing.
var volumeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

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
	if err := checkSpec(s, ircuMember, "enclosure:slot"); err != nil {
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
	if err := checkSpec(s, storcliMember, "enclosure:slot"); err != nil {
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

func checkSpec(s VolumeSpec, member *regexp.Regexp, form string) error {
	if s.Controller < 0 {
		return fmt.Errorf("controller %d", s.Controller)
	}
	if !volumeName.MatchString(s.Name) {
		return fmt.Errorf("volume name %q: want 1-15 of A-Z a-z 0-9 _ . -", s.Name)
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
