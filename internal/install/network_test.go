package install

import (
	"testing"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/sysroot"
)

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

// TestNetworkConfig: the configuration the boot and `needle net up` bring
// up comes from the command line alike.
func TestNetworkConfig(t *testing.T) {
	c, err := cmdline.Parse("BOOTIF=01-52-54-00-12-34-56 ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off vlan=eth0.7:eth0 needle.report=http://[2001:db8::7]/r")
	if err != nil {
		t.Fatal(err)
	}
	root := sysroot.Root{Sys: "/t/sys"}
	got := NetworkConfig(c, root, nil)
	if got.BootIF.String() != "52:54:00:12:34:56" || len(got.IP) != 1 || len(got.VLAN) != 1 || got.Root != root || got.V6NoWait {
		t.Errorf("NetworkConfig = %+v", got)
	}
	c.Report = "http://10.0.2.2/r"
	if !NetworkConfig(c, root, nil).V6NoWait {
		t.Error("no IPv6 literal to reach, yet the config waits for IPv6")
	}
}
