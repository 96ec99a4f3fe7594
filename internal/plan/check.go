package plan

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/needle-boot/needle/internal/quote"
)

// Parse decodes a plan strictly and runs the semantic checks. file names the
// plan in errors (a path or the URL it came from). The error, when not nil,
// is an Errors listing every problem with its line.
func Parse(file string, data []byte) (*Plan, error) {
	p, err := Decode(file, data)
	if err != nil {
		return nil, err
	}
	if err := Check(p); err != nil {
		return nil, err
	}
	return p, nil
}

var (
	refRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	pciRE    = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)
	memberRE = regexp.MustCompile(`^[0-9]{1,4}:[0-9]{1,4}$`)
	ownerRE  = regexp.MustCompile(`^([a-z_][a-z0-9_-]*\$?|[0-9]+)$`)
)

// Tools lists the RAID vendor tools needle knows how to drive (RAID issue).
func Tools() []string {
	return []string{"arcconf", "perccli", "sas2ircu", "sas3ircu", "ssacli", "storcli", "tw_cli"}
}

// volumeMin is the fewest member disks each hardware RAID level takes.
func volumeMin(level string) (int, bool) {
	n, ok := map[string]int{
		"raid0": 1, "raid1": 2, "raid1e": 3, "raid5": 3, "raid6": 4,
		"raid10": 4, "raid50": 6, "raid60": 8,
	}[level]
	return n, ok
}

// mdMin is the fewest devices each md level takes; the Linux md driver
// itself allows fewer for some, but those arrays protect nothing.
func mdMin(level string) (int, bool) {
	n, ok := map[string]int{"raid0": 2, "raid1": 2, "raid5": 3, "raid10": 2}[level]
	return n, ok
}

// refKind is what a plan-wide name points at.
type refKind int

const (
	refDisk refKind = iota
	refPartition
)

type ref struct {
	kind refKind
	disk *Disk
	part *Partition
}

// checker holds the state of one Check run.
type checker struct {
	p     *Plan
	l     *errorList
	parts map[string]ref   // partition names
	disks map[string]*Disk // disk ids
	vols  map[string]*Volume
	mds   map[string]*MD
	inMD  map[string]string // device ref → md name using it
}

// Check runs the semantic checks on a decoded plan and fills the parsed
// fields (sizes, partition types, modes). It returns an Errors listing every
// problem found.
func Check(p *Plan) error {
	c := &checker{
		p: p, l: &errorList{File: p.File},
		parts: map[string]ref{}, disks: map[string]*Disk{},
		vols: map[string]*Volume{}, mds: map[string]*MD{}, inMD: map[string]string{},
	}
	if len(p.Disks) == 0 && len(p.RAID) == 0 {
		c.l.Add(p.Pos.Line, "the plan has no disks and no raid section: it would do nothing")
	}
	c.names()
	c.raid()
	c.md()
	for i := range p.Disks {
		c.disk(&p.Disks[i])
	}
	c.files()
	c.boot()
	return c.l.Err()
}

// names records disk ids and partition names first, so references may point
// forward in the file. The two are separate namespaces (a disk "root" may
// hold a partition "root"); only md devices may name either, and there an
// ambiguous name is an error.
func (c *checker) names() {
	valid := func(name, what string, line int) bool {
		switch {
		case name == "":
			c.l.Add(line, "%s has no name", what)
			return false
		case !refRE.MatchString(name) || len(name) > 36:
			c.l.Add(line, "%s name %q: use up to 36 letters, digits, '.', '_' or '-'", what, name)
			return false
		}
		return true
	}
	for i := range c.p.Disks {
		d := &c.p.Disks[i]
		if valid(d.ID, "disk", d.Pos.Of("id")) {
			if first := c.disks[d.ID]; first != nil {
				c.l.Add(d.Pos.Of("id"), "disk id %q already used at line %d", d.ID, first.Pos.Of("id"))
			} else {
				c.disks[d.ID] = d
			}
		}
		for j := range d.Partitions {
			pt := &d.Partitions[j]
			if !valid(pt.Name, "partition", pt.Pos.Of("name")) {
				continue
			}
			if first, dup := c.parts[pt.Name]; dup {
				c.l.Add(pt.Pos.Of("name"), "partition name %q already used at line %d; partition names are unique in the whole plan", pt.Name, first.part.Pos.Of("name"))
				continue
			}
			c.parts[pt.Name] = ref{kind: refPartition, disk: d, part: pt}
		}
	}
}

