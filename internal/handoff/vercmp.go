package handoff

import (
	"cmp"
	"strings"
)

// compareVersions orders two version strings as the UAPI Version Format
// Specification does (https://uapi-group.org/specifications/specs/version_format_specification/,
// systemd's strverscmp_improved), which the Boot Loader Specification uses
// to sort entries. It returns -1, 0 or +1.
//
// Characters other than [A-Za-z0-9~^.-] are skipped. At each position the
// classes order as: "~" < end of string < "-" < "^" < "." < letters <
// digits; so 123~rc1 < 123 < 123-a < 123^p1 < 123.1 < 123a < 1234. A run of
// digits compares as a number (leading zeros ignored); runs of letters
// compare byte-wise, a run above its own prefix.
func compareVersions(a, b string) int {
	for {
		a = skipInvalid(a)
		b = skipInvalid(b)

		// "~" marks a pre-release: it loses against everything, even the
		// end of the string.
		if ord, both := marker(a, b, '~'); ord != 0 {
			return ord
		} else if both {
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			return cmp.Compare(len(a), len(b))
		}
		// "-", "^" and ".", in that order of class: the side holding the
		// separator (where the other has a later class) is the smaller one.
		stepped := false
		for _, sep := range []byte("-^.") {
			if ord, both := marker(a, b, sep); ord != 0 {
				return ord
			} else if both {
				a, b, stepped = a[1:], b[1:], true
				break
			}
		}
		if stepped {
			continue
		}
		if isDigit(a[0]) || isDigit(b[0]) {
			a = trimZeros(a)
			b = trimZeros(b)
			na, nb := spanDigits(a), spanDigits(b)
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			if c := strings.Compare(a[:na], b[:nb]); c != 0 {
				return c
			}
			a, b = a[na:], b[nb:]
			continue
		}
		na, nb := spanLetters(a), spanLetters(b)
		n := min(na, nb)
		if c := strings.Compare(a[:n], b[:n]); c != 0 {
			return c
		}
		if c := cmp.Compare(na, nb); c != 0 {
			return c
		}
		a, b = a[na:], b[nb:]
	}
}

func validVersionChar(c byte) bool {
	return isDigit(c) || isLetter(c) || c == '~' || c == '-' || c == '^' || c == '.'
}

func skipInvalid(s string) string {
	i := 0
	for i < len(s) && !validVersionChar(s[i]) {
		i++
	}
	return s[i:]
}

// marker compares a and b at a class marker m: a side that holds it where
// the other does not is the smaller (ord -1 or +1); both holding it are
// stepped past by the caller (both).
func marker(a, b string, m byte) (ord int, both bool) {
	at, bt := a != "" && a[0] == m, b != "" && b[0] == m
	switch {
	case at && bt:
		return 0, true
	case at:
		return -1, false
	case bt:
		return 1, false
	}
	return 0, false
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func trimZeros(s string) string {
	i := 0
	for i < len(s) && s[i] == '0' {
		i++
	}
	return s[i:]
}

func spanDigits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

func spanLetters(s string) int {
	i := 0
	for i < len(s) && isLetter(s[i]) {
		i++
	}
	return i
}
