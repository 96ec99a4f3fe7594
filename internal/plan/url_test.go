package plan

import (
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestURLVars(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:AB:CD:EF")
	got := URLVars(mac, " CZ1234 ", "5C0A7F4E-6F5E-4A8E-9C3B-2F1D0E9B8A71", "")
	want := map[string]string{
		"mac":        "52:54:00:ab:cd:ef",
		"mac_hyphen": "52-54-00-ab-cd-ef",
		"serial":     "CZ1234",
		"uuid":       "5c0a7f4e-6f5e-4a8e-9c3b-2f1d0e9b8a71",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("URLVars (-want +got):\n%s", diff)
	}
}

func TestExpandURL(t *testing.T) {
	vars := map[string]string{
		"mac":        "52:54:00:ab:cd:ef",
		"mac_hyphen": "52-54-00-ab-cd-ef",
		"serial":     "SN 12/34&x",
		"uuid":       "5c0a7f4e-6f5e-4a8e-9c3b-2f1d0e9b8a71",
		"hostname":   "db-07",
	}
	tests := []struct {
		tmpl, want, wantErr string
	}{
		{"http://10.0.2.2:8080/plans/${mac}.yaml", "http://10.0.2.2:8080/plans/52:54:00:ab:cd:ef.yaml", ""},
		{"http://h/p/${mac_hyphen}/${hostname}", "http://h/p/52-54-00-ab-cd-ef/db-07", ""},
		{"http://h/s/${serial}.yaml", "http://h/s/SN%2012%2F34&x.yaml", ""},
		{"http://h/plan?serial=${serial}&uuid=${uuid}", "http://h/plan?serial=SN+12%2F34%26x&uuid=5c0a7f4e-6f5e-4a8e-9c3b-2f1d0e9b8a71", ""},
		{"http://h/$literal/${hostname}", "http://h/$literal/db-07", ""},
		{"http://h/no-vars", "http://h/no-vars", ""},
		{"http://h/${ip}", "", `plan url "http://h/${ip}": unknown or empty variable ${ip} (have: ${hostname} ${mac} ${mac_hyphen} ${serial} ${uuid})`},
		{"http://h/${mac", "", `plan url "http://h/${mac": unterminated ${`},
		{"http://h/${}", "", `plan url "http://h/${}": unknown or empty variable ${} (have: ${hostname} ${mac} ${mac_hyphen} ${serial} ${uuid})`},
	}
	for _, tt := range tests {
		t.Run(tt.tmpl, func(t *testing.T) {
			got, err := ExpandURL(tt.tmpl, vars)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tt.want || gotErr != tt.wantErr {
				t.Errorf("ExpandURL(%q) = %q, %q; want %q, %q", tt.tmpl, got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}

// A substituted value must never move the URL to another host: a DHCP
// server answers the hostname and DMI serials are whatever the vendor
// wrote.
func TestExpandURLHostUnchangeable(t *testing.T) {
	for _, tc := range []struct {
		tmpl, hostname, wantHost, wantErr string
	}{
		{"http://prov.example/${hostname}.yaml", "evil.example@x", "prov.example", ""},
		{"http://prov.example/${hostname}.yaml", "/../@evil.example:80/", "prov.example", ""},
		{"http://prov.example/p?h=${hostname}", "x#@evil.example/", "prov.example", ""},
		{"http://plans-${hostname}.example/p.yaml", "web-01", "plans-web-01.example", ""},
		{"http://${hostname}.plans.example/p.yaml", "evil.example/x?", "", "may only hold letters, digits and '-'"},
		{"http://${hostname}.plans.example/p.yaml", "evil.example:80@x", "", "may only hold letters, digits and '-'"},
		{"http://${hostname}/p.yaml", "evil.example", "", "may only hold letters, digits and '-'"},
		{"http://u:${hostname}@prov.example/p.yaml", "x@evil.example", "", "may only hold letters, digits and '-'"},
	} {
		got, err := ExpandURL(tc.tmpl, map[string]string{"hostname": tc.hostname})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ExpandURL(%q, hostname=%q) = %q, %v; want an error containing %q", tc.tmpl, tc.hostname, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ExpandURL(%q, hostname=%q) = %v", tc.tmpl, tc.hostname, err)
			continue
		}
		u, err := url.Parse(got)
		if err != nil || u.Host != tc.wantHost || u.User != nil {
			t.Errorf("ExpandURL(%q, hostname=%q) = %q (host %q, user %v), want host %q", tc.tmpl, tc.hostname, got, u.Host, u.User, tc.wantHost)
		}
	}
}
