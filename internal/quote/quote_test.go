package quote

import (
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	long := strings.Repeat("é", 1<<20)
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{"eth0", `"eth0"`},
		{"a\x00b", `"a\x00b"`},
		{strings.Repeat("x", 64), `"` + strings.Repeat("x", 64) + `"`},
		{strings.Repeat("x", 65), `"` + strings.Repeat("x", 64) + `"…`},
		{long, `"` + strings.Repeat("é", 64) + `"…`},
	} {
		if got := Value(tc.in); got != tc.want {
			t.Errorf("Value(%.20q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
