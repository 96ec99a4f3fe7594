package network

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func adr(s string) netip.Addr   { return netip.MustParseAddr(s) }
func mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// ipCases are the ip= forms of nfsroot.rst and dracut.cmdline(7); they
// also seed FuzzParseIP.
var ipCases = []struct {
	in   string
	want IPConfig
}{
	{"dhcp", IPConfig{Method: MethodDHCP}},
	{"on", IPConfig{Method: MethodDHCP}},
	{"any", IPConfig{Method: MethodDHCP}},
	{"single-dhcp", IPConfig{Method: MethodDHCP}},
	{"bootp", IPConfig{Method: MethodDHCP}},
	{"both", IPConfig{Method: MethodDHCP}},
	{"off", IPConfig{Method: MethodOff}},
	{"none", IPConfig{Method: MethodOff}},
	{"dhcp6", IPConfig{Method: MethodDHCP6}},
	{"auto6", IPConfig{Method: MethodAuto6}},
	{"either6", IPConfig{Method: MethodAuto6}},
	{"link6", IPConfig{Method: MethodLink6}},
	{"dhcp,1,node-id", IPConfig{Method: MethodDHCP, ClientID: []byte("\x01node-id")}},
	{"dhcp,0x00,a,b", IPConfig{Method: MethodDHCP, ClientID: []byte("\x00a,b")}},
	{"eth0:dhcp", IPConfig{Method: MethodDHCP, Device: "eth0"}},
	{"ens3:auto6", IPConfig{Method: MethodAuto6, Device: "ens3"}},
	{"eth0:dhcp:9000", IPConfig{Method: MethodDHCP, Device: "eth0", MTU: 9000}},
	{"eth0:dhcp:9000:52:54:00:12:34:56", IPConfig{Method: MethodDHCP, Device: "eth0", MTU: 9000, MAC: mac("52:54:00:12:34:56")}},
	{"eth0:dhcp::52-54-00-12-34-56", IPConfig{Method: MethodDHCP, Device: "eth0", MAC: mac("52:54:00:12:34:56")}},
	{"eth0.100:dhcp", IPConfig{Method: MethodDHCP, Device: "eth0.100"}},
	// The kernel's full form.
	{"10.0.0.5:10.0.0.1:10.0.0.254:255.255.255.0:node1:eth0:off:10.0.0.53:10.0.0.54:10.0.0.123", IPConfig{
		Method: MethodStatic, Device: "eth0", Addr: pfx("10.0.0.5/24"), Peer: adr("10.0.0.1"), Gateway: adr("10.0.0.254"),
		Hostname: "node1", DNS: []netip.Addr{adr("10.0.0.53"), adr("10.0.0.54")}, NTP: []netip.Addr{adr("10.0.0.123")}}},
	{"10.0.0.5::10.0.0.254:24::eth0:none", IPConfig{Method: MethodStatic, Device: "eth0", Addr: pfx("10.0.0.5/24"), Gateway: adr("10.0.0.254")}},
	// Classful defaults (ipconfig.c ic_defaults) and an empty autoconf.
	{"10.0.0.5", IPConfig{Method: MethodStatic, Addr: pfx("10.0.0.5/8")}},
	{"172.16.1.5::::", IPConfig{Method: MethodStatic, Addr: pfx("172.16.1.5/16")}},
	{"192.168.1.5:::::eth0", IPConfig{Method: MethodStatic, Device: "eth0", Addr: pfx("192.168.1.5/24")}},
	{":::::eth0:dhcp", IPConfig{Method: MethodDHCP, Device: "eth0"}},
	{"::::node9::dhcp", IPConfig{Method: MethodDHCP, Hostname: "node9"}},
	{"::::node9.lab.example", IPConfig{Method: MethodDHCP, Hostname: "node9.lab.example"}},
	{"10.0.0.5:::::eth0:dhcp", IPConfig{Method: MethodDHCP, Device: "eth0", Addr: pfx("10.0.0.5/8")}},
	// dracut's [:[<mtu>][:<macaddr>]] and [:[<dns1>][:<dns2>]] tails.
	{"10.0.0.5::10.0.0.1:255.255.255.0:h:eth0:none:1500:52:54:00:12:34:56", IPConfig{
		Method: MethodStatic, Device: "eth0", Addr: pfx("10.0.0.5/24"), Gateway: adr("10.0.0.1"), Hostname: "h", MTU: 1500, MAC: mac("52:54:00:12:34:56")}},
	{"10.0.0.5::10.0.0.1:24:h:eth0:none:9000:10.0.0.53", IPConfig{
		Method: MethodStatic, Device: "eth0", Addr: pfx("10.0.0.5/24"), Gateway: adr("10.0.0.1"), Hostname: "h", MTU: 9000, DNS: []netip.Addr{adr("10.0.0.53")}}},
	{"10.0.0.5::10.0.0.1:24:h:eth0:none::52-54-00-12-34-56", IPConfig{
		Method: MethodStatic, Device: "eth0", Addr: pfx("10.0.0.5/24"), Gateway: adr("10.0.0.1"), Hostname: "h", MAC: mac("52:54:00:12:34:56")}},
	// Bracketed IPv6.
	{"[2001:db8::5]::[2001:db8::1]:64:h6:eth0:none", IPConfig{Method: MethodStatic, Device: "eth0", Addr: pfx("2001:db8::5/64"), Gateway: adr("2001:db8::1"), Hostname: "h6"}},
	{"[2001:db8::5]:::::eth0:none", IPConfig{Method: MethodStatic, Device: "eth0", Addr: pfx("2001:db8::5/64")}},
	{"[2001:db8::5]::[2001:db8::1]:48::eth0:none:[2001:db8::53]:[2001:db8::54]", IPConfig{
		Method: MethodStatic, Device: "eth0", Addr: pfx("2001:db8::5/48"), Gateway: adr("2001:db8::1"),
		DNS: []netip.Addr{adr("2001:db8::53"), adr("2001:db8::54")}}},
	{"[2001:db8::5]:[2001:db8::9]::128::eth0:dhcp6", IPConfig{Method: MethodDHCP6, Device: "eth0", Addr: pfx("2001:db8::5/128"), Peer: adr("2001:db8::9")}},
}

