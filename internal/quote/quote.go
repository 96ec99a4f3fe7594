// Package quote quotes values for error messages without letting them
// amplify: a plan field, a command-line value or a tool's output line can
// be megabytes, and an error that echoes it whole (once per field that
// aliases it) floods the console, the kernel log and the report server.
package quote

import (
	"fmt"
	"io"
	"strconv"
	"strings"
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
func Cut(s string) string { return cut(s, MaxRunes) }

func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := 0
	for i := range s {
		if n == max {
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

// MaxArg is the backstop for any other string or error in a message:
// text the program composed (a list of the disks present) is kept whole up
// to this, a value that slipped in unquoted is cut here.
const MaxArg = 4096

// long wraps a value for fmt: %q prints it quoted and cut to max runes,
// the other verbs print it cut, each with "…" when cut.
type long struct {
	s   string
	max int
}

// Format implements fmt.Formatter.
func (l long) Format(f fmt.State, verb rune) {
	c := cut(l.s, l.max)
	more := ""
	if len(c) < len(l.s) {
		more = "…"
	}
	if verb == 'q' {
		io.WriteString(f, strconv.Quote(c)+more)
		return
	}
	io.WriteString(f, c+more)
}

// Args prepares the arguments of a fmt call whose format quotes operator-
// or attacker-supplied values: a string or error printed with %q is cut to
// MaxRunes runes, any other to MaxArg. yamlstrict.List.Add runs every
// message through it.
func Args(format string, args []any) []any {
	var out []any
	for i, verb := range verbs(format) {
		if i >= len(args) {
			break
		}
		var s string
		switch v := args[i].(type) {
		case string:
			s = v
		case error:
			s = v.Error()
		default:
			continue
		}
		max := MaxArg
		if verb == 'q' {
			max = MaxRunes
		}
		if len(s) <= max {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = long{s, max}
	}
	if out == nil {
		return args
	}
	return out
}

// verbs lists the verbs of format, one per argument it consumes (explicit
// argument indexes and '*' widths are not used in needle's messages).
func verbs(format string) []rune {
	var vs []rune
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0123456789.", format[i]) >= 0 {
			i++
		}
		if i < len(format) && format[i] != '%' {
			vs = append(vs, rune(format[i]))
		}
	}
	return vs
}
