package handoff

import (
	"cmp"
	"testing"
)

// TestCompareVersionsOrder checks a list in increasing order, the one
// systemd's test-string-util uses for strverscmp_improved: every earlier
// entry must compare below every later one.
func TestCompareVersionsOrder(t *testing.T) {
	ordered := []string{
		"~1", "", "ab", "abb", "abc", "0001", "002", "12", "122", "122.9",
		"123~rc1", "123", "123-a", "123-a.1", "123-a1", "123-a1.1", "123-3", "123-3.1",
		"123^patch1", "123^1", "123.a-1", "123.1-1", "123a-1", "124",
	}
	for i := range ordered {
		for j := range ordered {
			want := cmp.Compare(i, j)
			if got := compareVersions(ordered[i], ordered[j]); got != want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestCompareVersionsKernels(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.1.0-18-amd64", "6.1.0-17-amd64", 1},
		{"6.1.0-9-amd64", "6.1.0-10-amd64", -1},
		{"5.15.0-91-generic", "5.15.0-101-generic", -1},
		{"6.7.4-200.fc39.x86_64", "6.5.6-300.fc39.x86_64", 1},
		{"6.5.6-300.fc39.x86_64", "0-rescue-6a1f0c2b9d8e4f7a8b3c5d6e7f809a1b", 1},
		{"6.1.0-18-amd64", "6.1.0-18-amd64", 0},
		{"6.1.0-18-amd64", "6.1.0-18-amd64+", 0}, // "+" is not a version character
		{"6.8.0-rc3", "6.8.0", 1},                // no "~": "-rc3" is a release suffix
		{"6.8.0~rc3", "6.8.0", -1},
	}
	for _, tc := range tests {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := compareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}
