package network

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// makeBond creates a bond, enslaves its slaves and sets its options. The
// bonding driver must be loaded (the modules stage does that for bond=).
func (u *up) makeBond(b Bond) error {
	nb, err := bondLink(b, func(name string) (int, error) {
		l, err := u.nl.LinkByName(name)
		if err != nil {
			return 0, err
		}
		return l.Attrs().Index, nil
	})
	if err != nil {
		return err
	}
	var slaves []netlink.Link
	for _, s := range b.Slaves {
		l, err := u.nl.LinkByName(s)
		if err != nil {
			return fmt.Errorf("bond %s: slave %s: %w", b.Name, s, err)
		}
		slaves = append(slaves, l)
	}
	if err := u.nl.LinkAdd(nb); err != nil {
		return fmt.Errorf("bond %s: create: %w (is the bonding module loaded?)", b.Name, err)
	}
	bl, err := u.nl.LinkByName(b.Name)
	if err != nil {
		return fmt.Errorf("bond %s: %w", b.Name, err)
	}
	for _, l := range slaves {
		// The kernel refuses to enslave a link that is up (bond_enslave:
		// "Device can not be enslaved while up").
		if err := u.nl.LinkSetDown(l); err != nil {
			return fmt.Errorf("bond %s: slave %s: set down: %w", b.Name, l.Attrs().Name, err)
		}
		if err := u.nl.LinkSetMasterByIndex(l, bl.Attrs().Index); err != nil {
			return fmt.Errorf("bond %s: enslave %s: %w", b.Name, l.Attrs().Name, err)
		}
		u.slaves[l.Attrs().Name] = b.Name
	}
	u.created = append(u.created, b.Name)
	u.log.Info("network: bond created", "bond", b.Name, "slaves", strings.Join(b.Slaves, ","), "options", bondOptString(b.Options))
	return nil
}

func bondOptString(o []BondOption) string {
	var s []string
	for _, x := range o {
		s = append(s, x.Name+"="+x.Value)
	}
	return strings.Join(s, ",")
}

// bondLink turns bond= options into a netlink bond, the names the kernel's
// bonding sysfs uses (Documentation/networking/bonding.rst). ifindex
// resolves primary=.
func bondLink(b Bond, ifindex func(string) (int, error)) (*netlink.Bond, error) {
	nb := netlink.NewLinkBond(netlink.LinkAttrs{Name: b.Name, MTU: b.MTU})
	for _, o := range b.Options {
		bad := func(why string) error {
			return fmt.Errorf("bond %s: option %s=%s: %s", b.Name, o.Name, o.Value, why)
		}
		num := func() (int, error) {
			n, err := strconv.Atoi(o.Value)
			if err != nil || n < 0 {
				return 0, bad("want a non-negative number")
			}
			return n, nil
		}
		// enum reads a keyword or its number (the kernel accepts both).
		enum := func(words []string) (int, error) {
			for i, w := range words {
				if o.Value == w || o.Value == strconv.Itoa(i) {
					return i, nil
				}
			}
			return 0, bad("want one of " + strings.Join(words, ", "))
		}
		var err error
		var n int
		switch o.Name {
		case "mode":
			n, err = enum([]string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"})
			nb.Mode = netlink.BondMode(n)
		case "miimon":
			nb.Miimon, err = num()
		case "updelay":
			nb.UpDelay, err = num()
		case "downdelay":
			nb.DownDelay, err = num()
		case "use_carrier":
			nb.UseCarrier, err = num()
		case "arp_interval":
			nb.ArpInterval, err = num()
		case "arp_ip_target":
			for _, t := range strings.Split(o.Value, ";") {
				ip := net.ParseIP(t).To4()
				if ip == nil {
					return nil, bad(fmt.Sprintf("%q is not an IPv4 address", t))
				}
				nb.ArpIpTargets = append(nb.ArpIpTargets, ip)
			}
		case "arp_validate":
			n, err = enum([]string{"none", "active", "backup", "all"})
			nb.ArpValidate = netlink.BondArpValidate(n)
		case "arp_all_targets":
			n, err = enum([]string{"any", "all"})
			nb.ArpAllTargets = netlink.BondArpAllTargets(n)
		case "primary":
			if ifindex == nil {
				return nil, bad("cannot resolve the interface")
			}
			if nb.Primary, err = ifindex(o.Value); err != nil {
				return nil, bad(err.Error())
			}
		case "primary_reselect":
			n, err = enum([]string{"always", "better", "failure"})
			nb.PrimaryReselect = netlink.BondPrimaryReselect(n)
		case "fail_over_mac":
			n, err = enum([]string{"none", "active", "follow"})
			nb.FailOverMac = netlink.BondFailOverMac(n)
		case "xmit_hash_policy":
			n, err = enum([]string{"layer2", "layer3+4", "layer2+3", "encap2+3", "encap3+4", "vlan+srcmac"})
			nb.XmitHashPolicy = netlink.BondXmitHashPolicy(n)
		case "resend_igmp":
			nb.ResendIgmp, err = num()
		case "num_grat_arp", "num_unsol_na":
			nb.NumPeerNotif, err = num()
		case "all_slaves_active":
			nb.AllSlavesActive, err = num()
		case "min_links":
			nb.MinLinks, err = num()
		case "lp_interval":
			nb.LpInterval, err = num()
		case "packets_per_slave":
			nb.PacketsPerSlave, err = num()
		case "lacp_rate":
			n, err = enum([]string{"slow", "fast"})
			nb.LacpRate = netlink.BondLacpRate(n)
		case "ad_select":
			n, err = enum([]string{"stable", "bandwidth", "count"})
			nb.AdSelect = netlink.BondAdSelect(n)
		case "ad_actor_sys_prio":
			nb.AdActorSysPrio, err = num()
		case "ad_user_port_key":
			nb.AdUserPortKey, err = num()
		case "ad_actor_system":
			m, perr := net.ParseMAC(o.Value)
			if perr != nil {
				return nil, bad("not a MAC")
			}
			nb.AdActorSystem = m
		case "tlb_dynamic_lb":
			nb.TlbDynamicLb, err = num()
		default:
			return nil, bad("unknown bonding option (see Documentation/networking/bonding.rst)")
		}
		if err != nil {
			return nil, err
		}
	}
	return nb, nil
}

// makeVLAN creates an 802.1Q VLAN link on its parent (the 8021q module
// must be loaded).
func (u *up) makeVLAN(v VLAN) error {
	p, err := u.nl.LinkByName(v.Parent)
	if err != nil {
		return fmt.Errorf("vlan %s: parent %s: %w", v.Name, v.Parent, err)
	}
	l := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: v.Name, ParentIndex: p.Attrs().Index}, VlanId: v.ID, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}
	if err := u.nl.LinkAdd(l); err != nil {
		return fmt.Errorf("vlan %s: create on %s id %d: %w (is the 8021q module loaded?)", v.Name, v.Parent, v.ID, err)
	}
	u.parents[v.Parent] = true
	u.created = append(u.created, v.Name)
	u.log.Info("network: vlan created", "vlan", v.Name, "parent", v.Parent, "id", v.ID)
	return nil
}