func TestParseIP(t *testing.T) {
	for _, tc := range ipCases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseIP(tc.in)
			if err != nil {
				t.Fatalf("ParseIP(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got, cmpAddrs); diff != "" {
				t.Errorf("ParseIP(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// ipErrors: each error names the field and what is wrong with it.
var ipErrors = []struct{ in, want string }{
	{"", `ip=: empty value`},
	{"bogus", `ip="bogus": field autoconf "bogus": unknown autoconf method`},
	{"eth0", `ip="eth0": field autoconf "eth0": unknown autoconf method`},
	{"eth0:bogus", `ip="eth0:bogus": field autoconf "bogus": unknown autoconf method`},
	{"eth0:off", `ip="eth0:off": field autoconf "off": off on an interface without an address configures nothing`},
	{"eth0:dhcp:70000", `ip="eth0:dhcp:70000": field mtu "70000": MTU out of range 68-65535`},
	{"eth0:dhcp:1500:nomac", `ip="eth0:dhcp:1500:nomac": field macaddr "nomac": not an Ethernet MAC`},
	{"eth0:dhcp:1500:52:54:00:12:34:56:77", `ip="eth0:dhcp:1500:52:54:00:12:34:56:77": field macaddr`},
	{"way-too-long-interface:dhcp", `field interface "way-too-long-interface": interface names are 1-15 bytes`},
	{"10.0.0.300::::", `field client-ip "10.0.0.300": not an IP address`},
	{"10.0.0.5:x", `field server-ip "x": not an IP address`},
	{"10.0.0.5::10.0.0.1:255.0.255.0", `field netmask "255.0.255.0": netmask is not contiguous`},
	{"10.0.0.5::10.0.0.1:33", `field netmask "33": prefix length out of range 0-32`},
	{"[2001:db8::5]::[2001:db8::1]:255.255.255.0", `field netmask "255.255.255.0": dotted-quad netmask for an IPv6 address`},
	{"10.0.0.5::[2001:db8::1]", `field gw-ip "2001:db8::1": address family differs from client-ip 10.0.0.5`},
	{"10.0.0.5:::24:bad/host", `field hostname "bad/host": byte '/' not allowed in a hostname`},
	{"10.0.0.5:::24::this-is-too-long0:none", `field device "this-is-too-long0": interface names are 1-15 bytes`},
	{":::::eth0:off", `field client-ip "": required when autoconf is "off"`},
	{":::24::eth0:dhcp", `field netmask "24": given without client-ip`},
	{"10.0.0.5:::::eth0:ibft", `field autoconf "ibft": iBFT is not supported`},
	{"10.0.0.5:::::eth0:rarp", `field autoconf "rarp": RARP is not supported`},
	{"10.0.0.5:::::eth0:none:notanip", `field dns0-ip "notanip": neither an address nor an MTU`},
	{"10.0.0.5:::::eth0:none:10.0.0.1:zz", `field dns1-ip "zz": neither an address nor a MAC`},
	{"10.0.0.5:::::eth0:none:10.0.0.1:10.0.0.2:x", `field ntp0-ip "x": not an IP address`},
	{"10.0.0.5:::::eth0:none:1.1.1.1:2.2.2.2:3.3.3.3:4.4.4.4", `too many fields (11, at most 10)`},
	{"[2001:db8::5", `ip="[2001:db8::5": unclosed '['`},
	{"2001:db8::5]", `']' without '['`},
	{"[fe80::1%eth0]:::::eth0:none", `field client-ip "fe80::1%eth0": zoned address not allowed`},
	{"dhcp,x,foo", `field autoconf "dhcp,x,foo": client-id-type "x": want a number 0-255`},
	{"dhcp,1", `want dhcp,<client-id-type>,<client-id-value>`},
}

func TestParseIPErrors(t *testing.T) {
	for _, tc := range ipErrors {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseIP(tc.in)
			if err == nil {
				t.Fatalf("ParseIP(%q) = %+v, want an error saying %q", tc.in, got, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseIP(%q) error = %q, want it to contain %q", tc.in, err, tc.want)
			}
		})
	}
}

// FuzzParseIP checks ParseIP never panics, is deterministic, and that what
// it accepts is self-consistent. Seeds: testdata/fuzz/FuzzParseIP plus the
// table cases.
func FuzzParseIP(f *testing.F) {
	for _, tc := range ipCases {
		f.Add(tc.in)
	}
	for _, tc := range ipErrors {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseIP(s)
		c2, err2 := ParseIP(s)
		if (err == nil) != (err2 == nil) || !cmp.Equal(c, c2, cmpAddrs) {
			t.Fatalf("ParseIP(%q) is not deterministic", s)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "ip=") {
				t.Errorf("ParseIP(%q) error %q does not start with ip=", s, err)
			}
			return
		}
		if _, ok := methodWordsByMethod()[c.Method]; !ok {
			t.Errorf("ParseIP(%q).Method = %q, not a known method", s, c.Method)
		}
		if c.Method == MethodStatic && !c.Addr.IsValid() {
			t.Errorf("ParseIP(%q): static without an address", s)
		}
		if c.Addr.IsValid() && (c.Addr.Bits() < 0 || c.Addr.Bits() > c.Addr.Addr().BitLen()) {
			t.Errorf("ParseIP(%q).Addr = %v: bad prefix length", s, c.Addr)
		}
		if c.Device != "" && checkIfName(c.Device) != nil {
			t.Errorf("ParseIP(%q).Device = %q: not an interface name", s, c.Device)
		}
		if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
			t.Errorf("ParseIP(%q).MTU = %d", s, c.MTU)
		}
		if c.MAC != nil && len(c.MAC) != 6 {
			t.Errorf("ParseIP(%q).MAC = %v", s, c.MAC)
		}
		for _, a := range append(append([]netip.Addr{c.Peer, c.Gateway}, c.DNS...), c.NTP...) {
			if a.Zone() != "" || a.Is4In6() {
				t.Errorf("ParseIP(%q): address %v zoned or v4-mapped", s, a)
			}
		}
		if len(c.Hostname) > 64 {
			t.Errorf("ParseIP(%q).Hostname too long", s)
		}
	})
}

