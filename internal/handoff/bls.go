package handoff

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
)

// blsEntry is one Boot Loader Specification type #1 entry.
type blsEntry struct {
	File      string   // path of the .conf on its partition, for reports
	ID        string   // file name without .conf and boot counter
	Title     string   `json:"title,omitempty"`
	Version   string   `json:"version,omitempty"`
	MachineID string   `json:"machine_id,omitempty"`
	SortKey   string   `json:"sort_key,omitempty"`
	Linux     string   `json:"linux,omitempty"`
	Initrd    []string `json:"initrd,omitempty"`
	Options   string   `json:"options,omitempty"`
	// TriesLeft is the boot counter in the name (x+3-1.conf → 3), -1 when
	// the name has none. An entry with 0 tries left is "bad" and sorts last.
	TriesLeft int `json:"tries_left"`
}

// parseBLSEntry reads an entry file. name is the file's base name. Keys and
// values are separated by whitespace; "#" starts a comment line; options
// may be given several times and are joined with spaces, initrd may be
// given several times and each one loads in order.
func parseBLSEntry(name string, data []byte) (blsEntry, error) {
	e := blsEntry{TriesLeft: -1}
	e.ID, e.TriesLeft = blsID(name)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, val := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			key, val = line[:i], strings.TrimSpace(line[i+1:])
		}
		switch key {
		case "title":
			e.Title = val
		case "version":
			e.Version = val
		case "machine-id":
			e.MachineID = val
		case "sort-key":
			e.SortKey = val
		case "linux":
			e.Linux = val
		case "initrd":
			// One path per line in the spec; GRUB's blscfg also splits a
			// line holding several.
			e.Initrd = append(e.Initrd, strings.Fields(val)...)
		case "options":
			if e.Options != "" && val != "" {
				e.Options += " "
			}
			e.Options += val
		}
	}
	if err := sc.Err(); err != nil {
		return e, fmt.Errorf("%s: line %d: %w", name, n+1, err)
	}
	if e.Linux == "" {
		return e, fmt.Errorf("%s: no linux key (an efi or uki entry needle cannot kexec)", name)
	}
	return e, nil
}

// blsID strips ".conf" and a boot counter "+LEFT[-DONE]" from a file name
// (https://uapi-group.org/specifications/specs/boot_loader_specification/#boot-counting).
func blsID(name string) (string, int) {
	id := strings.TrimSuffix(name, ".conf")
	i := strings.LastIndexByte(id, '+')
	if i < 0 {
		return id, -1
	}
	counter := id[i+1:]
	left, _, _ := strings.Cut(counter, "-")
	n, err := strconv.Atoi(left)
	if err != nil || n < 0 {
		return id, -1
	}
	if _, done, ok := strings.Cut(counter, "-"); ok {
		if _, err := strconv.Atoi(done); err != nil {
			return id, -1
		}
	}
	return id[:i], n
}

// compareBLS orders entries as the Boot Loader Specification's "Sorting"
// section says, the first one being the default: entries with a sort-key
// before those without; among them by sort-key, then machine-id
// (ascending), then version (descending); then by file name without the
// suffix, in decreasing version order. Entries with no tries left go last,
// as systemd-boot puts them.
func compareBLS(a, b blsEntry) int {
	if ab, bb := a.TriesLeft == 0, b.TriesLeft == 0; ab != bb {
		if ab {
			return 1
		}
		return -1
	}
	if (a.SortKey != "") != (b.SortKey != "") {
		if a.SortKey != "" {
			return -1
		}
		return 1
	}
	if a.SortKey != "" {
		if c := strings.Compare(a.SortKey, b.SortKey); c != 0 {
			return c
		}
		if c := strings.Compare(a.MachineID, b.MachineID); c != 0 {
			return c
		}
		if c := compareVersions(a.Version, b.Version); c != 0 {
			return -c
		}
	}
	return -compareVersions(a.ID, b.ID)
}

// sortBLS sorts entries in menu order.
func sortBLS(entries []blsEntry) {
	slices.SortStableFunc(entries, compareBLS)
}

// loaderDefault reads the "default" glob of a systemd-boot loader.conf;
// "@saved" (an EFI variable needle cannot see) counts as none.
func loaderDefault(data []byte) string {
	var d string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "default" {
			d = f[1]
		}
	}
	if strings.HasPrefix(d, "@") {
		return ""
	}
	return d
}

// matchDefault returns the first entry, in menu order, whose id (with or
// without .conf, as systemd-boot accepts) matches the glob.
func matchDefault(entries []blsEntry, glob string) (blsEntry, bool) {
	for _, e := range entries {
		for _, name := range []string{e.ID, e.ID + ".conf", path.Base(e.File)} {
			if ok, err := path.Match(glob, name); err == nil && ok {
				return e, true
			}
		}
	}
	return blsEntry{}, false
}

// expandBLSVars replaces $NAME and ${NAME} in an options line from the
// grubenv, as GRUB's blscfg does for "$kernelopts" and "$tuned_params";
// unknown names expand to nothing, as in GRUB.
func expandBLSVars(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		var name string
		switch {
		case strings.HasPrefix(rest, "{"):
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				b.WriteByte('$')
				continue
			}
			name = rest[1:end]
			i += end + 1
		default:
			n := 0
			for n < len(rest) && (isLetter(rest[n]) || isDigit(rest[n]) || rest[n] == '_') {
				n++
			}
			if n == 0 {
				b.WriteByte('$')
				continue
			}
			name = rest[:n]
			i += n
		}
		b.WriteString(env[name])
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
