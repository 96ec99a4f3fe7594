package network

// Host-side tests in network namespaces: each test makes its own named
// namespaces (/var/run/netns/needle-test-…, what `ip netns add` makes), wires
// them with veth pairs through netlink (no iproute2 needed, so the same
// tests run inside the QEMU guest of TestQEMUNetns), runs
// insomniacslk/dhcp's server4 in the "server" namespace and Up in the
// "client" one (through Host.Netlink and Host.Enter), and removes
// everything in t.Cleanup. They need root (CI runs as root) and skip with
// the reason otherwise, unless NEEDLE_QEMU=required.
//
// Wiring (per test):
//
//	client ns                     server ns
//	c0 (fake /sys device) ── veth ── s0 10.77.1.1/24, DHCP server
//	c1                    ── veth ── s1 10.77.2.1/24, DHCP server (two-NIC tests)

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/server6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/needle-boot/needle/internal/testenv"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var cmpAddrs = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

// needRoot skips (or, with NEEDLE_QEMU=required, fails) without root.
func needRoot(t *testing.T) {
	t.Helper()
	testenv.Root(t, "creating network namespaces (CI runs these as root)")
}

var nsSeq atomic.Int64

// testNS is a network namespace the test owns.
type testNS struct {
	name string
	h    netns.NsHandle
	nl   *netlink.Handle
}

// newNS makes a named namespace as `ip netns add` does (unshare on a
// locked thread, bind-mount it under /var/run/netns) and deletes it when
// the test ends.
func newNS(t *testing.T, tag string) *testNS {
	t.Helper()
	name := fmt.Sprintf("needle-test-%d-%d-%s", os.Getpid(), nsSeq.Add(1), tag)
	var h netns.NsHandle
	err := func() error {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			return err
		}
		defer orig.Close()
		h, err = netns.NewNamed(name)
		if serr := netns.Set(orig); serr != nil {
			return errors.Join(err, serr) // the thread stays locked and dies
		}
		runtime.UnlockOSThread()
		return err
	}()
	if err != nil {
		t.Fatalf("netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	nl, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		t.Fatalf("netlink in %s: %v", name, err)
	}
	t.Cleanup(func() { nl.Close(); h.Close() })
	return &testNS{name: name, h: h, nl: nl}
}

// enter runs fn on a thread switched into the namespace. If switching back
// fails the thread stays locked, so the runtime retires it instead of
// reusing a thread in the wrong namespace.
func (n *testNS) enter(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(n.h); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return errors.Join(ferr, fmt.Errorf("back to the original namespace: %w", err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// veth joins cname in client to sname in server; the server end gets addr
// and is set up unless down.
func veth(t *testing.T, client, server *testNS, cname, sname, addr string, up bool) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: cname}, PeerName: sname, PeerNamespace: netlink.NsFd(server.h)}
	if err := client.nl.LinkAdd(v); err != nil {
		t.Fatalf("veth %s/%s: %v", cname, sname, err)
	}
	setup(t, server, sname, addr, up)
}

