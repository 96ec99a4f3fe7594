// Package network brings up the network the install runs on: links via
// netlink, bonds and VLANs from dracut's bond= and vlan=, DHCPv4 with
// insomniacslk/dhcp's nclient4 (renewed in the background), static
// addresses from the kernel's ip= syntax, and IPv6 best-effort (link-local
// and SLAAC addresses reported; DHCPv6 with nclient6 for ip=…dhcp6).
//
// The init calls it once the NIC drivers are loaded:
//
//	st, err := network.Up(ctx, network.Config{
//		IP: cl.IP, BootIF: cl.BootIF, VLAN: cl.VLAN, Bond: cl.Bond,
//		CarrierTimeout: 30 * time.Second, LeaseTimeout: 30 * time.Second,
//		Log: log,
//	})
//	defer st.Close() // stops lease renewal
//
// Up returns a State: the interface used, its MAC, address and prefix,
// gateway, routes, DNS servers, search domains, hostname, domain, MTU, the
// lease and how it was configured (Info, a snapshot taken when Up returns;
// Current gives the latest after renewals). Other interfaces configured by
// further ip= values are in State.Others.
//
// Which interfaces: every link with a device behind it
// (/sys/class/net/X/device), plus the bonds and VLANs Up creates, minus bond
// slaves and VLAN parents; loopback, bridges, veth and the like only when an
// ip=, bond=, vlan= or Config.Interfaces names them. All are brought up at
// once so their autonegotiation overlaps.
//
// DHCP: first on the NIC whose MAC is BOOTIF (its bond when it is a bond
// slave), for up to CarrierTimeout + LeaseTimeout; if that gives no lease,
// on every other interface in parallel, each starting as soon as it has
// carrier, and the first lease wins: the others are cancelled and nothing
// is released. The client sends vendor class "needle" (option 60), a client
// identifier of hardware type 1 and the MAC (option 61), and asks for mask,
// router, DNS, hostname, domain, search list, MTU, broadcast, NTP, lease
// times and classless static routes (option 121, which replaces option 3
// when present, RFC 3442). The lease is applied (MTU, address with
// broadcast, routes, resolv.conf at Config.ResolvConf, hostname through
// Host.Sethostname) and renewed at T1, unicast to the server, then broadcast
// after T2; an install outlives a DHCP server restart, so an expired lease
// keeps its address (with a warning) and keeps trying.
//
// IPv6: every link gets disable_ipv6=0 and accept_ra=1 before it goes up;
// after IPv4 is configured Up waits until V6Timeout after link-up for the
// kernel's addresses (or, with Config.V6NoWait, takes those it has) and
// reports them in Info.V6, never failing on them.
// Only an ip= that asks for IPv6 alone (dhcp6, auto6, link6) fails without
// one. DHCPv6 addresses are not renewed.
//
// Before the first DHCPv4 exchange Up waits for the kernel's random pool
// (see waitCRNG): nclient4 spins for up to two minutes otherwise on VMs
// without an entropy source.
//
// Errors are typed: *NoNICError (lists what /sys/class/net holds),
// *NoCarrierError (each NIC and its state) and *NoLeaseError (each NIC tried
// and what happened: no carrier, no offer, no ACK, NAK).
//
// Everything that touches the host goes through Host, so tests run Up in a
// network namespace of their own.
package network

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/needle-boot/needle/internal/sysroot"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config is what Up is asked to do. The zero value of every field but the
// command line values has a working default.
type Config struct {
	IP     []string         // raw ip= values, in order
	BootIF net.HardwareAddr // BOOTIF=: the NIC the firmware booted from
	VLAN   []string         // raw dracut vlan= values
	Bond   []string         // raw dracut bond= values

	// Interfaces, when set, are the only links considered (needle net up
	// --iface); named links are used even without a device behind them.
	Interfaces []string

	CarrierTimeout time.Duration // per link, from link up; default 30s
	LeaseTimeout   time.Duration // per link, from carrier; default 30s
	// V6Timeout bounds the wait for an IPv6 address, counted from link up
	// so it overlaps DHCPv4; default 3s. IPv6 never fails Up unless an ip=
	// asks for IPv6 only.
	V6Timeout time.Duration
	// V6NoWait: after a DHCPv4 lease or a static IPv4 address, record the
	// IPv6 addresses the link has at that moment instead of waiting up to
	// V6Timeout for more. The installer sets it when none of the URLs it
	// must reach first names an IPv6 literal: the wait would only make the
	// report list SLAAC addresses, and every fetch retries anyway.
	V6NoWait bool
	NoRenew  bool // do not renew DHCP leases (a one-shot CLI run)

	VendorClass string       // DHCP option 60; default "needle"
	ResolvConf  string       // default /etc/resolv.conf
	Root        sysroot.Root // sysfs (NICs) and procfs (the IPv6 sysctls); empty fields are the host's
	Log         *slog.Logger
	Host        Host
}