// device resolves an md device reference: a partition name or a disk id.
func (c *checker) device(name string) (ref, error) {
	pr, isPart := c.parts[name]
	d, isDisk := c.disks[name]
	switch {
	case isPart && isDisk:
		return ref{}, fmt.Errorf("%q is both a disk id and a partition name; rename one", name)
	case isPart:
		return pr, nil
	case isDisk:
		return ref{kind: refDisk, disk: d}, nil
	}
	return ref{}, fmt.Errorf("%q is not a disk id or partition name in this plan", name)
}

func (c *checker) raid() {
	type ctrlKey struct{ pci, index string }
	seen := map[ctrlKey]int{}
	known := strings.Join(Tools(), ", ")
	for i := range c.p.RAID {
		r := &c.p.RAID[i]
		ct := &r.Controller
		if !r.Pos.Has("controller") {
			c.l.Add(r.Pos.Line, "raid entry has no controller (pci: or index:)")
		}
		switch {
		case ct.PCI != "" && ct.Index != nil:
			c.l.Add(ct.Pos.Line, "controller: give pci or index, not both")
		case ct.PCI == "" && ct.Index == nil && r.Pos.Has("controller"):
			c.l.Add(ct.Pos.Line, "controller: give pci (\"0000:03:00.0\") or index (the tool's controller number)")
		case ct.PCI != "" && !pciRE.MatchString(ct.PCI):
			c.l.Add(ct.Pos.Of("pci"), "controller: pci %q is not a PCI address like 0000:03:00.0 (lower-case hex)", ct.PCI)
		case ct.Index != nil && *ct.Index < 0:
			c.l.Add(ct.Pos.Of("index"), "controller: index %d is negative", *ct.Index)
		}
		if ct.Index != nil && ct.Tool == "" {
			c.l.Add(ct.Pos.Of("index"), "controller: index %d is the tool's own numbering, so name the tool too", *ct.Index)
		}
		if ct.Tool != "" && !contains(Tools(), ct.Tool) {
			c.l.Add(ct.Pos.Of("tool"), "controller: unknown tool %q (known: %s)", ct.Tool, known)
		}
		k := ctrlKey{pci: ct.PCI}
		if ct.Index != nil {
			k.index = ct.Tool + "#" + strconv.Itoa(*ct.Index)
		}
		if first, dup := seen[k]; dup && (k.pci != "" || k.index != "") {
			c.l.Add(ct.Pos.Line, "controller given twice (first at line %d); put all its volumes in one raid entry", first)
		}
		seen[k] = ct.Pos.Line
		if len(r.Volumes) == 0 {
			c.l.Add(r.Pos.Line, "raid entry has no volumes")
		}
		slots := map[string]int{}
		for j := range r.Volumes {
			c.volume(&r.Volumes[j], slots)
		}
	}
}

func (c *checker) volume(v *Volume, slots map[string]int) {
	where := fmt.Sprintf("raid volume %q", v.Name)
	switch {
	case v.Name == "":
		c.l.Add(v.Pos.Line, "raid volume has no name")
		where = "raid volume"
	case !refRE.MatchString(v.Name):
		c.l.Add(v.Pos.Of("name"), "%s: use letters, digits, '.', '_' or '-'", where)
	case c.vols[v.Name] != nil:
		c.l.Add(v.Pos.Of("name"), "%s already defined at line %d", where, c.vols[v.Name].Pos.Line)
	default:
		c.vols[v.Name] = v
	}
	minN, ok := volumeMin(v.Level)
	if !ok {
		c.l.Add(v.Pos.Of("level"), "%s: level %q unknown (raid0, raid1, raid1e, raid5, raid6, raid10, raid50, raid60)", where, v.Level)
	}
	switch {
	case len(v.Members) > 0 && v.Count > 0:
		c.l.Add(v.Pos.Of("count"), "%s: give members or count, not both", where)
	case len(v.Members) == 0 && v.Count == 0:
		c.l.Add(v.Pos.Line, "%s: give members (enclosure:slot) or count", where)
	case v.Pos.Has("count") && v.Count <= 0:
		c.l.Add(v.Pos.Of("count"), "%s: count %d must be positive", where, v.Count)
	}
	n := max(len(v.Members), v.Count)
	if ok && n > 0 && n < minN {
		c.l.Add(v.Pos.Line, "%s: %s needs at least %d disks, plan gives %d", where, v.Level, minN, n)
	}
	if ok && n > 0 && (v.Level == "raid10" || v.Level == "raid1") && n%2 != 0 {
		c.l.Add(v.Pos.Line, "%s: %s needs an even number of disks, plan gives %d", where, v.Level, n)
	}
	for _, m := range v.Members {
		if !memberRE.MatchString(m) {
			c.l.Add(v.Pos.Of("members"), "%s: member %q is not enclosure:slot (e.g. \"1:0\")", where, m)
			continue
		}
		if first, dup := slots[m]; dup {
			c.l.Add(v.Pos.Of("members"), "%s: member %s already used at line %d", where, m, first)
		}
		slots[m] = v.Pos.Of("members")
	}
	s := v.Size
	if s == "" {
		s = "max"
	}
	spec, err := ParseSize(s, true)
	if err != nil {
		c.l.Add(v.Pos.Of("size"), "%s: %v", where, err)
	} else if spec.Percent > 0 {
		c.l.Add(v.Pos.Of("size"), "%s: size %q: use max or a byte size", where, v.Size)
	}
	v.SizeSpec = spec
}

