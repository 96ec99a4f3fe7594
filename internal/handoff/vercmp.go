package handoff

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

		// "~" marks a pre-release: it loses against everything.
		if at, bt := hasPrefix(a, '~'), hasPrefix(b, '~'); at || bt {
			if !at {
				return 1
			}
			if !bt {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if a == "" || b == "" {
			return cmpInt(len(a), len(b))
		}
		// "-", "^" and ".": the side holding the separator (where the other
		// has a later class) is the smaller one.
		if at, bt := a[0] == '-', b[0] == '-'; at || bt {
			if !at {
				return 1
			}
			if !bt {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if at, bt := a[0] == '^', b[0] == '^'; at || bt {
			if !at {
				return 1
			}
			if !bt {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if at, bt := a[0] == '.', b[0] == '.'; at || bt {
			if !at {
				return 1
			}
			if !bt {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if isDigit(a[0]) || isDigit(b[0]) {
			a = trimZeros(a)
			b = trimZeros(b)
			na, nb := spanDigits(a), spanDigits(b)
			if c := cmpInt(na, nb); c != 0 {
				return c
			}
			if c := cmpStr(a[:na], b[:nb]); c != 0 {
				return c
			}
			a, b = a[na:], b[nb:]
			continue
		}
		na, nb := spanLetters(a), spanLetters(b)
		n := min(na, nb)
		if c := cmpStr(a[:n], b[:n]); c != 0 {
			return c
		}
		if c := cmpInt(na, nb); c != 0 {
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

func hasPrefix(s string, c byte) bool { return s != "" && s[0] == c }
func isDigit(c byte) bool             { return c >= '0' && c <= '9' }
func isLetter(c byte) bool            { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

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

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