// Host is how Up reaches the system. The zero value is the running system.
type Host struct {
	// Netlink is the handle links are configured through; nil opens one in
	// the caller's network namespace.
	Netlink *netlink.Handle
	// Enter runs fn in the network namespace the links live in, for the
	// calls that take their namespace from the calling thread: opening
	// sockets and writing /proc/sys/net. nil runs fn directly.
	Enter func(fn func() error) error
	// Sethostname sets the kernel's hostname; nil is sethostname(2).
	Sethostname func(name string) error
}

// Route is one IPv4 route Up installed.
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr // invalid: on-link
}

// Info is how one interface was configured.
type Info struct {
	Interface string
	MAC       net.HardwareAddr
	Method    Method
	Addr      netip.Prefix
	Broadcast netip.Addr
	Gateway   netip.Addr
	Routes    []Route
	DNS       []netip.Addr
	Search    []string
	Hostname  string
	Domain    string
	MTU       int
	NTP       []netip.Addr

	// DHCP only.
	Server   netip.Addr    // server identifier (option 54)
	Lease    time.Duration // option 51
	T1, T2   time.Duration // renewal and rebinding times (options 58, 59)
	Obtained time.Time

	V6 []netip.Prefix // IPv6 addresses seen on the interface (link-local, SLAAC)
}

// State is the network Up configured.
type State struct {
	Info          // the primary interface, as Up configured it
	Others []Info // interfaces configured by further ip= values

	mu      sync.Mutex
	current Info
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeNL func()
}

