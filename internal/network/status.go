package network

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Summary renders an Info for the console and `needle net up`, one
// "key value" line per fact.
func (i Info) Summary() string {
	var b strings.Builder
	line := func(k, f string, a ...any) { fmt.Fprintf(&b, "%-10s %s\n", k, fmt.Sprintf(f, a...)) }
	line("interface", "%s (%s)", i.Interface, i.MAC)
	switch i.Method {
	case MethodDHCP:
		line("method", "dhcp from %s, lease %s (renew at %s)", i.Server, i.Lease, i.T1)
	default:
		line("method", "%s", i.Method)
	}
	if i.Addr.IsValid() {
		if i.Broadcast.IsValid() {
			line("address", "%s brd %s", i.Addr, i.Broadcast)
		} else {
			line("address", "%s", i.Addr)
		}
	}
	if i.Gateway.IsValid() {
		line("gateway", "%s", i.Gateway)
	}
	for _, r := range i.Routes {
		if r.Dst.Bits() != 0 {
			line("route", "%s via %s", r.Dst, gwString(r.Gateway))
		}
	}
	if len(i.DNS) > 0 {
		line("dns", "%s", joinAddrs(i.DNS))
	}
	if len(i.Search) > 0 {
		line("search", "%s", strings.Join(i.Search, " "))
	}
	if i.Hostname != "" {
		line("hostname", "%s", i.Hostname)
	}
	if i.Domain != "" {
		line("domain", "%s", i.Domain)
	}
	if i.MTU > 0 {
		line("mtu", "%d", i.MTU)
	}
	if len(i.NTP) > 0 {
		line("ntp", "%s", joinAddrs(i.NTP))
	}
	for _, p := range i.V6 {
		line("ipv6", "%s", p)
	}
	return b.String()
}

func joinAddrs(as []netip.Addr) string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return strings.Join(s, " ")
}

// LinkStatus is one link as `needle net show` prints it.
type LinkStatus struct {
	Name    string
	Kind    string // netlink's link type: device, veth, bond, vlan, …
	Device  bool   // /sys/class/net/NAME/device exists: a NIC Up would use
	MAC     net.HardwareAddr
	MTU     int
	State   string // operstate and carrier, as in error messages
	Carrier bool
	Master  string
	Addrs   []netip.Prefix
	Gateway netip.Addr // the link's IPv4 default route, if any
}

// Links lists the links h sees with their addresses, for the ramdisk
// shell. sysfsRoot is normally /sys.
func Links(h *netlink.Handle, sysfsRoot string) ([]LinkStatus, error) {
	if h == nil {
		var err error
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		defer h.Close()
	}
	ls, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("netlink: list links: %w", err)
	}
	byIndex := map[int]string{}
	for _, l := range ls {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	var out []LinkStatus
	for _, l := range ls {
		a := l.Attrs()
		s := LinkStatus{Name: a.Name, Kind: l.Type(), MAC: a.HardwareAddr, MTU: a.MTU, Master: byIndex[a.MasterIndex]}
		s.Carrier, s.State = linkState(l)
		if _, err := os.Lstat(filepath.Join(sysfsRoot, "class/net", a.Name, "device")); err == nil {
			s.Device = true
		}
		as, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("%s: list addresses: %w", a.Name, err)
		}
		for _, x := range as {
			ip, ok := netip.AddrFromSlice(x.IP)
			if !ok {
				continue
			}
			ones, _ := x.Mask.Size()
			s.Addrs = append(s.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
		}
		rs, err := h.RouteList(l, netlink.FAMILY_V4)
		if err == nil {
			for _, r := range rs {
				if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw != nil {
					s.Gateway, _ = netip.AddrFromSlice(r.Gw.To4())
				}
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y LinkStatus) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}
