package handoff

import (
	"strings"

	"github.com/needle-boot/needle/internal/procfs"
)

// fstabEntry is one line of /etc/fstab (fstab(5)).
type fstabEntry struct {
	Spec, File, Type, Options string
}

// parseFstab reads fstab lines; octal escapes (\040 for a blank) are
// decoded in the first two fields, as getmntent does.
func parseFstab(data []byte) []fstabEntry {
	var out []fstabEntry
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		e := fstabEntry{Spec: procfs.Unescape(f[0]), File: procfs.Unescape(f[1])}
		if len(f) > 2 {
			e.Type = f[2]
		}
		if len(f) > 3 {
			e.Options = f[3]
		}
		out = append(out, e)
	}
	return out
}

// mountFor returns the fstab entry mounted at dir.
func mountFor(entries []fstabEntry, dir string) (fstabEntry, bool) {
	for _, e := range entries {
		if strings.TrimSuffix(e.File, "/") == strings.TrimSuffix(dir, "/") || (dir == "/" && e.File == "/") {
			return e, true
		}
	}
	return fstabEntry{}, false
}

// defaultCmdline builds the command line GRUB's 10_linux would write for a
// kernel found without a boot entry: root= from fstab, "ro", then
// GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT from /etc/default/grub.
// It returns "" when fstab names no root.
func (s system) defaultCmdline() string {
	b, _, err := s.read("/etc/fstab")
	if err != nil {
		return ""
	}
	root, ok := mountFor(parseFstab(b), "/")
	if !ok || root.Spec == "" {
		return ""
	}
	args := []string{"root=" + root.Spec, "ro"}
	if strings.Contains(root.Options, "subvol=") {
		for _, o := range strings.Split(root.Options, ",") {
			if strings.HasPrefix(o, "subvol=") {
				args = append(args, "rootflags="+o)
			}
		}
	}
	if d, _, err := s.read("/etc/default/grub"); err == nil {
		vars := parseShellAssignments(d)
		for _, k := range []string{"GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"} {
			args = append(args, strings.Fields(vars[k])...)
		}
	}
	return strings.Join(args, " ")
}

// parseShellAssignments reads KEY=value, KEY="value" and KEY='value' lines
// of a file meant to be sourced by sh; anything fancier is skipped.
func parseShellAssignments(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || !validName(k) {
			continue
		}
		switch {
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			v = v[1 : len(v)-1]
		case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
			v = v[1 : len(v)-1]
		case strings.ContainsAny(v, "$`\"'"):
			continue
		}
		out[k] = v
	}
	return out
}
