package handoff

import (
	"fmt"
	"strings"
)

// parseGrubenv reads a GRUB environment block: a "# GRUB Environment
// Block" line, NAME=VALUE lines, then "#" padding to 1024 bytes. grub-editenv
// escapes "\" and newline in values with a backslash (grub-core/lib/envblk.c).
func parseGrubenv(data []byte) (map[string]string, error) {
	s := string(data)
	const sig = "# GRUB Environment Block\n"
	if !strings.HasPrefix(s, sig) {
		return nil, fmt.Errorf("not a GRUB environment block (no %q header)", strings.TrimSpace(sig))
	}
	s = s[len(sig):]
	env := map[string]string{}
	for s != "" {
		if s[0] == '#' { // padding or a comment line
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				break
			}
			s = s[i+1:]
			continue
		}
		// One NAME=VALUE up to an unescaped newline.
		var line strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '\n'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			line.WriteByte(s[i])
		}
		if i < len(s) {
			i++
		}
		s = s[i:]
		k, v, ok := strings.Cut(line.String(), "=")
		if !ok || k == "" {
			continue
		}
		env[k] = v
	}
	return env, nil
}
