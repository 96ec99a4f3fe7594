// Package shell renders words and command lines the way a POSIX shell
// reads them back, for logs and scripts that reproduce a run. It is the one
// quoter: the raid and disk tool runner, the QEMU command lines, the
// handoff's kexec line and the OS-image builder all use it.
package shell

import "strings"

// Quote returns s as one shell word: unchanged when it holds only
// characters no shell treats specially, else single-quoted with each '
// written as '\” (POSIX.1-2017, Shell Command Language, 2.2.2).
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,=+@%", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// Join quotes each word of argv and joins them with spaces.
func Join(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = Quote(a)
	}
	return strings.Join(out, " ")
}
