// Package procfs reads the /proc files the stages share, from a proc root
// given as a parameter (tests pass a captured tree): the mount table today.
// It is the one mountinfo reader: the disks stage (what holds a disk), the
// handoff (what to unmount before kexec) and the OS-image builder use it.
package procfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mount is one line of /proc/PID/mountinfo (Documentation/filesystems/
// proc.rst, "3.5 /proc/<pid>/mountinfo").
type Mount struct {
	ID     int
	Dev    string // major:minor of the mounted device (st_dev)
	Root   string // the mounted directory of the filesystem
	Point  string // where it is mounted, escapes undone
	FSType string
	Source string
}

// Mounts reads procRoot/self/mountinfo.
func Mounts(procRoot string) ([]Mount, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, "self", "mountinfo"))
	if err != nil {
		return nil, err
	}
	return ParseMountinfo(b)
}

// ParseMountinfo parses a mountinfo file, in mount order. A malformed line
// is an error naming it: a mount table read wrong decides what gets
// unmounted.
func ParseMountinfo(data []byte) ([]Mount, error) {
	var out []Mount
	for n, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 5 {
			return nil, fmt.Errorf("mountinfo line %d: %d fields, want at least 5", n+1, len(f))
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: mount id %q: %w", n+1, f[0], err)
		}
		m := Mount{ID: id, Dev: f[2], Root: Unescape(f[3]), Point: Unescape(f[4])}
		// Optional fields end with "-"; filesystem type and source follow.
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				if i+1 < len(f) {
					m.FSType = f[i+1]
				}
				if i+2 < len(f) {
					m.Source = Unescape(f[i+2])
				}
				break
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// Unescape undoes the kernel's octal escapes (\040 for a space, \011, \012,
// \134) in mountinfo, mounts and fstab paths (fs/proc_namespace.c,
// mangle(); fstab(5)).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && octal(s[i+1]) && octal(s[i+2]) && octal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(c byte) bool { return c >= '0' && c <= '7' }
