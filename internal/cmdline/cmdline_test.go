package cmdline

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFields(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"console=ttyS0 quiet\n", []string{"console=ttyS0", "quiet"}},
		{`a="b c" d`, []string{"a=b c", "d"}},
		{`  x  `, []string{"x"}},
		{`e=""`, []string{"e="}},
		{``, nil},
	} {
		if got := Fields(tc.in); !cmp.Equal(got, tc.want) {
			t.Errorf("Fields(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	for _, tc := range []struct {
		in   string
		want Config
	}{
		{"console=ttyS0 quiet", Config{OnFail: "shell"}},
		{"needle.break=modules needle.shell needle.onfail=poweroff needle.debug=0",
			Config{Break: "modules", Shell: true, OnFail: "poweroff"}},
		{"needle.plan=http://10.0.2.2:8080/plan/${mac}.yaml needle.report=https://prov.example/r BOOTIF=01-52-54-00-12-34-56 ip=dhcp ip=eth0:dhcp",
			Config{Plan: "http://10.0.2.2:8080/plan/${mac}.yaml", Report: "https://prov.example/r", OnFail: "shell",
				BootIF: mac, IP: []string{"dhcp", "eth0:dhcp"}}},
		{"needle.fail=inventory needle.colour=red", Config{Fail: "inventory", OnFail: "shell",
			Warnings: []string{"unknown key needle.colour ignored (known: " + strings.Join(knownKeys, " ") + ")"}}},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(&tc.want, got); diff != "" {
			t.Errorf("Parse(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"needle.break=disk", `needle.break="disk": not a stage`},
		{"needle.onfail=explode", `needle.onfail="explode": want shell, reboot or poweroff`},
		{"needle.plan=ftp://x/p", `needle.plan="ftp://x/p": scheme "ftp"`},
		{"needle.plan=", `needle.plan=: empty URL`},
		{"needle.report=http:///x", `needle.report="http:///x": no host`},
		{"needle.shell=maybe", `needle.shell="maybe": want no value, 1 or 0`},
		{"BOOTIF=52:54:00:12:34:56", `BOOTIF="52:54:00:12:34:56"`},
		{"BOOTIF=06-52-54-00-12-34-56", `hardware type 06`},
		{"ip=", `ip=: empty value`},
	} {
		_, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"needle.break=plan", `a="b c"`, "BOOTIF=01-52-54-00-12-34-56", "needle.plan=http://h/${mac}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err == nil && c.OnFail == "" {
			t.Errorf("Parse(%q) left OnFail empty", s)
		}
	})
}

// TestErrorsShort: a huge value (needle install --cmdline reads any file)
// is quoted cut in the error, not echoed whole.
func TestErrorsShort(t *testing.T) {
	big := strings.Repeat("x", 100000)
	for _, line := range []string{"needle.onfail=" + big, "needle.plan=http://" + big + "%zz", "needle.plan=ftp" + big + "://x/", "BOOTIF=" + big, "needle.break=" + big, "needle.debug=" + big, "needle.media=" + big} {
		_, err := Parse(line)
		if err == nil || len(err.Error()) > 512 || !strings.Contains(err.Error(), "…") {
			t.Errorf("Parse(%.30q…) = %.200v (%d bytes), want a short error with the value cut", line, err, len(fmt.Sprint(err)))
		}
	}
}