func (c *checker) md() {
	for i := range c.p.MD {
		m := &c.p.MD[i]
		where := fmt.Sprintf("md array %q", m.Name)
		switch {
		case m.Name == "":
			c.l.Add(m.Pos.Line, "md array has no name")
			where = "md array"
		case !refRE.MatchString(m.Name) || len(m.Name) > 32:
			c.l.Add(m.Pos.Of("name"), "%s: use up to 32 letters, digits, '.', '_' or '-'", where)
		case c.mds[m.Name] != nil:
			c.l.Add(m.Pos.Of("name"), "%s already defined at line %d", where, c.mds[m.Name].Pos.Line)
		default:
			c.mds[m.Name] = m
		}
		minN, ok := mdMin(m.Level)
		if !ok {
			c.l.Add(m.Pos.Of("level"), "%s: level %q unknown (raid0, raid1, raid5, raid10)", where, m.Level)
		} else if len(m.Devices) < minN {
			c.l.Add(m.Pos.Of("devices"), "%s: %s needs at least %d devices, plan gives %d", where, m.Level, minN, len(m.Devices))
		}
		switch m.Metadata {
		case "":
			m.Metadata = "1.2"
		case "1.2", "1.0":
		default:
			c.l.Add(m.Pos.Of("metadata"), "%s: metadata %q: use 1.2 (default) or 1.0 (superblock at the end, for an ESP on md)", where, m.Metadata)
		}
		for _, dev := range m.Devices {
			line := m.Pos.Of("devices")
			r, err := c.device(dev)
			if err != nil {
				c.l.Add(line, "%s: device %v", where, err)
				continue
			}
			if other, dup := c.inMD[dev]; dup {
				c.l.Add(line, "%s: device %q is already in md array %q", where, dev, other)
				continue
			}
			c.inMD[dev] = m.Name
			if r.disk.Select.MD != "" {
				c.l.Add(line, "%s: device %q lives on an md array itself; md over md is not supported", where, dev)
			}
			switch r.kind {
			case refDisk:
				if len(r.disk.Partitions) > 0 || r.disk.Image != nil || r.disk.Table != "" {
					c.l.Add(line, "%s: device %q is a whole disk with a table or image; use one of its partitions, or drop them", where, dev)
				}
			case refPartition:
				if r.part.Filesystem != nil || r.part.Image != nil {
					c.l.Add(line, "%s: device %q also has a filesystem or image; an md member carries only the array", where, dev)
				}
			}
		}
	}
}