// presetLink sets ip='s MAC and MTU before the link goes up.
func (u *up) presetLink(c IPConfig) error {
	l, err := u.nl.LinkByName(c.Device)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Device, err)
	}
	if c.MAC != nil {
		if err := u.nl.LinkSetDown(l); err != nil {
			return fmt.Errorf("%s: set down to change MAC: %w", c.Device, err)
		}
		if err := u.nl.LinkSetHardwareAddr(l, c.MAC); err != nil {
			return fmt.Errorf("%s: set MAC %s: %w", c.Device, c.MAC, err)
		}
	}
	if c.MTU > 0 {
		if err := u.nl.LinkSetMTU(l, c.MTU); err != nil {
			return fmt.Errorf("%s: set MTU %d: %w", c.Device, c.MTU, err)
		}
	}
	return nil
}

// bringUp sets the candidates and their lower links (bond slaves, VLAN
// parents) up, enabling IPv6 on them first so the kernel makes a
// link-local address and listens to router advertisements.
func (u *up) bringUp(cands []string) error {
	var order []string
	for s := range u.slaves {
		order = append(order, s)
	}
	for p := range u.parents {
		order = append(order, p)
	}
	order = append(order, cands...)
	for _, n := range order {
		u.enableV6(n)
		l, err := u.nl.LinkByName(n)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if err := u.nl.LinkSetUp(l); err != nil {
			return fmt.Errorf("%s: set up: %w", n, err)
		}
	}
	// Loopback up too: every init does it, and tools in the install (and
	// the plan stage's own listeners, if any) expect 127.0.0.1. It is
	// never a DHCP candidate.
	if lo, err := u.nl.LinkByName("lo"); err == nil {
		if err := u.nl.LinkSetUp(lo); err != nil {
			u.log.Warn("network: set lo up", "err", err)
		}
	}
	u.start = time.Now()
	return nil
}

// enableV6 clears disable_ipv6 and accepts router advertisements; both
// are best-effort (a kernel without IPv6 has no such files).
func (u *up) enableV6(name string) {
	for _, kv := range [][2]string{{"disable_ipv6", "0"}, {"accept_ra", "1"}} {
		p := filepath.Join(u.cfg.Root.Proc, "sys/net/ipv6/conf", name, kv[0])
		err := u.enter(func() error { return os.WriteFile(p, []byte(kv[1]), 0) })
		if err != nil {
			u.log.Debug("network: ipv6 sysctl", "path", p, "err", err)
		}
	}
}

// linkState describes a link's state for error messages.
func linkState(l netlink.Link) (carrier bool, desc string) {
	a := l.Attrs()
	carrier = a.RawFlags&unix.IFF_LOWER_UP != 0
	var s []string
	if a.RawFlags&unix.IFF_UP == 0 {
		s = append(s, "admin down")
	}
	s = append(s, "operstate "+a.OperState.String())
	if !carrier {
		s = append(s, "no carrier")
	}
	return carrier, strings.Join(s, ", ")
}

// waitCarrier polls the link until it has carrier, bounded by
// CarrierTimeout from bring-up. Polling (every 50ms) rather than a netlink
// subscription keeps it working through any handle, namespaced or not.
func (u *up) waitCarrier(ctx context.Context, name string) Attempt {
	a := Attempt{Interface: name}
	deadline := u.start.Add(u.cfg.CarrierTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		l, err := u.nl.LinkByName(name)
		if err != nil {
			a.State, a.Result = "gone", fmt.Sprintf("link lookup: %v", err)
			return a
		}
		a.Carrier, a.State = linkState(l)
		if a.Carrier {
			return a
		}
		if time.Now().After(deadline) {
			a.Result = fmt.Sprintf("no carrier within %s (%s)", u.cfg.CarrierTimeout, a.State)
			return a
		}
		select {
		case <-ctx.Done():
			a.Result = "cancelled while waiting for carrier: " + ctx.Err().Error()
			return a
		case <-tick.C:
		}
	}
}