// setup gives a link in ns an address (if any) and sets it up (if up).
func setup(t *testing.T, ns *testNS, name, addr string, up bool) {
	t.Helper()
	l, err := ns.nl.LinkByName(name)
	if err != nil {
		t.Fatalf("%s in %s: %v", name, ns.name, err)
	}
	if addr != "" {
		a, err := netlink.ParseAddr(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := ns.nl.AddrAdd(l, a); err != nil {
			t.Fatalf("%s: add %s: %v", name, addr, err)
		}
	}
	if up {
		if err := ns.nl.LinkSetUp(l); err != nil {
			t.Fatalf("%s: set up: %v", name, err)
		}
	}
}

// fakeSysfs makes a /sys with class/net/NAME/device links for devs (the
// "physical" NICs) and plain entries for others.
func fakeSysfs(t *testing.T, devs []string, others ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range devs {
		dir := filepath.Join(root, "class/net", d)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../../../devices/pci0000:00/0000:00:03.0/virtio0", filepath.Join(dir, "device")); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range others {
		if err := os.MkdirAll(filepath.Join(root, "class/net", o), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// dhcpServer is a one-address DHCP server with configurable options.
type dhcpServer struct {
	ip     net.IP
	offer  net.IP
	mask   net.IPMask
	router net.IP
	dns    []net.IP
	domain string
	host   string
	mtu    uint16
	routes []*dhcpv4.Route
	lease  time.Duration
	mode   string // "", "silent", "nak"

	mu    sync.Mutex
	seen  []*dhcpv4.DHCPv4
	first time.Time // when the first message arrived
}

func (s *dhcpServer) set(f func(*dhcpServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *dhcpServer) received() []*dhcpv4.DHCPv4 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.seen)
}

func (s *dhcpServer) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	s.mu.Lock()
	s.seen = append(s.seen, m)
	if s.first.IsZero() {
		s.first = time.Now()
	}
	mode, dns := s.mode, slices.Clone(s.dns)
	s.mu.Unlock()
	if mode == "silent" || m.OpCode != dhcpv4.OpcodeBootRequest {
		return
	}
	r, err := dhcpv4.NewReplyFromRequest(m)
	if err != nil {
		return
	}
	r.YourIPAddr = s.offer
	r.UpdateOption(dhcpv4.OptServerIdentifier(s.ip))
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	case dhcpv4.MessageTypeRequest:
		if mode == "nak" {
			r.YourIPAddr = net.IPv4zero
			r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
			r.UpdateOption(dhcpv4.OptMessage("address in use"))
			conn.WriteTo(r.ToBytes(), peer)
			return
		}
		r.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	default:
		return
	}
	r.UpdateOption(dhcpv4.OptSubnetMask(s.mask))
	if s.router != nil {
		r.UpdateOption(dhcpv4.OptRouter(s.router))
	}
	if len(dns) > 0 {
		r.UpdateOption(dhcpv4.OptDNS(dns...))
	}
	if s.domain != "" {
		r.UpdateOption(dhcpv4.OptDomainName(s.domain))
	}
	if s.host != "" {
		r.UpdateOption(dhcpv4.OptHostName(s.host))
	}
	if s.mtu != 0 {
		r.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{byte(s.mtu >> 8), byte(s.mtu)}))
	}
	if len(s.routes) > 0 {
		r.UpdateOption(dhcpv4.OptClasslessStaticRoute(s.routes...))
	}
	lease := s.lease
	if lease == 0 {
		lease = time.Hour
	}
	r.UpdateOption(dhcpv4.OptIPAddressLeaseTime(lease))
	conn.WriteTo(r.ToBytes(), peer)
}

// serve starts s on iface in ns until the test ends.
func (s *dhcpServer) serve(t *testing.T, ns *testNS, iface string) {
	t.Helper()
	var srv *server4.Server
	err := ns.enter(func() error {
		var err error
		srv, err = server4.NewServer(iface, &net.UDPAddr{Port: dhcpv4.ServerPort}, s.handle)
		return err
	})
	if err != nil {
		t.Fatalf("dhcp server on %s in %s: %v", iface, ns.name, err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
}

func mustIP(s string) net.IP { return net.ParseIP(s).To4() }

func cidr(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// tlog routes slog to t.Log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// hostnames records Sethostname calls.
type hostnames struct {
	mu    sync.Mutex
	names []string
}

func (h *hostnames) set(n string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.names = append(h.names, n)
	return nil
}

func (h *hostnames) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.names)
}

// clientConfig is a Config for Up in ns with short bounds.
func clientConfig(t *testing.T, ns *testNS, h *hostnames) Config {
	return Config{
		CarrierTimeout: 2 * time.Second,
		LeaseTimeout:   3 * time.Second,
		V6Timeout:      100 * time.Millisecond,
		ResolvConf:     filepath.Join(t.TempDir(), "etc/resolv.conf"),
		Root:           sysroot.Root{Sys: fakeSysfs(t, nil, "lo")},
		Log:            slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Host:           Host{Netlink: ns.nl, Enter: ns.enter, Sethostname: h.set},
	}
}

func upT(t *testing.T, cfg Config) (*State, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := Up(ctx, cfg)
	if st != nil {
		t.Cleanup(func() { st.Close() })
	}
	return st, err
}

func linkAddrs(t *testing.T, ns *testNS, name string, family int) []string {
	t.Helper()
	l, err := ns.nl.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	as, err := ns.nl.AddrList(l, family)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		s := a.IPNet.String()
		if a.Broadcast != nil {
			s += " brd " + a.Broadcast.String()
		}
		out = append(out, s)
	}
	return out
}

