package plan

// The schema's Go types. Field tags name the YAML keys; the decoder in
// decode.go reads these tags itself (it does not go through yaml.v3's
// reflection) so that every unknown key and every wrong type is reported with
// its file, line and field. Fields tagged `yaml:"-"` are filled by Check from
// the raw fields next to them, for the stages that consume the plan.

// Plan is one install plan, schema version 1.
type Plan struct {
	Pos     Pos    `yaml:"-"`
	Version int    `yaml:"version"`
	Name    string `yaml:"name"`
	RAID    []RAID `yaml:"raid"`
	MD      []MD   `yaml:"md"`
	Disks   []Disk `yaml:"disks"`
	Files   []File `yaml:"files"`
	Boot    *Boot  `yaml:"boot"`
	// Reinstall installs even when the selected disk already holds the OS
	// this very plan installed (by default needle hands off to it: a box
	// that PXE-boots first does not reinstall in a loop).
	Reinstall bool `yaml:"reinstall"`

	// File is the name the plan was parsed under (a path or URL); every error
	// starts with it.
	File string `yaml:"-"`
}

// RAID is one hardware RAID controller and the volumes it must carry.
type RAID struct {
	Pos        Pos        `yaml:"-"`
	Controller Controller `yaml:"controller"`
	Volumes    []Volume   `yaml:"volumes"`
}

// Controller names a hardware RAID controller by PCI address or by the
// vendor tool's own controller index. Tool is the vendor tool to drive it
// with; when empty, the hwdb rule matching the controller names it.
type Controller struct {
	Pos   Pos    `yaml:"-"`
	PCI   string `yaml:"pci"`
	Index *int   `yaml:"index"`
	Tool  string `yaml:"tool"`
}

// Volume is a hardware RAID volume (a "virtual drive", "logical drive" or
// "IR volume" depending on the vendor). Members are enclosure:slot pairs;
// Count asks for that many unused disks instead.
type Volume struct {
	Pos      Pos      `yaml:"-"`
	Name     string   `yaml:"name"`
	Level    string   `yaml:"level"`
	Members  []string `yaml:"members"`
	Count    int      `yaml:"count"`
	Size     string   `yaml:"size"`
	Recreate bool     `yaml:"recreate"`

	// SizeSpec is Size parsed; Max when the volume takes all it can.
	SizeSpec Size `yaml:"-"`
}

// MD is a Linux software RAID array created by needle.
type MD struct {
	Pos      Pos      `yaml:"-"`
	Name     string   `yaml:"name"`
	Level    string   `yaml:"level"`
	Devices  []string `yaml:"devices"`
	Metadata string   `yaml:"metadata"`
}

// Disk is one disk the plan writes: which one (Select), whether and how it
// may be erased (Wipe), and what goes on it: a partition table with
// partitions, or a whole-disk image.
type Disk struct {
	Pos        Pos         `yaml:"-"`
	ID         string      `yaml:"id"`
	Select     Selector    `yaml:"select"`
	Wipe       Wipe        `yaml:"wipe"`
	Table      string      `yaml:"table"`
	Partitions []Partition `yaml:"partitions"`
	Image      *Image      `yaml:"image"`
}

// Wipe is a disk's consent to be erased and how. In YAML it is either a
// bool (`wipe: true`) or a mapping that chooses whole-disk erase steps and
// implies wipe: true (`wipe: {zeroout: true}`); decode.go reads both shapes.
// Either way the disks stage clears every old partition table and
// signature; Discard and ZeroOut add the whole-disk ioctls before that
// (discard first when both are given).
type Wipe struct {
	Pos Pos `yaml:"-"`
	// Discard issues BLKDISCARD over the whole disk (SSDs, thin LUNs). The
	// disk may still read back old data afterwards, so it is advisory: a
	// device without discard support only logs a warning.
	Discard bool `yaml:"discard"`
	// ZeroOut issues BLKZEROOUT over the whole disk: it then reads back
	// zeros, and the image writer skips the all-zero blocks of images
	// (sparse writing). A failure stops the install.
	ZeroOut bool `yaml:"zeroout"`

	// Enabled is the consent itself: true for `wipe: true` and for any
	// mapping; false for `wipe: false` or no wipe key.
	Enabled bool `yaml:"-"`
}

// Steps names the whole-disk erase steps in the order the disks stage runs
// them: "discard", "zero-out"; none for a plain wipe.
func (w Wipe) Steps() []string {
	var out []string
	if w.Discard {
		out = append(out, "discard")
	}
	if w.ZeroOut {
		out = append(out, "zero-out")
	}
	return out
}