func (c *checker) disk(d *Disk) {
	where := fmt.Sprintf("disk %q", d.ID)
	c.selector(d, where)
	usedByMD := c.inMD[d.ID] != ""
	writes := len(d.Partitions) > 0 || d.Image != nil || d.Table != "" || usedByMD
	switch {
	case writes && !d.Wipe.Enabled:
		c.l.Add(d.Pos.Line, "%s: writing it erases it; say wipe: true to agree", where)
	case !writes && !d.Wipe.Enabled:
		c.l.Add(d.Pos.Line, "%s: nothing to do (no wipe, table, partitions or image)", where)
	}
	c.wipe(d, where)
	if d.Image != nil {
		if d.Table != "" || len(d.Partitions) > 0 {
			c.l.Add(d.Image.Pos.Line, "%s: a whole-disk image carries its own partition table; drop table and partitions", where)
		}
		c.artifact(where+" image", d.Image.Pos, d.Image.URL, &d.Image.SHA256, &d.Image.SHA512)
	}
	switch d.Table {
	case "":
		if len(d.Partitions) > 0 {
			d.Table = "gpt"
		}
	case "gpt":
	case "mbr":
		if len(d.Partitions) > 4 {
			c.l.Add(d.Pos.Of("table"), "%s: mbr holds 4 primary partitions, plan gives %d (logical partitions are not supported; use gpt)", where, len(d.Partitions))
		}
	default:
		c.l.Add(d.Pos.Of("table"), "%s: table %q: use gpt or mbr", where, d.Table)
	}
	ok := c.partitions(d, where)
	if ok && len(d.Partitions) > 0 {
		c.fit(d, where)
	}
}

// wipe checks the whole-disk erase steps. Discard then zero-out is fine
// (the disks stage runs them in that order). A whole disk that becomes an
// md member is never wiped by the disks stage: the raid stage writes the
// array's superblock onto it directly, so steps asked for there would
// silently not run; they belong on the disk that selects the array, where
// the kernel passes them through md to the members.
func (c *checker) wipe(d *Disk, where string) {
	w := &d.Wipe
	if !w.Discard && !w.ZeroOut {
		return
	}
	if m := c.inMD[d.ID]; m != "" {
		var keys []string
		for _, k := range []struct {
			key string
			on  bool
		}{{"discard", w.Discard}, {"zeroout", w.ZeroOut}} {
			if k.on {
				keys = append(keys, k.key)
			}
		}
		c.l.Add(w.Pos.Of(keys[0]), "%s: wipe %s would not run on a whole-disk md member (the raid stage writes it directly); put it on the disk that selects md: %s", where, strings.Join(keys, " and "), m)
	}
}