func linkRoutes(t *testing.T, ns *testNS, name string) []string {
	t.Helper()
	l, err := ns.nl.LinkByName(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rs, err := ns.nl.RouteList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		dst := "default"
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			dst = r.Dst.String()
		}
		s := dst
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		if r.Protocol == unix.RTPROT_KERNEL {
			s += " proto kernel"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestNetnsLeaseApplied(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli, srv := newNS(t, "cli"), newNS(t, "srv")
	veth(t, cli, srv, "c0", "s0", "10.77.1.1/24", true)
	// A veth the sysfs says is not a device: it must be left alone.
	veth(t, cli, srv, "c9", "s9", "", true)
	s := &dhcpServer{
		ip: mustIP("10.77.1.1"), offer: mustIP("10.77.1.50"), mask: net.CIDRMask(24, 32),
		router: mustIP("10.77.1.254"), // ignored: option 121 is present (RFC 3442)
		dns:    []net.IP{mustIP("10.77.1.53"), mustIP("10.77.1.54")},
		domain: "lab.example", host: "node7", mtu: 1400,
		routes: []*dhcpv4.Route{
			{Dest: cidr("0.0.0.0/0"), Router: mustIP("10.77.1.1")},
			{Dest: cidr("192.168.100.0/24"), Router: mustIP("10.77.1.2")},
			{Dest: cidr("10.99.0.0/16"), Router: net.IPv4zero.To4()},
		},
	}
	s.serve(t, srv, "s0")

	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.Root.Sys = fakeSysfs(t, []string{"c0"}, "lo", "c9")
	cfg.V6Timeout = 10 * time.Second // link-local DAD takes 1 s, much longer in a loaded TCG guest
	st, err := upT(t, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}

	l, _ := cli.nl.LinkByName("c0")
	want := Info{
		Interface: "c0", MAC: l.Attrs().HardwareAddr, Method: MethodDHCP,
		Addr:      netip.MustParsePrefix("10.77.1.50/24"),
		Broadcast: netip.MustParseAddr("10.77.1.255"),
		Gateway:   netip.MustParseAddr("10.77.1.1"),
		Routes: []Route{
			{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.77.1.1")},
			{Dst: netip.MustParsePrefix("192.168.100.0/24"), Gateway: netip.MustParseAddr("10.77.1.2")},
			{Dst: netip.MustParsePrefix("10.99.0.0/16")},
		},
		DNS:      []netip.Addr{netip.MustParseAddr("10.77.1.53"), netip.MustParseAddr("10.77.1.54")},
		Search:   []string{"lab.example"},
		Hostname: "node7", Domain: "lab.example", MTU: 1400,
		Server: netip.MustParseAddr("10.77.1.1"),
		Lease:  time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second,
	}
	got := st.Info
	if got.Obtained.IsZero() {
		t.Errorf("Obtained is zero")
	}
	var ll bool
	for _, p := range got.V6 {
		ll = ll || p.Addr().IsLinkLocalUnicast()
	}
	if !ll {
		t.Errorf("V6 = %v, want an fe80:: link-local address", got.V6)
	}
	if diff := cmp.Diff(want, got, cmpAddrs, cmpopts.IgnoreFields(Info{}, "Obtained", "V6")); diff != "" {
		t.Errorf("State (-want +got):\n%s", diff)
	}

	// What the kernel holds in the client namespace.
	if diff := cmp.Diff([]string{"10.77.1.50/24 brd 10.77.1.255"}, linkAddrs(t, cli, "c0", netlink.FAMILY_V4)); diff != "" {
		t.Errorf("c0 addresses (-want +got):\n%s", diff)
	}
	wantRoutes := []string{"10.77.1.0/24 proto kernel", "10.99.0.0/16", "192.168.100.0/24 via 10.77.1.2", "default via 10.77.1.1"}
	if diff := cmp.Diff(wantRoutes, linkRoutes(t, cli, "c0")); diff != "" {
		t.Errorf("c0 routes (-want +got):\n%s", diff)
	}
	if l, _ := cli.nl.LinkByName("c0"); l.Attrs().MTU != 1400 {
		t.Errorf("c0 MTU = %d, want 1400", l.Attrs().MTU)
	}
	if as := linkAddrs(t, cli, "c9", netlink.FAMILY_V4); len(as) != 0 {
		t.Errorf("c9 (no device in sysfs) got addresses %v", as)
	}
	if l, _ := cli.nl.LinkByName("c9"); l.Attrs().RawFlags&unix.IFF_UP != 0 {
		t.Errorf("c9 (no device in sysfs) was set up")
	}
	b, err := os.ReadFile(cfg.ResolvConf)
	if err != nil {
		t.Fatal(err)
	}
	wantResolv := "# written by needle: DHCP lease on c0 from 10.77.1.1\nsearch lab.example\nnameserver 10.77.1.53\nnameserver 10.77.1.54\n"
	if diff := cmp.Diff(wantResolv, string(b)); diff != "" {
		t.Errorf("resolv.conf (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"node7"}, hn.got()); diff != "" {
		t.Errorf("Sethostname calls (-want +got):\n%s", diff)
	}

	// What the server saw: our vendor class, client id and request list.
	seen := s.received()
	if len(seen) < 2 {
		t.Fatalf("server saw %d messages, want DISCOVER and REQUEST", len(seen))
	}
	for _, m := range seen {
		if vc := m.ClassIdentifier(); vc != "needle" {
			t.Errorf("%s vendor class = %q, want needle", m.MessageType(), vc)
		}
		if id := m.Options.Get(dhcpv4.OptionClientIdentifier); string(id) != string(append([]byte{1}, l.Attrs().HardwareAddr...)) {
			t.Errorf("%s client id = % x, want 01 + MAC", m.MessageType(), id)
		}
		for _, o := range []dhcpv4.OptionCode{dhcpv4.OptionClasslessStaticRoute, dhcpv4.OptionInterfaceMTU, dhcpv4.OptionHostName, dhcpv4.OptionDomainNameServer} {
			if !m.ParameterRequestList().Has(o) {
				t.Errorf("%s does not request %s", m.MessageType(), o)
			}
		}
	}
}

// twoNICs wires c0/s0 (10.77.1.0/24) and c1/s1 (10.77.2.0/24) with a
// server on each, offering .50 of its subnet.
func twoNICs(t *testing.T) (cli *testNS, s0, s1 *dhcpServer) {
	cli, srv := newNS(t, "cli"), newNS(t, "srv")
	veth(t, cli, srv, "c0", "s0", "10.77.1.1/24", true)
	veth(t, cli, srv, "c1", "s1", "10.77.2.1/24", true)
	s0 = &dhcpServer{ip: mustIP("10.77.1.1"), offer: mustIP("10.77.1.50"), mask: net.CIDRMask(24, 32)}
	s1 = &dhcpServer{ip: mustIP("10.77.2.1"), offer: mustIP("10.77.2.50"), mask: net.CIDRMask(24, 32)}
	s0.serve(t, srv, "s0")
	s1.serve(t, srv, "s1")
	return cli, s0, s1
}

func TestNetnsBootIFPreferred(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli, s0, s1 := twoNICs(t)
	c1, _ := cli.nl.LinkByName("c1")
	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.Root.Sys = fakeSysfs(t, []string{"c0", "c1"})
	cfg.BootIF = c1.Attrs().HardwareAddr
	st, err := upT(t, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if st.Interface != "c1" || st.Addr != netip.MustParsePrefix("10.77.2.50/24") {
		t.Errorf("got %s %s, want the BOOTIF NIC c1 with 10.77.2.50/24", st.Interface, st.Addr)
	}
	// BOOTIF first: the other NIC never even asked.
	if n := len(s0.received()); n != 0 {
		t.Errorf("server on c0's link saw %d messages, want 0 (BOOTIF's NIC goes first)", n)
	}
	if n := len(s1.received()); n < 2 {
		t.Errorf("server on c1's link saw %d messages, want DISCOVER and REQUEST", n)
	}
	if as := linkAddrs(t, cli, "c0", netlink.FAMILY_V4); len(as) != 0 {
		t.Errorf("c0 got addresses %v, want none", as)
	}
}

func TestNetnsFallbackAndFirstLeaseWins(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli, s0, s1 := twoNICs(t)
	s1.set(func(s *dhcpServer) { s.mode = "silent" })
	c1, _ := cli.nl.LinkByName("c1")
	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.Interfaces = []string{"c0", "c1"} // veths, named: used without a device
	cfg.BootIF = c1.Attrs().HardwareAddr  // the BOOTIF NIC's server is silent
	cfg.LeaseTimeout = 1500 * time.Millisecond
	start := time.Now()
	st, err := upT(t, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("lease after %s", time.Since(start))
	if st.Interface != "c0" || st.Addr != netip.MustParsePrefix("10.77.1.50/24") {
		t.Errorf("got %s %s, want c0 with 10.77.1.50/24 after BOOTIF's c1 got no offer", st.Interface, st.Addr)
	}
	if len(s0.received()) < 2 {
		t.Errorf("server on c0's link saw %v, want DISCOVER and REQUEST", s0.received())
	}
}

func TestNetnsNoLease(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		mode string
		want []string
	}{
		{"silent", []string{"no DHCP lease within 1.5s on any NIC tried: ", "c0: no DHCP offer within 1.5s (", "c1: no DHCP offer within 1.5s ("}},
		{"nak", []string{"c0: NAK from 10.77.1.1 for 10.77.1.50 (address in use) within 1.5s", "c1: NAK from 10.77.2.1 for 10.77.2.50 (address in use)"}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			cli, s0, s1 := twoNICs(t)
			s0.set(func(s *dhcpServer) { s.mode = tc.mode })
			s1.set(func(s *dhcpServer) { s.mode = tc.mode })
			var hn hostnames
			cfg := clientConfig(t, cli, &hn)
			cfg.Interfaces = []string{"c0", "c1"}
			cfg.LeaseTimeout = 1500 * time.Millisecond
			_, err := upT(t, cfg)
			var nl *NoLeaseError
			if !errors.As(err, &nl) {
				t.Fatalf("Up = %v, want a *NoLeaseError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			// Both NICs in parallel: their first DISCOVERs arrive together,
			// not one LeaseTimeout apart.
			s0.mu.Lock()
			s1.mu.Lock()
			gap := s0.first.Sub(s1.first).Abs()
			s1.mu.Unlock()
			s0.mu.Unlock()
			if gap > 500*time.Millisecond {
				t.Errorf("first DISCOVERs on c0 and c1 %s apart, want them in parallel", gap)
			}
		})
	}
}

func TestNetnsNoCarrier(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli, srv := newNS(t, "cli"), newNS(t, "srv")
	veth(t, cli, srv, "c0", "s0", "", false) // the peer stays down
	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.Interfaces = []string{"c0"}
	cfg.CarrierTimeout = time.Second
	_, err := upT(t, cfg)
	var nc *NoCarrierError
	if !errors.As(err, &nc) {
		t.Fatalf("Up = %v, want a *NoCarrierError", err)
	}
	want := "no carrier on any NIC within 1s: c0 (operstate down, no carrier)"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want it to start with %q", err, want)
	}
}

func TestNetnsNoNIC(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli := newNS(t, "cli")
	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.Root.Sys = fakeSysfs(t, nil, "lo", "sit0")
	_, err := upT(t, cfg)
	var nn *NoNICError
	if !errors.As(err, &nn) {
		t.Fatalf("Up = %v, want a *NoNICError", err)
	}
	if !strings.Contains(err.Error(), "/sys/class/net holds: lo, sit0") {
		t.Errorf("error %q does not list what /sys/class/net holds", err)
	}
}

func TestNetnsStatic(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli, srv := newNS(t, "cli"), newNS(t, "srv")
	veth(t, cli, srv, "c0", "s0", "10.77.1.1/24", true)
	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.IP = []string{"10.77.1.60::10.77.1.1:255.255.255.0:static7:c0:none:10.77.1.53"}
	st, err := upT(t, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if st.Method != MethodStatic || st.Addr != netip.MustParsePrefix("10.77.1.60/24") || st.Gateway != netip.MustParseAddr("10.77.1.1") {
		t.Errorf("State = %s %s %s gw %s, want static 10.77.1.60/24 via 10.77.1.1", st.Interface, st.Method, st.Addr, st.Gateway)
	}
	if diff := cmp.Diff([]string{"10.77.1.60/24 brd 10.77.1.255"}, linkAddrs(t, cli, "c0", netlink.FAMILY_V4)); diff != "" {
		t.Errorf("c0 addresses (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"10.77.1.0/24 proto kernel", "default via 10.77.1.1"}, linkRoutes(t, cli, "c0")); diff != "" {
		t.Errorf("c0 routes (-want +got):\n%s", diff)
	}
	b, _ := os.ReadFile(cfg.ResolvConf)
	if diff := cmp.Diff("# written by needle: ip= on c0\nnameserver 10.77.1.53\n", string(b)); diff != "" {
		t.Errorf("resolv.conf (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"static7"}, hn.got()); diff != "" {
		t.Errorf("Sethostname calls (-want +got):\n%s", diff)
	}
	// The address works: connect to the server end from the client.
	reach(t, cli, srv, "10.77.1.1")

	// needle net show's view of it.
	links, err := Links(cli.nl, cfg.Root.Sys)
	if err != nil {
		t.Fatal(err)
	}
	var c0 *LinkStatus
	for i := range links {
		if links[i].Name == "c0" {
			c0 = &links[i]
		}
	}
	if c0 == nil || c0.Kind != "veth" || !c0.Carrier || c0.Gateway != adr("10.77.1.1") || !slices.Contains(c0.Addrs, pfx("10.77.1.60/24")) {
		t.Errorf("Links: c0 = %+v, want a veth with carrier, 10.77.1.60/24 and gateway 10.77.1.1", c0)
	}
}

func TestNetnsRenewal(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli, srv := newNS(t, "cli"), newNS(t, "srv")
	veth(t, cli, srv, "c0", "s0", "10.77.1.1/24", true)
	s := &dhcpServer{ip: mustIP("10.77.1.1"), offer: mustIP("10.77.1.50"), mask: net.CIDRMask(24, 32),
		dns: []net.IP{mustIP("10.77.1.53")}, lease: 2 * time.Second} // T1 = 1s
	s.serve(t, srv, "s0")
	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.Interfaces = []string{"c0"}
	st, err := upT(t, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	s.set(func(s *dhcpServer) { s.dns = []net.IP{mustIP("10.77.1.99")} })
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c := st.Current(); len(c.DNS) == 1 && c.DNS[0] == netip.MustParseAddr("10.77.1.99") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c := st.Current(); !c.Obtained.After(st.Obtained) {
		t.Fatalf("no renewal within 5s of a 2s lease (obtained %s, current %s)", st.Obtained, c.Obtained)
	}
	b, _ := os.ReadFile(cfg.ResolvConf)
	if !strings.Contains(string(b), "nameserver 10.77.1.99\n") {
		t.Errorf("resolv.conf after renewal:\n%s\nwant the renewed server 10.77.1.99", b)
	}
	var renewals int
	for _, m := range s.received() {
		if m.MessageType() == dhcpv4.MessageTypeRequest && !m.ClientIPAddr.IsUnspecified() {
			renewals++
		}
	}
	if renewals == 0 {
		t.Errorf("server saw no REQUEST with ciaddr set (a renewal)")
	}
	if st.Info.DNS[0] != netip.MustParseAddr("10.77.1.53") {
		t.Errorf("State.Info changed under the caller: %v", st.Info.DNS)
	}
}

// reach proves from can open a TCP connection to addr in to.
func reach(t *testing.T, from, to *testNS, addr string) {
	t.Helper()
	var ln net.Listener
	if err := to.enter(func() error {
		var err error
		ln, err = net.Listen("tcp4", net.JoinHostPort(addr, "0"))
		return err
	}); err != nil {
		t.Fatalf("listen on %s in %s: %v", addr, to.name, err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	var d net.Dialer
	err := from.enter(func() error {
		// The socket is made here, in from's namespace; connect may then
		// run anywhere.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp4", ln.Addr().String())
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		t.Errorf("connect from %s to %s: %v", from.name, ln.Addr(), err)
	}
}

// kernelHas probes whether the host kernel can make a link of this kind
// (the build host may lack 8021q or bonding). On the host, without it the
// test skips with the reason: TestQEMUNetns runs these same tests inside a
// guest on the reference kernel, which has both, and there (PID 1 with
// NEEDLE_NETNS_GUEST) a missing kind is a failure.
func kernelHas(t *testing.T, ns *testNS, kind string, link netlink.Link) {
	t.Helper()
	err := ns.nl.LinkAdd(link)
	if err == nil {
		ns.nl.LinkDel(link)
		return
	}
	why := fmt.Sprintf("the host kernel cannot create %s links (%v); modprobe %s", kind, err, map[string]string{"vlan": "8021q", "bond": "bonding"}[kind])
	if os.Getpid() == 1 && os.Getenv("NEEDLE_NETNS_GUEST") == "1" {
		t.Fatalf("%s, inside the reference-kernel guest", why)
	}
	t.Skip(why + "; TestQEMUNetns covers it on the reference kernel")
}

func TestNetnsVLAN(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli, srv := newNS(t, "cli"), newNS(t, "srv")
	veth(t, cli, srv, "c0", "s0", "", true)
	s0, _ := srv.nl.LinkByName("s0")
	kernelHas(t, srv, "vlan", &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "probe.7", ParentIndex: s0.Attrs().Index}, VlanId: 7})
	if err := srv.nl.LinkAdd(&netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "s0.100", ParentIndex: s0.Attrs().Index}, VlanId: 100}); err != nil {
		t.Fatalf("s0.100: %v", err)
	}
	setup(t, srv, "s0.100", "10.77.100.1/24", true)
	s := &dhcpServer{ip: mustIP("10.77.100.1"), offer: mustIP("10.77.100.50"), mask: net.CIDRMask(24, 32), router: mustIP("10.77.100.1")}
	s.serve(t, srv, "s0.100")

	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.Root.Sys = fakeSysfs(t, []string{"c0"})
	cfg.VLAN = []string{"c0.100:c0"}
	st, err := upT(t, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if st.Interface != "c0.100" || st.Addr != netip.MustParsePrefix("10.77.100.50/24") {
		t.Errorf("got %s %s, want c0.100 with 10.77.100.50/24", st.Interface, st.Addr)
	}
	l, err := cli.nl.LinkByName("c0.100")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := l.(*netlink.Vlan); !ok || v.VlanId != 100 {
		t.Errorf("c0.100 is %T %+v, want a VLAN with id 100", l, l)
	}
	if as := linkAddrs(t, cli, "c0", netlink.FAMILY_V4); len(as) != 0 {
		t.Errorf("the VLAN parent c0 got addresses %v, want none", as)
	}
}

func TestNetnsBond(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli, srv := newNS(t, "cli"), newNS(t, "srv")
	kernelHas(t, cli, "bond", netlink.NewLinkBond(netlink.LinkAttrs{Name: "probe0"}))
	veth(t, cli, srv, "c0", "s0", "10.77.1.1/24", true)
	veth(t, cli, srv, "c1", "s1", "", true)
	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.Root.Sys = fakeSysfs(t, []string{"c0", "c1"})
	cfg.Bond = []string{"bond0:c0,c1:mode=active-backup,miimon=100,primary=c0:1400"}
	cfg.IP = []string{"10.77.1.70::10.77.1.1:24::bond0:none"}
	st, err := upT(t, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if st.Interface != "bond0" || st.Addr != netip.MustParsePrefix("10.77.1.70/24") {
		t.Errorf("got %s %s, want bond0 with 10.77.1.70/24", st.Interface, st.Addr)
	}
	l, err := cli.nl.LinkByName("bond0")
	if err != nil {
		t.Fatal(err)
	}
	b, ok := l.(*netlink.Bond)
	if !ok || b.Mode != netlink.BOND_MODE_ACTIVE_BACKUP || b.Miimon != 100 || b.MTU != 1400 {
		t.Errorf("bond0 = %T mode %v miimon %d mtu %d, want active-backup, 100, 1400", l, b.Mode, b.Miimon, b.MTU)
	}
	for _, sl := range []string{"c0", "c1"} {
		s, _ := cli.nl.LinkByName(sl)
		if s.Attrs().MasterIndex != l.Attrs().Index {
			t.Errorf("%s master index %d, want bond0's %d", sl, s.Attrs().MasterIndex, l.Attrs().Index)
		}
	}
	reach(t, cli, srv, "10.77.1.1")
}

// dhcp6Server answers SOLICIT (with or without rapid commit) and REQUEST
// with one IA_NA address and a DNS server.
type dhcp6Server struct {
	addr, dns net.IP
	noRapid   bool // answer SOLICIT with ADVERTISE even with rapid commit
	mu        sync.Mutex
	types     []dhcpv6.MessageType
}

func (s *dhcp6Server) handle(conn net.PacketConn, peer net.Addr, m dhcpv6.DHCPv6) {
	msg, err := m.GetInnerMessage()
	if err != nil {
		return
	}
	s.mu.Lock()
	s.types = append(s.types, msg.MessageType)
	s.mu.Unlock()
	sid := &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}
	var iaid [4]byte
	if ia := msg.Options.OneIANA(); ia != nil {
		iaid = ia.IaId
	}
	mods := []dhcpv6.Modifier{
		dhcpv6.WithServerID(sid),
		dhcpv6.WithIAID(iaid),
		dhcpv6.WithIANA(dhcpv6.OptIAAddress{IPv6Addr: s.addr, PreferredLifetime: time.Hour, ValidLifetime: 2 * time.Hour}),
		dhcpv6.WithDNS(s.dns),
	}
	var reply *dhcpv6.Message
	switch msg.MessageType {
	case dhcpv6.MessageTypeSolicit:
		if msg.GetOneOption(dhcpv6.OptionRapidCommit) != nil && !s.noRapid {
			reply, err = dhcpv6.NewReplyFromMessage(msg, mods...)
		} else {
			reply, err = dhcpv6.NewAdvertiseFromSolicit(msg, mods...)
		}
	case dhcpv6.MessageTypeRequest:
		reply, err = dhcpv6.NewReplyFromMessage(msg, mods...)
	default:
		return
	}
	if err == nil {
		conn.WriteTo(reply.ToBytes(), peer)
	}
}

func TestNetnsDHCP6(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name    string
		noRapid bool
		want    []dhcpv6.MessageType
	}{
		{"rapid commit", false, []dhcpv6.MessageType{dhcpv6.MessageTypeSolicit}},
		{"advertise and request", true, []dhcpv6.MessageType{dhcpv6.MessageTypeSolicit, dhcpv6.MessageTypeRequest}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testDHCP6(t, tc.noRapid, tc.want)
		})
	}
}

func testDHCP6(t *testing.T, noRapid bool, wantTypes []dhcpv6.MessageType) {
	cli, srv := newNS(t, "cli"), newNS(t, "srv")
	veth(t, cli, srv, "c0", "s0", "", true)
	s := &dhcp6Server{addr: net.ParseIP("2001:db8:77::50"), dns: net.ParseIP("2001:db8:77::53"), noRapid: noRapid}
	var srv6 *server6.Server
	if err := srv.enter(func() error {
		var err error
		srv6, err = server6.NewServer("s0", nil, s.handle)
		return err
	}); err != nil {
		t.Fatalf("dhcpv6 server: %v", err)
	}
	done := make(chan struct{})
	go func() { srv6.Serve(); close(done) }()
	t.Cleanup(func() { srv6.Close(); <-done })

	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.IP = []string{"c0:dhcp6"}
	cfg.LeaseTimeout = 5 * time.Second
	st, err := upT(t, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if st.Method != MethodDHCP6 || st.Addr != pfx("2001:db8:77::50/128") {
		t.Errorf("State = %s %s, want dhcp6 2001:db8:77::50/128", st.Method, st.Addr)
	}
	if !slices.Contains(st.V6, pfx("2001:db8:77::50/128")) {
		t.Errorf("V6 = %v, want the DHCPv6 address in it", st.V6)
	}
	if !slices.Contains(linkAddrs(t, cli, "c0", netlink.FAMILY_V6), "2001:db8:77::50/128") {
		t.Errorf("c0 IPv6 addresses %v, want 2001:db8:77::50/128", linkAddrs(t, cli, "c0", netlink.FAMILY_V6))
	}
	b, _ := os.ReadFile(cfg.ResolvConf)
	if diff := cmp.Diff("# written by needle: DHCPv6 on c0\nnameserver 2001:db8:77::53\n", string(b)); diff != "" {
		t.Errorf("resolv.conf (-want +got):\n%s", diff)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Retransmissions (the server's link-local address may still be in DAD
	// when the first SOLICIT arrives) repeat a type; the sequence is what
	// matters.
	if diff := cmp.Diff(wantTypes, slices.Compact(slices.Clone(s.types))); diff != "" {
		t.Errorf("messages the server saw (-want +got):\n%s", diff)
	}
}

// TestNetnsV6NoWait: with V6NoWait, Up takes the link's IPv6 addresses as
// they are once the lease is applied, instead of waiting V6Timeout for a
// global one (this network has no router advertising one).
func TestNetnsV6NoWait(t *testing.T) {
	needRoot(t)
	t.Parallel()
	cli, _, _ := twoNICs(t)
	c1, _ := cli.nl.LinkByName("c1")
	var hn hostnames
	cfg := clientConfig(t, cli, &hn)
	cfg.Root.Sys = fakeSysfs(t, []string{"c0", "c1"})
	cfg.BootIF = c1.Attrs().HardwareAddr
	cfg.V6Timeout = time.Minute // longer than upT's deadline: waiting would show
	cfg.V6NoWait = true
	var logged bytes.Buffer
	cfg.Log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := upT(t, cfg)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	if st.Interface != "c1" || !st.Addr.IsValid() {
		t.Errorf("got %s %s, want c1 with its lease", st.Interface, st.Addr)
	}
	if !strings.Contains(logged.String(), "ipv6 not awaited") {
		t.Errorf("Up waited for IPv6 despite V6NoWait; log:\n%s", logged.String())
	}
}