func methodWordsByMethod() map[Method]bool {
	m := map[Method]bool{MethodStatic: true}
	for _, v := range methodWords {
		m[v] = true
	}
	return m
}

// TestFuzzSeedsPresent keeps the checked-in corpus honest: every seed file
// is in the go test fuzz v1 format, and parses or fails without panicking.
func TestFuzzSeedsPresent(t *testing.T) {
	files, err := filepath.Glob("testdata/fuzz/FuzzParseIP/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds in testdata/fuzz/FuzzParseIP: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "go test fuzz v1\nstring(") {
			t.Errorf("%s: not a go test fuzz v1 string seed", f)
		}
	}
}

func TestParseVLAN(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want VLAN
		err  string
	}{
		{in: "eth0.100:eth0", want: VLAN{Name: "eth0.100", Parent: "eth0", ID: 100}},
		{in: "eth0.0100:eth0", want: VLAN{Name: "eth0.0100", Parent: "eth0", ID: 100}},
		{in: "vlan0100:eth0", want: VLAN{Name: "vlan0100", Parent: "eth0", ID: 100}},
		{in: "vlan5:bond0", want: VLAN{Name: "vlan5", Parent: "bond0", ID: 5}},
		{in: "eth0.100", err: `vlan="eth0.100": want <vlanname>:<phys>`},
		{in: "mgmt:eth0", err: `vlanname "mgmt": want vlan<ID> or <phys>.<ID>`},
		{in: "eth0.4095:eth0", err: `VLAN id 4095 out of range 1-4094`},
		{in: "vlan0:eth0", err: `VLAN id 0 out of range`},
		{in: "vlan+5:eth0", err: `want vlan<ID>`},
		{in: "eth0.5:this-is-too-long0", err: `phys "this-is-too-long0": interface names are 1-15 bytes`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseVLAN(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseVLAN(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseVLAN(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseVLAN(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseBond(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Bond
		err  string
	}{
		{in: "", want: Bond{Name: "bond0", Slaves: []string{"eth0", "eth1"}, Options: []BondOption{{"mode", "balance-rr"}}}},
		{in: "bond1", want: Bond{Name: "bond1", Slaves: []string{"eth0", "eth1"}, Options: []BondOption{{"mode", "balance-rr"}}}},
		{in: "bond0:eno1,eno2:mode=802.3ad,miimon=100,xmit_hash_policy=layer3+4:9000", want: Bond{
			Name: "bond0", Slaves: []string{"eno1", "eno2"}, MTU: 9000,
			Options: []BondOption{{"mode", "802.3ad"}, {"miimon", "100"}, {"xmit_hash_policy", "layer3+4"}}}},
		{in: "bond0:eno1,eno2::mode=active-backup:1500", want: Bond{
			Name: "bond0", Slaves: []string{"eno1", "eno2"}, MTU: 1500, Options: []BondOption{{"mode", "active-backup"}}}},
		{in: "bond0:eno1,eno2::9000", want: Bond{
			Name: "bond0", Slaves: []string{"eno1", "eno2"}, MTU: 9000, Options: []BondOption{{"mode", "balance-rr"}}}},
		{in: "bond0:eno1:mode=active-backup,arp_interval=100,arp_ip_target=10.0.0.1;10.0.0.2", want: Bond{
			Name: "bond0", Slaves: []string{"eno1"},
			Options: []BondOption{{"mode", "active-backup"}, {"arp_interval", "100"}, {"arp_ip_target", "10.0.0.1;10.0.0.2"}}}},
		{in: "bond0:eno1:mode", err: `option "mode": want name=value`},
		{in: "bond0:eno1:mode=1:nine", err: `mtu "nine": not a number`},
		{in: "bond0:eno1,:mode=1", err: `bondslave "": interface names are 1-15 bytes`},
		{in: "bond0:a:b:c:d:e", err: `want <bondname>`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseBond(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseBond(%q) = %+v, %v; want error containing %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseBond(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseBond(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// TestParseRefusesNonsense: values the kernel or the bonding driver would
// refuse later, or that configure nothing usable, are refused when the
// command line is read, naming the field.
func TestParseRefusesNonsense(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"255.255.255.255::1.1.1.1:8::eth0:off", "client-ip"},
		{"224.0.0.1::::::off", "client-ip"},
		{"127.0.0.1::::::off", "client-ip"},
		{"0.0.0.0:::255.0.0.0:::off", "client-ip"},
		{"10.0.0.255::10.0.0.1:255.255.255.0::eth0:off", "broadcast"},
		{"10.0.0.5::10.1.0.1:255.255.255.0::eth0:off", "not in 10.0.0.0/24"},
		{"10.0.0.5::10.0.0.255:255.255.255.0::eth0:off", "gw-ip"},
		{"10.0.0.5::" + strings.Repeat("9", 5000) + ":255.255.255.0::eth0:off", "…"},
	} {
		if got, err := ParseIP(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 512 {
			t.Errorf("ParseIP(%.60q) = %+v, %.300v; want a short error containing %q", tc.in, got, err, tc.want)
		}
	}
	for _, ok := range []string{"10.0.0.5::10.0.0.1:255.255.255.0::eth0:off", "192.168.1.10:::255.255.255.255::eth0:off", "10.0.0.5:::31::eth0:off"} {
		if _, err := ParseIP(ok); err != nil {
			t.Errorf("ParseIP(%q) = %v", ok, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"bond0:eth0,eth0", `bondslave "eth0" given twice`},
		{"bond0:eth0,eth1:mode=explode", `mode "explode"`},
		{"bond0:eth0,eth1:miimon=-1", `miimon "-1"`},
		{"bond0:eth0,eth1:updelay=x", `updelay "x"`},
		{"bond0:eth0,eth1:mode=1,mode=2", `option "mode" given twice`},
		{"bond0:bond0", `bondslave "bond0" is the bond itself`},
		{"bond0:eth0:mode=" + strings.Repeat("x", 5000), "…"},
	} {
		if got, err := ParseBond(tc.in); err == nil || !strings.Contains(err.Error(), tc.want) || len(err.Error()) > 512 {
			t.Errorf("ParseBond(%.60q) = %+v, %.300v; want a short error containing %q", tc.in, got, err, tc.want)
		}
	}
	for _, ok := range []string{"bond0:eno1,eno2:mode=4,miimon=0", "bond0:eno1:mode=balance-alb,downdelay=200"} {
		if _, err := ParseBond(ok); err != nil {
			t.Errorf("ParseBond(%q) = %v", ok, err)
		}
	}
}
