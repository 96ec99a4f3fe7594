package install

import "testing"

func TestWantsV6(t *testing.T) {
	for _, c := range []struct {
		urls []string
		want bool
	}{
		{nil, false},
		{[]string{"", ""}, false},
		{[]string{"http://10.0.2.2:8080/plans/${mac}.yaml"}, false},
		{[]string{"https://prov.example.net/p.yaml", "http://10.1.1.1/report"}, false},
		{[]string{"http://[::ffff:10.0.0.1]/p.yaml"}, false},
		{[]string{"http://10.0.2.2/p.yaml", "http://[2001:db8::7]:8080/report"}, true},
		{[]string{"http://[fe80::1%25eth0]/p.yaml"}, true},
		{[]string{"http://bad host/%zz"}, true},
	} {
		if got := wantsV6(c.urls...); got != c.want {
			t.Errorf("wantsV6(%q) = %v, want %v", c.urls, got, c.want)
		}
	}
}
