package network

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/rfc1035label"
	"github.com/vishvananda/netlink"
)

func ack(t *testing.T, opts ...dhcpv4.Option) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeAck))
	if err != nil {
		t.Fatal(err)
	}
	m.YourIPAddr = net.IPv4(10, 1, 2, 3).To4()
	for _, o := range opts {
		m.UpdateOption(o)
	}
	return m
}

func TestLeaseInfo(t *testing.T) {
	for _, tc := range []struct {
		name string
		ack  []dhcpv4.Option
		want Info
		err  string
	}{{
		name: "router only, defaults for T1 T2, classful mask",
		ack: []dhcpv4.Option{
			dhcpv4.OptRouter(net.IPv4(10, 1, 2, 1)), dhcpv4.OptServerIdentifier(net.IPv4(10, 1, 2, 1)),
			dhcpv4.OptIPAddressLeaseTime(time.Hour),
		},
		want: Info{Method: MethodDHCP, Addr: pfx("10.1.2.3/8"), Broadcast: adr("10.255.255.255"), Gateway: adr("10.1.2.1"),
			Routes: []Route{{Dst: pfx("0.0.0.0/0"), Gateway: adr("10.1.2.1")}},
			Server: adr("10.1.2.1"), Lease: time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second},
	}, {
		name: "classless routes override the router option (RFC 3442)",
		ack: []dhcpv4.Option{
			dhcpv4.OptSubnetMask(net.CIDRMask(24, 32)),
			dhcpv4.OptRouter(net.IPv4(10, 1, 2, 254)),
			dhcpv4.OptClasslessStaticRoute(
				&dhcpv4.Route{Dest: cidr("172.16.0.0/12"), Router: mustIP("10.1.2.9")},
				&dhcpv4.Route{Dest: cidr("0.0.0.0/0"), Router: mustIP("10.1.2.1")},
				&dhcpv4.Route{Dest: cidr("10.9.0.0/16"), Router: mustIP("0.0.0.0")},
			),
			dhcpv4.OptBroadcastAddress(net.IPv4(10, 1, 2, 127)),
			dhcpv4.OptIPAddressLeaseTime(600 * time.Second), dhcpv4.OptRenewTimeValue(100 * time.Second), dhcpv4.OptRebindingTimeValue(500 * time.Second),
			dhcpv4.OptDNS(net.IPv4(10, 1, 2, 53)), dhcpv4.OptDomainName("lab.example"),
			dhcpv4.OptDomainSearch(&rfc1035label.Labels{Labels: []string{"a.example", "b.example"}}),
			dhcpv4.OptHostName("n1"), dhcpv4.OptNTPServers(net.IPv4(10, 1, 2, 123)),
			dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x23, 0x28}),
		},
		want: Info{Method: MethodDHCP, Addr: pfx("10.1.2.3/24"), Broadcast: adr("10.1.2.127"), Gateway: adr("10.1.2.1"),
			Routes: []Route{
				{Dst: pfx("172.16.0.0/12"), Gateway: adr("10.1.2.9")},
				{Dst: pfx("0.0.0.0/0"), Gateway: adr("10.1.2.1")},
				{Dst: pfx("10.9.0.0/16")},
			},
			DNS: []netip.Addr{adr("10.1.2.53")}, Search: []string{"a.example", "b.example"}, Domain: "lab.example",
			Hostname: "n1", NTP: []netip.Addr{adr("10.1.2.123")}, MTU: 9000,
			Lease: 600 * time.Second, T1: 100 * time.Second, T2: 500 * time.Second},
	}, {
		name: "non-contiguous mask",
		ack:  []dhcpv4.Option{dhcpv4.OptSubnetMask(net.IPv4Mask(255, 0, 255, 0))},
		err:  "option 1: netmask 255.0.255.0 is not contiguous",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := leaseInfo(ack(t, tc.ack...))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("leaseInfo = %+v, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpAddrs); diff != "" {
				t.Errorf("leaseInfo (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("no yiaddr", func(t *testing.T) {
		m := ack(t)
		m.YourIPAddr = net.IPv4zero
		if _, err := leaseInfo(m); err == nil || !strings.Contains(err.Error(), "no address") {
			t.Errorf("leaseInfo(yiaddr 0.0.0.0) error = %v, want no address", err)
		}
	})
}

