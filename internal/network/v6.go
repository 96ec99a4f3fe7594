package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"github.com/insomniacslk/dhcp/iana"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// addV6 waits for the kernel's IPv6 addresses on the interface (link-local
// from the link coming up, global ones from SLAAC once a router advertises)
// and records them in in.V6. The wait is counted from link bring-up, so it
// mostly overlaps DHCPv4: V6Timeout when IPv6 is a bonus, LeaseTimeout when
// the ip= asked for IPv6 (wantGlobal). It never fails; the caller decides
// what an empty result means.
func (u *up) addV6(ctx context.Context, in *Info, wantGlobal bool) {
	deadline := u.start.Add(u.cfg.V6Timeout)
	if wantGlobal {
		deadline = u.start.Add(u.cfg.CarrierTimeout + u.cfg.LeaseTimeout)
	}
	l, err := u.nl.LinkByName(in.Interface)
	if err != nil {
		return
	}
	for {
		in.V6 = u.v6Addrs(l)
		if hasGlobal(in.V6) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	if len(in.V6) > 0 {
		u.log.Info("network: ipv6", "iface", in.Interface, "addrs", in.V6)
	} else {
		u.log.Info("network: no ipv6 address (best-effort)", "iface", in.Interface)
	}
}

// bonusV6 records the IPv6 addresses of a link configured for IPv4: after
// waiting for them (addV6), or as they are now with Config.V6NoWait.
func (u *up) bonusV6(ctx context.Context, in *Info) {
	if !u.cfg.V6NoWait {
		u.addV6(ctx, in, false)
		return
	}
	if l, err := u.nl.LinkByName(in.Interface); err == nil {
		in.V6 = u.v6Addrs(l)
	}
	u.log.Debug("network: ipv6 not awaited (no IPv6 URL to reach)", "iface", in.Interface, "addrs", in.V6)
}

// v6Addrs lists the usable (DAD finished) IPv6 addresses of a link.
func (u *up) v6Addrs(l netlink.Link) []netip.Prefix {
	as, err := u.nl.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return nil
	}
	var out []netip.Prefix
	for _, a := range as {
		if a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip, ones))
	}
	slices.SortFunc(out, func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
	return out
}

func hasGlobal(ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Addr().IsGlobalUnicast() {
			return true
		}
	}
	return false
}

// dhcp6 asks for an address with DHCPv6 (RFC 8415: SOLICIT with rapid
// commit, else ADVERTISE/REQUEST/REPLY) and adds it as a /128 (the on-link
// prefix comes from router advertisements). The address is not renewed:
// like an expired IPv4 lease it stays for the install.
func (u *up) dhcp6(ctx context.Context, in *Info) error {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.LeaseTimeout)
	defer cancel()
	l, err := u.nl.LinkByName(in.Interface)
	if err != nil {
		return fmt.Errorf("%s: %w", in.Interface, err)
	}
	// nclient6 binds the link-local address, which the kernel refuses
	// until duplicate address detection is over (about a second).
	for {
		if slices.ContainsFunc(u.v6Addrs(l), func(p netip.Prefix) bool { return p.Addr().IsLinkLocalUnicast() }) {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: no usable IPv6 link-local address for DHCPv6 within %s", in.Interface, u.cfg.LeaseTimeout)
		case <-time.After(100 * time.Millisecond):
		}
	}
	var conn net.PacketConn
	if err := u.enter(func() error {
		var err error
		conn, err = nclient6.NewIPv6UDPConn(in.Interface, dhcpv6.DefaultClientPort)
		return err
	}); err != nil {
		return fmt.Errorf("%s: DHCPv6 socket: %w", in.Interface, err)
	}
	cl, err := nclient6.NewWithConn(conn, in.MAC, nclient6.WithTimeout(time.Second), nclient6.WithRetry(-1))
	if err != nil {
		conn.Close()
		return fmt.Errorf("%s: DHCPv6 client: %w", in.Interface, err)
	}
	defer cl.Close()
	reply, err := cl.RapidSolicit(ctx)
	if err != nil {
		return fmt.Errorf("%s: no DHCPv6 reply within %s: %w", in.Interface, u.cfg.LeaseTimeout, err)
	}
	if st := reply.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		return fmt.Errorf("%s: DHCPv6 server says %s: %s", in.Interface, st.StatusCode, st.StatusMessage)
	}
	ia := reply.Options.OneIANA()
	if ia == nil || ia.Options.OneAddress() == nil {
		return fmt.Errorf("%s: DHCPv6 reply without an IA_NA address", in.Interface)
	}
	if st := ia.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		return fmt.Errorf("%s: DHCPv6 IA_NA status %s: %s", in.Interface, st.StatusCode, st.StatusMessage)
	}
	ip, ok := netip.AddrFromSlice(ia.Options.OneAddress().IPv6Addr)
	if !ok {
		return fmt.Errorf("%s: DHCPv6 address %v", in.Interface, ia.Options.OneAddress().IPv6Addr)
	}
	addr := netip.PrefixFrom(ip, 128)
	if err := u.nl.AddrReplace(l, &netlink.Addr{IPNet: ipnet(addr)}); err != nil {
		return fmt.Errorf("%s: add DHCPv6 address %s: %w", in.Interface, addr, err)
	}
	in.Addr = addr
	in.DNS = append(in.DNS, addrs(reply.Options.DNS())...)
	if s := reply.Options.DomainSearchList(); s != nil {
		in.Search = append(in.Search, s.Labels...)
	}
	u.log.Info("network: DHCPv6 address", "iface", in.Interface, "addr", addr, "dns", in.DNS)
	if len(in.DNS) > 0 || len(in.Search) > 0 {
		return writeResolvConf(u.cfg.ResolvConf, "DHCPv6 on "+in.Interface, in.DNS, in.Search)
	}
	return nil
}