func (c *checker) selector(d *Disk, where string) {
	s := &d.Select
	line := s.Pos.Line
	if !d.Pos.Has("select") {
		c.l.Add(d.Pos.Line, "%s: no select: say which disk by serial, wwn, model, size, bus_path or raid_volume", where)
		return
	}
	s.Name = strings.TrimPrefix(s.Name, "/dev/")
	s.ByID = strings.TrimPrefix(s.ByID, "/dev/disk/by-id/")
	s.BusPath = strings.TrimPrefix(s.BusPath, "/dev/disk/by-path/")
	if strings.Contains(s.Name, "/") {
		c.l.Add(s.Pos.Of("name"), "%s: select.name %q is a kernel disk name such as sda", where, s.Name)
	}
	if strings.HasPrefix(s.ByID, "/") {
		c.l.Add(s.Pos.Of("by_id"), "%s: select.by_id %q: give the name under /dev/disk/by-id", where, s.ByID)
	}
	later := s.RAIDVolume != "" || s.MD != ""
	hints := 0
	for _, h := range []bool{s.Serial != "", s.WWN != "", s.Model != "", s.Vendor != "", s.Size != nil,
		s.Rotational != nil, s.Removable != nil, s.BusPath != "", s.HCTL != "", s.ByID != ""} {
		if h {
			hints++
		}
	}
	switch {
	case s.RAIDVolume != "" && s.MD != "":
		c.l.Add(line, "%s: select either raid_volume or md", where)
	case later && (hints > 0 || s.Name != "" || s.Prefer != ""):
		c.l.Add(line, "%s: raid_volume and md select a device that appears after the raid stage; give no other hint", where)
	case !later && hints == 0 && s.Name != "":
		c.l.Add(s.Pos.Of("name"), "%s: a bare kernel name (/dev/%s) is not stable across boots; add serial, wwn, by_id, bus_path or size", where, s.Name)
	case !later && hints == 0:
		c.l.Add(line, "%s: select has no hint: give serial, wwn, model, vendor, size, rotational, bus_path, hctl, by_id or raid_volume", where)
	}
	if s.RAIDVolume != "" {
		v := c.vols[s.RAIDVolume]
		if v == nil {
			c.l.Add(s.Pos.Of("raid_volume"), "%s: raid_volume %q is not a volume in the raid section", where, s.RAIDVolume)
		}
	}
	if s.MD != "" && c.mds[s.MD] == nil {
		c.l.Add(s.Pos.Of("md"), "%s: md %q is not an array in the md section", where, s.MD)
	}
	switch s.Prefer {
	case "", "smallest", "largest":
	default:
		c.l.Add(s.Pos.Of("prefer"), "%s: prefer %q: use smallest or largest", where, s.Prefer)
	}
	for _, g := range []struct{ key, val string }{{"model", s.Model}, {"vendor", s.Vendor}, {"bus_path", s.BusPath}} {
		if _, err := path.Match(g.val, ""); err != nil {
			c.l.Add(s.Pos.Of(g.key), "%s: select.%s %q is not a valid glob", where, g.key, g.val)
		}
	}
	if r := s.Size; r != nil {
		var err error
		if r.Min == "" && r.Max == "" {
			c.l.Add(r.Pos.Line, "%s: select.size needs min, max or both", where)
		}
		if r.Min != "" {
			if r.MinBytes, err = ParseBytes(r.Min); err != nil {
				c.l.Add(r.Pos.Of("min"), "%s: select.size.min: %v", where, err)
			}
		}
		if r.Max != "" {
			if r.MaxBytes, err = ParseBytes(r.Max); err != nil {
				c.l.Add(r.Pos.Of("max"), "%s: select.size.max: %v", where, err)
			}
		}
		if r.MaxBytes > 0 && r.MinBytes > r.MaxBytes {
			c.l.Add(r.Pos.Line, "%s: select.size.min %s is above max %s", where, r.Min, r.Max)
		}
	}
	for _, o := range c.p.Disks {
		if o.ID == d.ID {
			break // report only the second of a pair
		}
		if s.RAIDVolume != "" && o.Select.RAIDVolume == s.RAIDVolume {
			c.l.Add(s.Pos.Of("raid_volume"), "%s: raid volume %q is already selected by disk %q (line %d)", where, s.RAIDVolume, o.ID, o.Pos.Line)
		}
		if s.MD != "" && o.Select.MD == s.MD {
			c.l.Add(s.Pos.Of("md"), "%s: md array %q is already selected by disk %q (line %d)", where, s.MD, o.ID, o.Pos.Line)
		}
	}
}

// partitions checks a disk's partitions; it reports whether their sizes
// parsed, so the fit check can run.
func (c *checker) partitions(d *Disk, where string) bool {
	ok := true
	rest := -1
	percent := 0
	for i := range d.Partitions {
		pt := &d.Partitions[i]
		pw := fmt.Sprintf("partition %q", pt.Name)
		if pt.Size == "" {
			c.l.Add(pt.Pos.Line, "%s: no size (MiB, GiB, %%, or rest)", pw)
			ok = false
		} else if s, err := ParseSize(pt.Size, false); err != nil {
			c.l.Add(pt.Pos.Of("size"), "%s: %v", pw, err)
			ok = false
		} else {
			pt.SizeSpec = s
			switch {
			case s.Rest && rest >= 0:
				c.l.Add(pt.Pos.Of("size"), "%s: only one partition may take the rest; %q already does", pw, d.Partitions[rest].Name)
				ok = false
			case s.Rest:
				rest = i
			case s.Percent > 0:
				percent += s.Percent
				if percent > 100 {
					c.l.Add(pt.Pos.Of("size"), "%s: percentages on %s add up to %d%%", pw, where, percent)
					ok = false
				}
			}
		}
		t, err := resolvePartType(pt.Type, d.Table, pt.Filesystem)
		if err != nil {
			c.l.Add(pt.Pos.Of("type"), "%s: %v", pw, err)
		}
		pt.TypeSpec = t
		if pt.PartUUID != "" {
			if d.Table == "mbr" {
				c.l.Add(pt.Pos.Of("partuuid"), "%s: partuuid is for gpt; an mbr PARTUUID derives from the disk signature", pw)
			} else if !isGUID(pt.PartUUID) {
				c.l.Add(pt.Pos.Of("partuuid"), "%s: partuuid %q is not a UUID", pw, pt.PartUUID)
			}
		}
		if pt.Filesystem != nil && pt.Image != nil {
			c.l.Add(pt.Pos.Line, "%s: give filesystem or image, not both (an image brings its filesystem)", pw)
		}
		if fs := pt.Filesystem; fs != nil {
			c.filesystem(pt, pw)
		}
		if pt.Image != nil {
			c.artifact(pw+" image", pt.Image.Pos, pt.Image.URL, &pt.Image.SHA256, &pt.Image.SHA512)
		}
	}
	if rest >= 0 && percent >= 100 {
		c.l.Add(d.Partitions[rest].Pos.Of("size"), "partition %q: takes the rest, but percentages on %s already add up to %d%%", d.Partitions[rest].Name, where, percent)
		ok = false
	}
	return ok
}