// Selector holds the hints that pick a disk from the inventory. All given
// hints must hold (AND). Prefer breaks a tie by size; it never widens the
// match. RAIDVolume and MD select a device that exists only after the raid
// stage has run; such a selector takes no other hint.
type Selector struct {
	Pos        Pos        `yaml:"-"`
	Serial     string     `yaml:"serial"`
	WWN        string     `yaml:"wwn"`
	Model      string     `yaml:"model"`  // glob
	Vendor     string     `yaml:"vendor"` // glob
	Size       *SizeRange `yaml:"size"`
	Rotational *bool      `yaml:"rotational"`
	Removable  *bool      `yaml:"removable"`
	BusPath    string     `yaml:"bus_path"` // glob over /dev/disk/by-path names
	HCTL       string     `yaml:"hctl"`
	ByID       string     `yaml:"by_id"`
	Name       string     `yaml:"name"` // kernel name; never the only hint
	RAIDVolume string     `yaml:"raid_volume"`
	MD         string     `yaml:"md"`
	Prefer     string     `yaml:"prefer"` // smallest | largest
}

// SizeRange bounds a disk's size; either end may be empty.
type SizeRange struct {
	Pos Pos    `yaml:"-"`
	Min string `yaml:"min"`
	Max string `yaml:"max"`

	MinBytes uint64 `yaml:"-"` // 0 when Min is empty
	MaxBytes uint64 `yaml:"-"` // 0 when Max is empty
}

// Partition is one entry of a disk's partition table. Name is the GPT
// partition name and the plan-wide reference other sections use.
type Partition struct {
	Pos        Pos         `yaml:"-"`
	Name       string      `yaml:"name"`
	Type       string      `yaml:"type"`
	Size       string      `yaml:"size"`
	PartUUID   string      `yaml:"partuuid"`
	Filesystem *Filesystem `yaml:"filesystem"`
	Image      *Image      `yaml:"image"`

	SizeSpec Size     `yaml:"-"`
	TypeSpec PartType `yaml:"-"`
}

// Filesystem is a filesystem needle creates itself (FAT32, swap and
// small ext4; root filesystems arrive as images, see README.md, "The plan").
type Filesystem struct {
	Pos    Pos    `yaml:"-"`
	Format string `yaml:"format"` // vfat | ext4 | swap
	Label  string `yaml:"label"`
}

// Image is a raw image streamed onto a partition or a whole disk. The
// compression is detected from the content (zstd, xz, gzip or none); the hash
// is over the bytes as fetched.
type Image struct {
	Pos    Pos    `yaml:"-"`
	URL    string `yaml:"url"`
	SHA256 string `yaml:"sha256"`
	SHA512 string `yaml:"sha512"`
}

// File is a file written into an installed filesystem.
type File struct {
	Pos        Pos      `yaml:"-"`
	Path       string   `yaml:"path"`
	Mode       string   `yaml:"mode"`  // octal, like chmod: "0644"
	Owner      string   `yaml:"owner"` // user[:group], names or numbers
	Contents   Contents `yaml:"contents"`
	Filesystem string   `yaml:"filesystem"` // a filesystem reference

	ModeBits uint32 `yaml:"-"` // Mode parsed; 0644 when Mode is empty
}

// Contents is a file's data: inline text, or fetched from URL and verified.
type Contents struct {
	Pos    Pos     `yaml:"-"`
	Inline *string `yaml:"inline"`
	URL    string  `yaml:"url"`
	SHA256 string  `yaml:"sha256"`
	SHA512 string  `yaml:"sha512"`
}

// Boot is the handoff to the installed system: exactly one of Kexec and
// Reboot.
type Boot struct {
	Pos    Pos     `yaml:"-"`
	Kexec  *Kexec  `yaml:"kexec"`
	Reboot *Reboot `yaml:"reboot"`
}

// Kexec boots the installed kernel directly. Root is the filesystem holding
// the kernel (a filesystem reference). Kernel, Initrd and Cmdline are found
// on that filesystem (BLS entries, grub.cfg, /boot/vmlinuz links) unless
// given; Cmdline may carry ${partuuid:REF} and ${uuid:REF}. Fallback says
// what to do when the kernel refuses kexec: reboot (default) or fail.
type Kexec struct {
	Pos      Pos    `yaml:"-"`
	Root     string `yaml:"root"`
	Kernel   string `yaml:"kernel"`
	Initrd   string `yaml:"initrd"`
	Cmdline  string `yaml:"cmdline"`
	Fallback string `yaml:"fallback"`
}

// Reboot ends the install with a plain reboot. It has no fields; `reboot: {}`
// or a bare `reboot:` both select it.
type Reboot struct {
	Pos Pos `yaml:"-"`
}

// Pos records where a mapping and each of its keys sit in the source.
type Pos struct {
	Line int
	keys map[string]int
}

// Of returns the line of key in the mapping, or the mapping's own line when
// the key is absent.
func (p Pos) Of(key string) int {
	if l, ok := p.keys[key]; ok {
		return l
	}
	return p.Line
}

// Has says whether the key was written in the source.
func (p Pos) Has(key string) bool {
	_, ok := p.keys[key]
	return ok
}