func TestBondLink(t *testing.T) {
	idx := func(n string) (int, error) {
		if n == "eno1" {
			return 7, nil
		}
		return 0, net.UnknownNetworkError(n)
	}
	want := netlink.NewLinkBond(netlink.LinkAttrs{Name: "bond0", MTU: 9000})
	want.Mode = netlink.BOND_MODE_802_3AD
	want.Miimon = 100
	want.XmitHashPolicy = netlink.BOND_XMIT_HASH_POLICY_LAYER3_4
	want.LacpRate = netlink.BOND_LACP_RATE_FAST
	want.Primary = 7
	want.ArpIpTargets = []net.IP{mustIP("10.0.0.1"), mustIP("10.0.0.2")}
	want.AdSelect = netlink.BOND_AD_SELECT_BANDWIDTH
	want.UpDelay, want.DownDelay = 200, 200
	got, err := bondLink(Bond{Name: "bond0", MTU: 9000, Options: []BondOption{
		{"mode", "4"}, {"miimon", "100"}, {"xmit_hash_policy", "layer3+4"}, {"lacp_rate", "fast"},
		{"primary", "eno1"}, {"arp_ip_target", "10.0.0.1;10.0.0.2"}, {"ad_select", "bandwidth"},
		{"updelay", "200"}, {"downdelay", "200"},
	}}, idx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(netlink.LinkAttrs{})); diff != "" {
		t.Errorf("bondLink (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		opt  BondOption
		want string
	}{
		{BondOption{"mode", "fastest"}, "bond bond0: option mode=fastest: want one of balance-rr, active-backup"},
		{BondOption{"miimon", "-1"}, "option miimon=-1: want a non-negative number"},
		{BondOption{"arp_ip_target", "10.0.0.1;x"}, `option arp_ip_target=10.0.0.1;x: "x" is not an IPv4 address`},
		{BondOption{"primary", "eno9"}, "option primary=eno9: unknown network eno9"},
		{BondOption{"turbo", "1"}, "option turbo=1: unknown bonding option"},
	} {
		t.Run(tc.opt.Name+"="+tc.opt.Value, func(t *testing.T) {
			_, err := bondLink(Bond{Name: "bond0", Options: []BondOption{tc.opt}}, idx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("bondLink(%v) error = %v, want %q", tc.opt, err, tc.want)
			}
		})
	}
}

func TestResolvConf(t *testing.T) {
	got := string(ResolvConf("DHCP lease on eth0 from 10.0.0.1", []netip.Addr{adr("10.0.0.53"), adr("2001:db8::53")}, []string{"lab.example", "example"}))
	want := "# written by needle: DHCP lease on eth0 from 10.0.0.1\nsearch lab.example example\nnameserver 10.0.0.53\nnameserver 2001:db8::53\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ResolvConf (-want +got):\n%s", diff)
	}
}

func TestBroadcastOf(t *testing.T) {
	for in, want := range map[string]string{"10.1.2.3/24": "10.1.2.255", "10.1.2.3/8": "10.255.255.255", "192.168.1.5/30": "192.168.1.7", "10.0.0.1/31": "invalid IP", "2001:db8::1/64": "invalid IP"} {
		if got := broadcastOf(pfx(in)).String(); got != want {
			t.Errorf("broadcastOf(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestSummary(t *testing.T) {
	in := Info{
		Interface: "eno1", MAC: mac("52:54:00:12:34:56"), Method: MethodDHCP,
		Addr: pfx("10.1.2.3/24"), Broadcast: adr("10.1.2.255"), Gateway: adr("10.1.2.1"),
		Routes: []Route{{Dst: pfx("0.0.0.0/0"), Gateway: adr("10.1.2.1")}, {Dst: pfx("10.9.0.0/16")}},
		DNS:    []netip.Addr{adr("10.1.2.53")}, Search: []string{"lab.example"}, Hostname: "n1", Domain: "lab.example",
		MTU: 1500, Server: adr("10.1.2.1"), Lease: time.Hour, T1: 30 * time.Minute,
		V6: []netip.Prefix{pfx("fe80::5054:ff:fe12:3456/64")},
	}
	want := `interface  eno1 (52:54:00:12:34:56)
method     dhcp from 10.1.2.1, lease 1h0m0s (renew at 30m0s)
address    10.1.2.3/24 brd 10.1.2.255
gateway    10.1.2.1
route      10.9.0.0/16 via on-link
dns        10.1.2.53
search     lab.example
hostname   n1
domain     lab.example
mtu        1500
ipv6       fe80::5054:ff:fe12:3456/64
`
	if diff := cmp.Diff(want, in.Summary()); diff != "" {
		t.Errorf("Summary (-want +got):\n%s", diff)
	}
}