func (c *checker) filesystem(pt *Partition, pw string) {
	fs := pt.Filesystem
	limit := 0
	switch fs.Format {
	case "vfat":
		// The FAT volume label is 11 bytes in the boot sector (Microsoft
		// FAT32 spec, BS_VolLab).
		limit = 11
	case "ext4":
		limit = 16 // s_volume_name[16]
	case "swap":
		limit = 16 // union swap_header.info.volume_name[16]
	case "":
		c.l.Add(fs.Pos.Line, "%s: filesystem has no format (vfat, ext4 or swap)", pw)
	default:
		c.l.Add(fs.Pos.Of("format"), "%s: filesystem format %q: needle creates vfat, ext4 and swap; bring others as an image", pw, fs.Format)
	}
	if limit > 0 && len(fs.Label) > limit {
		c.l.Add(fs.Pos.Of("label"), "%s: %s label %q is longer than %d bytes", pw, fs.Format, fs.Label, limit)
	}
	if pt.TypeSpec.Name == "esp" && fs.Format != "vfat" && fs.Format != "" {
		c.l.Add(fs.Pos.Of("format"), "%s: an EFI system partition must be vfat, not %s", pw, fs.Format)
	}
}

// fit checks that fixed sizes fit the smallest disk the selector allows.
func (c *checker) fit(d *Disk, where string) {
	var min uint64
	var why string
	if r := d.Select.Size; r != nil && r.MinBytes > 0 {
		min, why = r.MinBytes, fmt.Sprintf("the smallest disk select.size allows (%s)", r.Min)
	}
	if v := c.vols[d.Select.RAIDVolume]; v != nil && v.SizeSpec.Bytes > 0 {
		min, why = v.SizeSpec.Bytes, fmt.Sprintf("raid volume %q (%s)", v.Name, v.Size)
	}
	if min == 0 {
		return // checked against the chosen disk by Validate
	}
	if _, err := d.Layout(min, 512); err != nil {
		c.l.Add(d.Pos.Of("partitions"), "%s: partitions do not fit %s: %v", where, why, err)
	}
}

// artifact checks an image or file URL and its hashes; hashes are
// lower-cased in place.
func (c *checker) artifact(where string, pos Pos, raw string, sha256, sha512 *string) {
	if raw == "" {
		c.l.Add(pos.Line, "%s: no url", where)
	} else if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.l.Add(pos.Of("url"), "%s: url %q: want an absolute http:// or https:// URL", where, raw)
	}
	if *sha256 == "" && *sha512 == "" {
		c.l.Add(pos.Line, "%s: no sha256 or sha512; every fetched artifact is verified", where)
	}
	for _, h := range []struct {
		key string
		val *string
		n   int
	}{{"sha256", sha256, 64}, {"sha512", sha512, 128}} {
		if *h.val == "" {
			continue
		}
		*h.val = strings.ToLower(*h.val)
		if len(*h.val) != h.n {
			c.l.Add(pos.Of(h.key), "%s: %s must be %d hex digits, got %d characters", where, h.key, h.n, len(*h.val))
		} else if strings.IndexFunc(*h.val, func(r rune) bool { return !isHex(r) }) >= 0 {
			c.l.Add(pos.Of(h.key), "%s: %s has a character that is not a hex digit", where, h.key)
		}
	}
}

