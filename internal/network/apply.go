package network

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// applyLease puts a DHCP lease on its interface; prev is the lease it
// replaces on renewal (nil the first time).
func (u *up) applyLease(ls *leaseState, prev *Info) error {
	return u.apply(&ls.info, prev, unix.RTPROT_DHCP, fmt.Sprintf("DHCP lease on %s from %s", ls.name, ls.info.Server))
}

// applyStatic configures an ip= static address.
func (u *up) applyStatic(name string, c IPConfig) (Info, error) {
	l, err := u.nl.LinkByName(name)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", name, err)
	}
	in := Info{
		Interface: name, MAC: l.Attrs().HardwareAddr, Method: MethodStatic,
		Addr: c.Addr, Broadcast: broadcastOf(c.Addr), Gateway: c.Gateway,
		DNS: c.DNS, NTP: c.NTP, Hostname: c.Hostname, MTU: c.MTU,
	}
	if c.Gateway.IsValid() {
		in.Routes = []Route{{Dst: netip.PrefixFrom(unspecified(c.Gateway), 0), Gateway: c.Gateway}}
	}
	if err := u.apply(&in, nil, unix.RTPROT_STATIC, "ip= on "+name); err != nil {
		return Info{}, err
	}
	u.log.Info("network: static address", "iface", name, "addr", in.Addr, "gateway", in.Gateway)
	return in, nil
}

func unspecified(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// apply sets MTU, address, routes, resolv.conf and hostname from in, and
// removes what prev had that in no longer has. in.MTU ends up as the
// link's MTU.
func (u *up) apply(in *Info, prev *Info, proto netlink.RouteProtocol, why string) error {
	name := in.Interface
	l, err := u.nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if in.MTU > 0 && in.MTU != l.Attrs().MTU {
		if err := u.nl.LinkSetMTU(l, in.MTU); err != nil {
			return fmt.Errorf("%s: set MTU %d: %w", name, in.MTU, err)
		}
	} else if in.MTU == 0 {
		in.MTU = l.Attrs().MTU
	}

	a := &netlink.Addr{IPNet: ipnet(in.Addr)}
	if in.Broadcast.IsValid() {
		a.Broadcast = in.Broadcast.AsSlice()
	}
	if err := u.nl.AddrReplace(l, a); err != nil {
		return fmt.Errorf("%s: add address %s: %w", name, in.Addr, err)
	}
	if prev != nil && prev.Addr.IsValid() && prev.Addr != in.Addr {
		if err := u.nl.AddrDel(l, &netlink.Addr{IPNet: ipnet(prev.Addr)}); err != nil {
			u.log.Warn("network: removing the old address", "iface", name, "addr", prev.Addr, "err", err)
		}
	}

	// On-link routes first: a gateway route may need one to be reachable
	// (RFC 3442 section 5 describes routers on a subnet the client is not
	// on, reached through an on-link route in the same option).
	routes := slices.Clone(in.Routes)
	slices.SortStableFunc(routes, func(x, y Route) int {
		return btoi(x.Gateway.IsValid()) - btoi(y.Gateway.IsValid())
	})
	for _, r := range routes {
		nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipnet(r.Dst), Protocol: proto}
		if r.Gateway.IsValid() {
			nr.Gw = r.Gateway.AsSlice()
			if !reachable(r.Gateway, in.Addr, routes) {
				// The gateway is on no subnet we have: tell the kernel it
				// is on the link anyway (ip route … onlink).
				nr.Flags = int(netlink.FLAG_ONLINK)
			}
		} else {
			nr.Scope = netlink.SCOPE_LINK
		}
		if err := u.nl.RouteReplace(nr); err != nil {
			return fmt.Errorf("%s: route %s via %s: %w", name, r.Dst, gwString(r.Gateway), err)
		}
	}
	if prev != nil {
		for _, r := range prev.Routes {
			if slices.Contains(in.Routes, r) {
				continue
			}
			nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipnet(r.Dst)}
			if r.Gateway.IsValid() {
				nr.Gw = r.Gateway.AsSlice()
			}
			if err := u.nl.RouteDel(nr); err != nil {
				u.log.Debug("network: removing an old route", "iface", name, "route", r.Dst, "err", err)
			}
		}
	}

	if len(in.DNS) > 0 || len(in.Search) > 0 {
		changed := prev == nil || !slices.Equal(prev.DNS, in.DNS) || !slices.Equal(prev.Search, in.Search)
		if changed {
			if err := writeResolvConf(u.cfg.ResolvConf, why, in.DNS, in.Search); err != nil {
				return err
			}
		}
	}
	if in.Hostname != "" && (prev == nil || prev.Hostname != in.Hostname) {
		if err := u.cfg.Host.Sethostname(in.Hostname); err != nil {
			return fmt.Errorf("sethostname %q: %w", in.Hostname, err)
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func gwString(a netip.Addr) string {
	if !a.IsValid() {
		return "on-link"
	}
	return a.String()
}

// reachable: gw is inside our address's subnet or an on-link route.
func reachable(gw netip.Addr, addr netip.Prefix, routes []Route) bool {
	if addr.Masked().Contains(gw) {
		return true
	}
	for _, r := range routes {
		if !r.Gateway.IsValid() && r.Dst.Contains(gw) {
			return true
		}
	}
	return false
}

func ipnet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}

// ResolvConf renders resolv.conf(5): a comment saying where it came from,
// the search list, one nameserver line per server.
func ResolvConf(why string, dns []netip.Addr, search []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# written by needle: %s\n", why)
	if len(search) > 0 {
		b.WriteString("search")
		for _, s := range search {
			b.WriteString(" " + s)
		}
		b.WriteString("\n")
	}
	for _, d := range dns {
		fmt.Fprintf(&b, "nameserver %s\n", d)
	}
	return b.Bytes()
}

// writeResolvConf replaces path atomically (write a sibling, rename), so a
// resolver reading it mid-renewal sees the old or the new file.
func writeResolvConf(path, why string, dns []netip.Addr, search []string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	tmp := path + ".needle-tmp"
	if err := os.WriteFile(tmp, ResolvConf(why, dns, search), 0o644); err != nil {
		return fmt.Errorf("resolv.conf: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("resolv.conf: %w", err)
	}
	return nil
}
