package shell

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "''"},
		{"sas2ircu", "sas2ircu"},
		{"/dev/sda1", "/dev/sda1"},
		{"root=PARTUUID=1234-ab,ro", "root=PARTUUID=1234-ab,ro"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$HOME", "'$HOME'"},
		{"-drive", "-drive"},
		{"file=a.img,if=none", "file=a.img,if=none"},
		{"*", "'*'"},
		{"é", "'é'"},
		{"name=a b", "'name=a b'"},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestJoinRoundTrip: sh reads Join's output back into the same words.
func TestJoinRoundTrip(t *testing.T) {
	argv := []string{"printf", "%s\\n", "", "a b", "it's", "$HOME", "`x`", "\"q\"", "tab\there", "new\nline", "*", "~"}
	out, err := exec.Command("sh", "-c", Join(argv)).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := ""
	for _, a := range argv[2:] {
		want += a + "\n"
	}
	if string(out) != want {
		t.Errorf("sh -c %s printed %q, want %q", Join(argv), out, want)
	}
}
