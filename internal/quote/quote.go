// Package quote quotes values for error messages without letting them
// amplify: a plan field, a command-line value or a tool's output line can
// be megabytes, and an error that echoes it whole (once per field that
// aliases it) floods the console, the kernel log and the report server.
package quote

import (
	"strconv"
	"unicode/utf8"
)

// MaxRunes is how much of a value an error quotes.
const MaxRunes = 64

// Value is strconv.Quote of s cut to MaxRunes runes, with "…" after the
// closing quote when something was cut, so "abc"… reads as "starts with".
func Value(s string) string {
	return strconv.Quote(Cut(s)) + ellipsis(s)
}

// Cut returns s cut to MaxRunes runes (no quotes, no marker).
func Cut(s string) string {
	if utf8.RuneCountInString(s) <= MaxRunes {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxRunes {
			return s[:i]
		}
		n++
	}
	return s
}

func ellipsis(s string) string {
	if len(s) > MaxRunes && utf8.RuneCountInString(s) > MaxRunes {
		return "…"
	}
	return ""
}
