package handoff

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Refs holds what the disks stage learned about the plan's partitions and
// filesystems, keyed as the plan writes the reference: "partuuid:root",
// "uuid:root", "label:root" → value.
type Refs map[string]string

// refKinds are the ${KIND:NAME} references a command line may carry.
var refKinds = []string{"partuuid", "uuid", "label"}

// Substitute replaces every ${KIND:NAME} in cmdline with its value from
// refs. Every reference that cannot be filled is an error naming it; all of
// them are reported at once. A "$" not followed by "{" is left alone.
func Substitute(cmdline string, refs Refs) (string, error) {
	var b strings.Builder
	var errs []error
	s := cmdline
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			errs = append(errs, fmt.Errorf("cmdline: unterminated ${ in %q", s[i:]))
			break
		}
		ref := s[i+2 : i+j]
		s = s[i+j+1:]
		kind, name, ok := strings.Cut(ref, ":")
		switch {
		case !ok || kind == "" || name == "":
			errs = append(errs, fmt.Errorf("cmdline: ${%s}: want ${partuuid:NAME}, ${uuid:NAME} or ${label:NAME}", ref))
		case !slices.Contains(refKinds, kind):
			errs = append(errs, fmt.Errorf("cmdline: ${%s}: unknown reference kind %q (partuuid, uuid or label)", ref, kind))
		default:
			v, ok := refs[kind+":"+name]
			if !ok || v == "" {
				errs = append(errs, fmt.Errorf("cmdline: ${%s}: no %s known for %q (the disks stage did not report it)", ref, kind, name))
				continue
			}
			b.WriteString(v)
		}
	}
	if len(errs) > 0 {
		return "", errors.Join(errs...)
	}
	return b.String(), nil
}