// Current returns the primary interface's configuration after any renewals.
func (s *State) Current() Info {
	if s == nil {
		return Info{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Close stops lease renewal and waits for it; the addresses stay.
func (s *State) Close() error {
	if s == nil {
		return nil
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.closeNL != nil {
		s.closeNL()
		s.closeNL = nil
	}
	return nil
}

// NoNICError: no link to configure.
type NoNICError struct {
	SysfsNet []string // what /sys/class/net holds
	Reason   string
}

func (e *NoNICError) Error() string {
	return fmt.Sprintf("no network interface to configure (%s); /sys/class/net holds: %s (is the NIC's driver loaded?)", e.Reason, listOrNone(e.SysfsNet))
}

// Attempt is what happened on one NIC.
type Attempt struct {
	Interface string
	Carrier   bool
	State     string // operstate and flags, e.g. "down, no carrier"
	Result    string // e.g. "no DHCP offer within 30s (5 DISCOVERs sent)"
}

func (a Attempt) String() string { return a.Interface + ": " + a.Result }

// NoCarrierError: no NIC had carrier within the bound.
type NoCarrierError struct {
	Timeout  time.Duration
	Attempts []Attempt
}

func (e *NoCarrierError) Error() string {
	var parts []string
	for _, a := range e.Attempts {
		parts = append(parts, fmt.Sprintf("%s (%s)", a.Interface, a.State))
	}
	return fmt.Sprintf("no carrier on any NIC within %s: %s (cable, switch port, or the wrong driver?)", e.Timeout, strings.Join(parts, ", "))
}

// NoLeaseError: no DHCP lease on any NIC tried.
type NoLeaseError struct {
	Timeout  time.Duration
	Attempts []Attempt
}

func (e *NoLeaseError) Error() string {
	var parts []string
	for _, a := range e.Attempts {
		parts = append(parts, a.String())
	}
	return fmt.Sprintf("no DHCP lease within %s on any NIC tried: %s", e.Timeout, strings.Join(parts, "; "))
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// up is one Up call's context.
type up struct {
	cfg   Config
	log   *slog.Logger
	nl    *netlink.Handle
	enter func(fn func() error) error
	start time.Time

	// links by name, filled by prepare.
	slaves  map[string]string // slave → bond
	parents map[string]bool   // VLAN parents
	created []string          // bonds and VLANs Up made, in order
}

// Up configures the network as cfg says and returns what it did.
func Up(ctx context.Context, cfg Config) (*State, error) {
	if cfg.CarrierTimeout <= 0 {
		cfg.CarrierTimeout = 30 * time.Second
	}
	if cfg.LeaseTimeout <= 0 {
		cfg.LeaseTimeout = 30 * time.Second
	}
	if cfg.V6Timeout <= 0 {
		cfg.V6Timeout = 3 * time.Second
	}
	if cfg.VendorClass == "" {
		cfg.VendorClass = "needle"
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	cfg.Root = cfg.Root.WithDefaults()
	u := &up{cfg: cfg, log: cfg.Log, enter: cfg.Host.Enter, start: time.Now(),
		slaves: map[string]string{}, parents: map[string]bool{}}
	if u.log == nil {
		u.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if u.enter == nil {
		u.enter = func(fn func() error) error { return fn() }
	}
	if u.cfg.Host.Sethostname == nil {
		u.cfg.Host.Sethostname = func(name string) error { return unix.Sethostname([]byte(name)) }
	}

	// Parse everything before touching anything.
	var ipcs []IPConfig
	for _, s := range cfg.IP {
		c, err := ParseIP(s)
		if err != nil {
			return nil, err
		}
		ipcs = append(ipcs, c)
	}
	var bonds []Bond
	for _, s := range cfg.Bond {
		b, err := ParseBond(s)
		if err != nil {
			return nil, err
		}
		bonds = append(bonds, b)
	}
	var vlans []VLAN
	for _, s := range cfg.VLAN {
		v, err := ParseVLAN(s)
		if err != nil {
			return nil, err
		}
		vlans = append(vlans, v)
	}
	if len(ipcs) == 1 && ipcs[0].Method == MethodOff {
		u.log.Info("network: ip=off, not configuring any interface")
		st := &State{Info: Info{Method: MethodOff}}
		st.current = st.Info
		return st, nil
	}
	if len(ipcs) == 0 {
		ipcs = []IPConfig{{Method: MethodDHCP}}
	}

	st := &State{}
	u.nl = cfg.Host.Netlink
	if u.nl == nil {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		u.nl = h
		st.closeNL = h.Close
	}
	fail := func(err error) (*State, error) {
		st.Close()
		return nil, err
	}

	for _, b := range bonds {
		if err := u.makeBond(b); err != nil {
			return fail(err)
		}
	}
	for _, v := range vlans {
		if err := u.makeVLAN(v); err != nil {
			return fail(err)
		}
	}
	cands, err := u.candidates(ipcs)
	if err != nil {
		return fail(err)
	}
	for _, c := range ipcs {
		if c.Device != "" && (c.MAC != nil || c.MTU > 0) {
			if err := u.presetLink(c); err != nil {
				return fail(err)
			}
		}
	}
	if err := u.bringUp(cands); err != nil {
		return fail(err)
	}

	renewCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	st.cancel = cancel
	var infos []Info
	for i, c := range ipcs {
		info, ls, err := u.configure(ctx, c, cands)
		if err != nil {
			if len(ipcs) > 1 {
				err = fmt.Errorf("ip=%s: %w", cfg.IP[i], err)
			}
			return fail(err)
		}
		infos = append(infos, info)
		if ls != nil && !cfg.NoRenew {
			primary := i == 0
			st.wg.Add(1)
			go func() {
				defer st.wg.Done()
				u.renewLoop(renewCtx, ls, func(in Info) {
					if primary {
						st.mu.Lock()
						st.current = in
						st.mu.Unlock()
					}
				})
			}()
		}
	}
	st.Info = infos[0]
	st.Others = infos[1:]
	st.mu.Lock()
	st.current = st.Info
	st.mu.Unlock()
	return st, nil
}

// configure applies one ip= value (or the default DHCP) and returns what it
// did, and the lease to renew for DHCP.
func (u *up) configure(ctx context.Context, c IPConfig, cands []string) (Info, *leaseState, error) {
	targets := cands
	if c.Device != "" {
		targets = []string{c.Device}
	}
	switch c.Method {
	case MethodDHCP:
		ls, err := u.dhcp(ctx, c, targets)
		if err != nil {
			return Info{}, nil, err
		}
		u.bonusV6(ctx, &ls.info)
		return ls.info, ls, nil
	case MethodStatic:
		name, err := u.pickStatic(ctx, targets, c)
		if err != nil {
			return Info{}, nil, err
		}
		info, err := u.applyStatic(name, c)
		if err != nil {
			return Info{}, nil, err
		}
		u.bonusV6(ctx, &info)
		return info, nil, nil
	case MethodAuto6, MethodDHCP6, MethodLink6:
		name, err := u.pickStatic(ctx, targets, c)
		if err != nil {
			return Info{}, nil, err
		}
		l, err := u.nl.LinkByName(name)
		if err != nil {
			return Info{}, nil, fmt.Errorf("%s: %w", name, err)
		}
		info := Info{Interface: name, MAC: l.Attrs().HardwareAddr, Method: c.Method, MTU: l.Attrs().MTU}
		var err6 error
		if c.Method == MethodDHCP6 {
			err6 = u.dhcp6(ctx, &info)
		}
		u.addV6(ctx, &info, c.Method != MethodLink6) // for DHCPv6: until its address passes DAD
		if !info.Addr.IsValid() {
			for _, p := range info.V6 {
				if p.Addr().IsGlobalUnicast() && !p.Addr().IsLinkLocalUnicast() {
					info.Addr = p
					break
				}
			}
		}
		switch {
		case c.Method == MethodLink6 && len(info.V6) == 0:
			return Info{}, nil, fmt.Errorf("%s: no IPv6 link-local address within %s", name, u.cfg.V6Timeout)
		case c.Method == MethodLink6:
		case err6 != nil && !info.Addr.IsValid():
			return Info{}, nil, fmt.Errorf("%w; and no SLAAC address either", err6)
		case err6 != nil:
			u.log.Warn("network: DHCPv6 failed, using the SLAAC address", "iface", name, "err", err6, "addr", info.Addr)
		case !info.Addr.IsValid():
			return Info{}, nil, fmt.Errorf("%s: no global IPv6 address from SLAAC within %s (addresses: %v; does a router send advertisements?)", name, u.cfg.CarrierTimeout+u.cfg.LeaseTimeout, info.V6)
		}
		return info, nil, nil
	}
	return Info{}, nil, fmt.Errorf("ip=: method %q cannot configure an interface", c.Method)
}

// pickStatic chooses the link a static (or IPv6-only) ip= applies to: the
// named device, else the BOOTIF NIC, else the only candidate with carrier.
// It waits for carrier on the link it picks.
func (u *up) pickStatic(ctx context.Context, targets []string, c IPConfig) (string, error) {
	if c.Device == "" {
		if b := u.bootIF(targets); b != "" {
			targets = []string{b}
		}
	}
	type res struct {
		name string
		a    Attempt
	}
	ch := make(chan res, len(targets))
	for _, n := range targets {
		go func() {
			a := u.waitCarrier(ctx, n)
			ch <- res{n, a}
		}()
	}
	var up []string
	var atts []Attempt
	for range targets {
		r := <-ch
		atts = append(atts, r.a)
		if r.a.Carrier {
			up = append(up, r.name)
		}
	}
	slices.Sort(up)
	sortAttempts(atts)
	switch {
	case len(up) == 0:
		return "", &NoCarrierError{Timeout: u.cfg.CarrierTimeout, Attempts: atts}
	case len(up) > 1:
		return "", fmt.Errorf("ip=%s: several NICs have carrier (%s); name the device in ip= or boot with BOOTIF=", c.Method, strings.Join(up, ", "))
	}
	return up[0], nil
}

func sortAttempts(a []Attempt) {
	slices.SortFunc(a, func(x, y Attempt) int { return strings.Compare(x.Interface, y.Interface) })
}

// candidates lists the links to configure, in name order.
func (u *up) candidates(ipcs []IPConfig) ([]string, error) {
	links, err := u.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netlink: list links: %w", err)
	}
	have := map[string]bool{}
	for _, l := range links {
		have[l.Attrs().Name] = true
	}
	named := map[string]bool{}
	for _, c := range ipcs {
		if c.Device != "" {
			if !have[c.Device] {
				return nil, fmt.Errorf("ip=: device %s: no such interface (have: %s)", c.Device, strings.Join(sortedKeys(have), ", "))
			}
			named[c.Device] = true
		}
	}
	var out []string
	if len(u.cfg.Interfaces) > 0 {
		for _, n := range u.cfg.Interfaces {
			if !have[n] {
				return nil, fmt.Errorf("interface %s: no such interface (have: %s)", n, strings.Join(sortedKeys(have), ", "))
			}
			out = append(out, n)
		}
	} else {
		for _, l := range links {
			n := l.Attrs().Name
			if named[n] || slices.Contains(u.created, n) {
				out = append(out, n)
				continue
			}
			if u.slaves[n] != "" || u.parents[n] {
				continue
			}
			if _, err := os.Lstat(filepath.Join(u.cfg.Root.Sys, "class/net", n, "device")); err == nil {
				out = append(out, n)
			}
		}
	}
	for n := range named {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		ents, _ := os.ReadDir(filepath.Join(u.cfg.Root.Sys, "class/net"))
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return nil, &NoNICError{SysfsNet: names, Reason: "no link has a device behind it and none is named by ip=, bond= or vlan="}
	}
	slices.Sort(out)
	u.log.Info("network: interfaces", "candidates", strings.Join(out, " "))
	return out, nil
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// bootIF returns the candidate BOOTIF names: the NIC with that MAC, or the
// bond it is a slave of, or the VLAN on it.
func (u *up) bootIF(cands []string) string {
	if u.cfg.BootIF == nil {
		return ""
	}
	links, err := u.nl.LinkList()
	if err != nil {
		return ""
	}
	for _, l := range links {
		a := l.Attrs()
		if !bytesEqual(a.HardwareAddr, u.cfg.BootIF) && !bytesEqual(a.PermHWAddr, u.cfg.BootIF) {
			continue
		}
		if slices.Contains(cands, a.Name) {
			return a.Name
		}
		if b := u.slaves[a.Name]; b != "" && slices.Contains(cands, b) {
			return b
		}
		for _, c := range cands {
			if cl, err := u.nl.LinkByName(c); err == nil && cl.Attrs().ParentIndex == a.Index && cl.Type() == "vlan" {
				return c
			}
		}
	}
	u.log.Warn("network: BOOTIF matches no interface being configured", "bootif", u.cfg.BootIF.String())
	return ""
}

func bytesEqual(a, b []byte) bool { return len(a) > 0 && string(a) == string(b) }
