package quote

import (
	"errors"
	"fmt"
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

func TestArgs(t *testing.T) {
	long := strings.Repeat("x", 5000)
	got := fmt.Sprintf("%s %q %v %d %q %%q %q", Args("%s %q %v %d %q %%q %q", []any{long, long, errors.New(long), 7, "short", errors.New(long)})...)
	q := strings.Repeat("x", MaxRunes)
	s := strings.Repeat("x", MaxArg)
	want := s + `… "` + q + `"… ` + s + `… 7 "short" %q "` + q + `"…`
	if got != want {
		t.Errorf("Sprintf(Args(…)) = %.300q, want %.300q", got, want)
	}
}