// mountable resolves a filesystem reference: a partition with a filesystem
// (not swap) or an image, or DISK:N for partition N of a whole-disk image.
func (c *checker) mountable(name string) error {
	if id, num, ok := strings.Cut(name, ":"); ok {
		d := c.disks[id]
		if d == nil {
			return fmt.Errorf("%q: %q is not a disk id", name, id)
		}
		if d.Image == nil {
			return fmt.Errorf("%q: DISK:N names a partition inside a whole-disk image, and disk %q has none (name its partition instead)", name, id)
		}
		if n, err := strconv.Atoi(num); err != nil || n < 1 || n > 128 {
			return fmt.Errorf("%q: %q is not a partition number 1..128", name, num)
		}
		return nil
	}
	r, ok := c.parts[name]
	switch {
	case !ok && c.disks[name] != nil && c.disks[name].Image != nil:
		return fmt.Errorf("%q is a whole-disk image; name the partition inside it as %s:N", name, name)
	case !ok && c.disks[name] != nil:
		return fmt.Errorf("%q is a disk, not a filesystem", name)
	case !ok:
		return fmt.Errorf("%q is not a partition in this plan", name)
	case c.inMD[name] != "":
		return fmt.Errorf("%q is a member of md array %q", name, c.inMD[name])
	case r.part.Image != nil:
		return nil
	case r.part.Filesystem == nil:
		return fmt.Errorf("partition %q has no filesystem or image", name)
	case r.part.Filesystem.Format == "swap":
		return fmt.Errorf("partition %q is swap", name)
	}
	return nil
}

// filePath checks what path.Clean leaves to the kernel: a NUL ends the
// path the syscall sees, control characters make the path unreadable in
// every log, and NAME_MAX and PATH_MAX (include/uapi/linux/limits.h) make
// open fail. All of them would fail only after the disks were erased.
func filePath(p string) error {
	switch {
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("contains a NUL byte")
	case strings.IndexFunc(p, unicode.IsControl) >= 0:
		return errors.New("contains a control character")
	case !utf8.ValidString(p):
		return errors.New("is not valid UTF-8")
	case len(p) > 4095:
		return fmt.Errorf("is %d bytes, over PATH_MAX (4095 bytes)", len(p))
	}
	for _, c := range strings.Split(p[1:], "/") {
		if len(c) > 255 {
			return fmt.Errorf("component %s is %d bytes, over NAME_MAX (255 bytes)", quote.Value(c), len(c))
		}
	}
	return nil
}

func (c *checker) files() {
	seen := map[string]int{}
	for i := range c.p.Files {
		f := &c.p.Files[i]
		where := fmt.Sprintf("file %q", f.Path)
		switch {
		case f.Path == "":
			c.l.Add(f.Pos.Line, "file has no path")
		case !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path || f.Path == "/":
			c.l.Add(f.Pos.Of("path"), "%s: path must be absolute and clean (no .., no empty component, no trailing /)", where)
		default:
			if err := filePath(f.Path); err != nil {
				c.l.Add(f.Pos.Of("path"), "%s: path %v", where, err)
			}
		}
		key := f.Filesystem + "\x00" + f.Path
		if first, dup := seen[key]; dup {
			c.l.Add(f.Pos.Line, "%s: written twice on %q (first at line %d)", where, f.Filesystem, first)
		}
		seen[key] = f.Pos.Line
		f.ModeBits = 0o644
		if f.Mode != "" {
			m, err := strconv.ParseUint(strings.TrimPrefix(f.Mode, "0o"), 8, 32)
			if err != nil || m > 0o7777 {
				c.l.Add(f.Pos.Of("mode"), "%s: mode %q: want octal permission bits like 0644 (read as octal, as chmod does)", where, f.Mode)
			}
			f.ModeBits = uint32(m)
		}
		if f.Owner != "" {
			u, g, _ := strings.Cut(f.Owner, ":")
			if !ownerRE.MatchString(u) || (strings.Contains(f.Owner, ":") && !ownerRE.MatchString(g)) {
				c.l.Add(f.Pos.Of("owner"), "%s: owner %q: want user[:group], names or numbers", where, f.Owner)
			}
		}
		ct := &f.Contents
		switch {
		case !f.Pos.Has("contents"):
			c.l.Add(f.Pos.Line, "%s: no contents (inline: or url: with sha256)", where)
		case ct.Inline != nil && (ct.URL != "" || ct.SHA256 != "" || ct.SHA512 != ""):
			c.l.Add(ct.Pos.Line, "%s: contents: give inline, or url with a hash, not both", where)
		case ct.Inline == nil:
			c.artifact(where+" contents", ct.Pos, ct.URL, &ct.SHA256, &ct.SHA512)
		}
		if f.Filesystem == "" {
			c.l.Add(f.Pos.Line, "%s: no filesystem: name the partition it goes on", where)
		} else if err := c.mountable(f.Filesystem); err != nil {
			c.l.Add(f.Pos.Of("filesystem"), "%s: filesystem %v", where, err)
		}
	}
}

// cmdRef is one ${kind:name} reference in a kexec command line; err is set
// when the text between ${ and } is not of that form.
type cmdRef struct {
	kind, name string
	err        error
}

// cmdlineRefs returns the ${kind:name} references in a command line.
func cmdlineRefs(s string) []cmdRef {
	var out []cmdRef
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			return out
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return append(out, cmdRef{err: fmt.Errorf("unterminated ${ in %q", s[i:])})
		}
		body := s[i+2 : i+j]
		kind, name, ok := strings.Cut(body, ":")
		if !ok || kind == "" || name == "" {
			out = append(out, cmdRef{err: fmt.Errorf("${%s}: want ${partuuid:NAME} or ${uuid:NAME}", body)})
		} else {
			out = append(out, cmdRef{kind: kind, name: name})
		}
		s = s[i+j+1:]
	}
}

func (c *checker) boot() {
	b := c.p.Boot
	if b == nil {
		c.l.Add(c.p.Pos.Line, "no boot section: say how to hand off (boot: {kexec: {root: NAME}} or boot: {reboot: {}})")
		return
	}
	switch {
	case b.Kexec != nil && b.Reboot != nil:
		c.l.Add(b.Pos.Line, "boot: give exactly one handoff, kexec or reboot, not both")
	case b.Kexec == nil && b.Reboot == nil:
		c.l.Add(b.Pos.Line, "boot: give exactly one handoff, kexec or reboot")
	}
	k := b.Kexec
	if k == nil {
		return
	}
	if k.Root == "" {
		c.l.Add(k.Pos.Line, "boot.kexec: no root: name the partition holding the installed kernel")
	} else if err := c.mountable(k.Root); err != nil {
		c.l.Add(k.Pos.Of("root"), "boot.kexec: root %v", err)
	}
	for _, f := range []struct{ key, val string }{{"kernel", k.Kernel}, {"initrd", k.Initrd}} {
		if f.val != "" && (!path.IsAbs(f.val) || path.Clean(f.val) != f.val) {
			c.l.Add(k.Pos.Of(f.key), "boot.kexec: %s %q: want an absolute path on the root filesystem", f.key, f.val)
		}
	}
	if k.Initrd != "" && k.Kernel == "" {
		c.l.Add(k.Pos.Of("initrd"), "boot.kexec: initrd given without kernel; give both or let needle find them")
	}
	switch k.Fallback {
	case "", "reboot", "fail":
	default:
		c.l.Add(k.Pos.Of("fallback"), "boot.kexec: fallback %q: use reboot or fail", k.Fallback)
	}
	line := k.Pos.Of("cmdline")
	for _, r := range cmdlineRefs(k.Cmdline) {
		switch {
		case r.err != nil:
			c.l.Add(line, "boot.kexec: cmdline: %v", r.err)
		case r.kind == "partuuid":
			// Any partition has a PARTUUID (on mbr SIGNATURE-NN, which the
			// handoff derives), swap and md members included.
			if _, ok := c.parts[r.name]; ok {
				break
			}
			if strings.Contains(r.name, ":") && c.mountable(r.name) == nil {
				break
			}
			c.l.Add(line, "boot.kexec: cmdline ${partuuid:%s}: %q is not a partition in this plan", r.name, r.name)
		case r.kind == "uuid":
			// A filesystem UUID: any filesystem needle makes (swap too, for
			// resume=) or an image's.
			if pr, ok := c.parts[r.name]; ok && (pr.part.Filesystem != nil || pr.part.Image != nil) {
				break
			}
			if err := c.mountable(r.name); err != nil {
				c.l.Add(line, "boot.kexec: cmdline ${uuid:%s}: %v", r.name, err)
			}
		default:
			c.l.Add(line, "boot.kexec: cmdline ${%s:%s}: unknown reference kind %q (partuuid or uuid)", r.kind, r.name, r.kind)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
