package network

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"golang.org/x/sys/unix"
)

// leaseState is a DHCP lease being held on one interface.
type leaseState struct {
	name  string
	mac   net.HardwareAddr
	lease *nclient4.Lease
	info  Info
	mods  []dhcpv4.Modifier
	host  string // ip='s hostname, which wins over the server's
}

// requested are the options asked for (option 55), RFC 2132 numbering.
var requested = []dhcpv4.OptionCode{
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionHostName,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionInterfaceMTU,
	dhcpv4.OptionBroadcastAddress,
	dhcpv4.OptionNTPServers,
	dhcpv4.OptionIPAddressLeaseTime,
	dhcpv4.OptionRenewTimeValue,
	dhcpv4.OptionRebindingTimeValue,
	dhcpv4.OptionDNSDomainSearchList,
	dhcpv4.OptionClasslessStaticRoute,
}

// modifiers builds what every DHCP message of ours carries.
func (u *up) modifiers(c IPConfig, mac net.HardwareAddr) []dhcpv4.Modifier {
	id := c.ClientID
	if id == nil {
		// RFC 2132 section 9.14: type 1 (Ethernet) then the MAC, which is
		// what most servers key reservations on.
		id = append([]byte{1}, mac...)
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(u.cfg.VendorClass)),
		dhcpv4.WithOption(dhcpv4.OptClientIdentifier(id)),
		dhcpv4.WithRequestedOptions(requested...),
	}
	if c.Hostname != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(c.Hostname)))
	}
	return mods
}

// waitCRNG blocks until the kernel's random pool is initialised, bounded by
// LeaseTimeout. nclient4's transaction IDs come from u-root's rand, which
// spins on getrandom(GRND_NONBLOCK) for up to two minutes
// (dhcpv4.RandomTimeout) while the pool is empty: on a one-CPU VM without
// virtio-rng or RDRAND that spinning starves the very jitter entropy the
// kernel would seed itself with (measured: 120s under QEMU TCG). A blocking
// getrandom(2) instead makes the kernel run its jitter entropy collector
// (drivers/char/random.c, try_to_generate_entropy), which is done in about
// a second.
func (u *up) waitCRNG(ctx context.Context) {
	var b [1]byte
	if _, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK); err == nil {
		return
	}
	start := time.Now()
	done := make(chan struct{})
	go func() {
		unix.Getrandom(b[:], 0)
		close(done)
	}()
	select {
	case <-done:
		u.log.Info("network: waited for the kernel's random pool", "took", time.Since(start).Round(time.Millisecond))
	case <-ctx.Done():
	case <-time.After(u.cfg.LeaseTimeout):
		u.log.Warn("network: the kernel's random pool is still not initialised; DHCP may stall (add virtio-rng or trust RDRAND)", "waited", u.cfg.LeaseTimeout)
	}
}

// dhcp gets a lease on one of targets: BOOTIF's first, then all the others
// in parallel. The winner's lease is applied.
func (u *up) dhcp(ctx context.Context, c IPConfig, targets []string) (*leaseState, error) {
	u.waitCRNG(ctx)
	var atts []Attempt
	rest := targets
	if b := u.bootIF(targets); b != "" && len(targets) > 1 {
		u.log.Info("network: DHCP on the BOOTIF interface first", "iface", b, "bootif", u.cfg.BootIF.String())
		ls, a := u.dhcpOn(ctx, c, b)
		if ls != nil {
			return ls, u.applyLease(ls, nil)
		}
		atts = append(atts, a)
		rest = slices.DeleteFunc(slices.Clone(targets), func(n string) bool { return n == b })
	}

	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type res struct {
		ls *leaseState
		a  Attempt
	}
	ch := make(chan res, len(rest))
	for _, n := range rest {
		go func() {
			ls, a := u.dhcpOn(pctx, c, n)
			ch <- res{ls, a}
		}()
	}
	var win *leaseState
	for range rest {
		r := <-ch
		if r.ls != nil && win == nil {
			win = r.ls
			cancel() // first lease wins; the others are dropped, not released
			continue
		}
		if r.ls == nil && win == nil {
			atts = append(atts, r.a)
		}
	}
	if win != nil {
		return win, u.applyLease(win, nil)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	sortAttempts(atts)
	carrier := false
	for _, a := range atts {
		carrier = carrier || a.Carrier
	}
	if !carrier {
		return nil, &NoCarrierError{Timeout: u.cfg.CarrierTimeout, Attempts: atts}
	}
	return nil, &NoLeaseError{Timeout: u.cfg.LeaseTimeout, Attempts: atts}
}

// dhcpOn waits for carrier on one link, then runs DISCOVER/OFFER/REQUEST/
// ACK until LeaseTimeout. Retransmissions start at 1s and double up to 4s
// (RFC 2131 section 4.1 asks for 4s doubling to 64s; a provisioning network
// is a LAN and the whole wait is bounded anyway).
func (u *up) dhcpOn(ctx context.Context, c IPConfig, name string) (*leaseState, Attempt) {
	a := u.waitCarrier(ctx, name)
	if !a.Carrier {
		return nil, a
	}
	l, err := u.nl.LinkByName(name)
	if err != nil {
		a.Result = fmt.Sprintf("link lookup: %v", err)
		return nil, a
	}
	mac := l.Attrs().HardwareAddr
	var conn net.PacketConn
	err = u.enter(func() error {
		var err error
		conn, err = nclient4.NewRawUDPConn(name, nclient4.ClientPort)
		return err
	})
	if err != nil {
		a.Result = fmt.Sprintf("open DHCP socket: %v", err)
		return nil, a
	}
	// One try per SendAndRead; our loop below owns the retransmission
	// schedule through each try's context.
	cl, err := nclient4.NewWithConn(conn, mac, nclient4.WithRetry(1), nclient4.WithTimeout(time.Hour))
	if err != nil {
		conn.Close()
		a.Result = fmt.Sprintf("DHCP client: %v", err)
		return nil, a
	}
	defer cl.Close()

	mods := u.modifiers(c, mac)
	discMods := mods
	if c.Addr.IsValid() && c.Addr.Addr().Is4() {
		discMods = append(slices.Clone(mods), dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(c.Addr.Addr().AsSlice())))
	}
	lctx, cancel := context.WithTimeout(ctx, u.cfg.LeaseTimeout)
	defer cancel()
	step := time.Second
	discovers := 0
	// What went wrong, most telling first: a NAK or an unusable ACK beats
	// an offer without an ACK, which beats a send error, which beats
	// silence. A last REQUEST cut short by the deadline must not hide an
	// earlier NAK.
	var bad, noAck, sendErr string
	for {
		try := func(f func(context.Context) error) error {
			tctx, tcancel := context.WithTimeout(lctx, step)
			defer tcancel()
			return f(tctx)
		}
		var offer *dhcpv4.DHCPv4
		discovers++
		err := try(func(ctx context.Context) error {
			var err error
			offer, err = cl.DiscoverOffer(ctx, discMods...)
			return err
		})
		if err == nil {
			var lease *nclient4.Lease
			err = try(func(ctx context.Context) error {
				var err error
				lease, err = cl.RequestFromOffer(ctx, offer, mods...)
				return err
			})
			var nak *nclient4.ErrNak
			switch {
			case err == nil:
				info, ierr := leaseInfo(lease.ACK)
				if ierr != nil {
					bad = fmt.Sprintf("unusable ACK from %s: %v", lease.ACK.ServerIdentifier(), ierr)
					break
				}
				info.Interface, info.MAC, info.Obtained = name, mac, lease.CreationTime
				if c.Hostname != "" {
					// As the kernel does (ipconfig.c: ic_host_name is only
					// filled from DHCP when the command line left it empty).
					info.Hostname = c.Hostname
				}
				u.log.Info("network: DHCP lease", "iface", name, "addr", info.Addr, "server", info.Server, "lease", info.Lease)
				return &leaseState{name: name, mac: mac, lease: lease, info: info, mods: mods, host: c.Hostname}, a
			case errors.As(err, &nak):
				bad = fmt.Sprintf("NAK from %s for %s (%s)", offer.ServerIdentifier(), offer.YourIPAddr, orDash(nak.Nak.Message()))
			default:
				noAck = fmt.Sprintf("offer of %s from %s but no ACK", offer.YourIPAddr, offer.ServerIdentifier())
			}
		}
		if lctx.Err() != nil {
			if ctx.Err() != nil {
				a.Result = "cancelled: another NIC got a lease first"
			} else {
				last := cmp.Or(bad, noAck, sendErr, "no DHCP offer")
				a.Result = fmt.Sprintf("%s within %s (%d DISCOVERs sent)", last, u.cfg.LeaseTimeout, discovers)
			}
			return nil, a
		}
		var nak *nclient4.ErrNak
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nclient4.ErrNoResponse) {
			// A NAK or a send error (link went away?): pause a step
			// before the next DISCOVER.
			if !errors.As(err, &nak) {
				sendErr = "error: " + err.Error()
			}
			select {
			case <-lctx.Done():
			case <-time.After(step):
			}
		}
		step = min(step*2, 4*time.Second)
	}
}

func orDash(s string) string {
	if s == "" {
		return "no message"
	}
	return s
}

// leaseInfo reads what the ACK gives.
func leaseInfo(ack *dhcpv4.DHCPv4) (Info, error) {
	var in Info
	in.Method = MethodDHCP
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || ip.IsUnspecified() {
		return in, fmt.Errorf("no address (yiaddr %s)", ack.YourIPAddr)
	}
	bits := defaultBits(ip)
	if m := ack.SubnetMask(); m != nil {
		ones, size := m.Size()
		if size != 32 {
			return in, fmt.Errorf("option 1: netmask %s is not contiguous", net.IP(m))
		}
		bits = ones
	}
	in.Addr = netip.PrefixFrom(ip, bits)
	if b, ok := netip.AddrFromSlice(ack.BroadcastAddress().To4()); ok {
		in.Broadcast = b
	} else {
		in.Broadcast = broadcastOf(in.Addr)
	}
	// RFC 3442: when option 121 is present the client ignores option 3.
	if rs := ack.ClasslessStaticRoute(); len(rs) > 0 {
		for _, r := range rs {
			ones, _ := r.Dest.Mask.Size()
			dst, _ := netip.AddrFromSlice(r.Dest.IP.To4())
			gw, _ := netip.AddrFromSlice(r.Router.To4())
			rt := Route{Dst: netip.PrefixFrom(dst, ones).Masked()}
			if !gw.IsUnspecified() {
				rt.Gateway = gw
			}
			in.Routes = append(in.Routes, rt)
			if ones == 0 {
				in.Gateway = rt.Gateway
			}
		}
	} else if rs := ack.Router(); len(rs) > 0 {
		if gw, ok := netip.AddrFromSlice(rs[0].To4()); ok && !gw.IsUnspecified() {
			in.Gateway = gw
			in.Routes = []Route{{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gateway: gw}}
		}
	}
	in.DNS = addrs(ack.DNS())
	in.NTP = addrs(ack.NTPServers())
	in.Hostname = ack.HostName()
	in.Domain = ack.DomainName()
	if l := ack.DomainSearch(); l != nil {
		in.Search = l.Labels
	}
	if len(in.Search) == 0 && in.Domain != "" {
		in.Search = []string{in.Domain}
	}
	if mtu, err := dhcpv4.GetUint16(dhcpv4.OptionInterfaceMTU, ack.Options); err == nil && mtu >= 68 {
		in.MTU = int(mtu)
	}
	if s, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		in.Server = s
	}
	// Defaults from RFC 2131 section 4.4.5: T1 = 0.5, T2 = 0.875 of the lease.
	in.Lease = ack.IPAddressLeaseTime(0)
	in.T1 = ack.IPAddressRenewalTime(in.Lease / 2)
	in.T2 = ack.IPAddressRebindingTime(in.Lease * 7 / 8)
	return in, nil
}

func addrs(ips []net.IP) []netip.Addr {
	var out []netip.Addr
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func broadcastOf(p netip.Prefix) netip.Addr {
	if !p.Addr().Is4() || p.Bits() >= 31 {
		return netip.Addr{}
	}
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// renewLoop keeps a lease: REQUEST unicast to the server from T1, broadcast
// from T2, and after expiry keeps the address and keeps trying (an install
// outlives a DHCP server restart). Changes in the ACK are applied; publish
// receives the new Info.
func (u *up) renewLoop(ctx context.Context, ls *leaseState, publish func(Info)) {
	if ls.info.Lease <= 0 || ls.info.Lease >= 0xffffffff*time.Second {
		u.log.Info("network: lease without an end (no or infinite option 51), no renewal", "iface", ls.name)
		return
	}
	for {
		got := ls.info.Obtained
		t1, t2, exp := got.Add(ls.info.T1), got.Add(ls.info.T2), got.Add(ls.info.Lease)
		if !sleepUntil(ctx, t1) {
			return
		}
		for {
			now := time.Now()
			broadcast := now.After(t2)
			nl, err := u.renewOnce(ctx, ls, broadcast)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				prev := ls.info
				ni, ierr := leaseInfo(nl.ACK)
				if ierr != nil {
					u.log.Warn("network: renewal ACK unusable", "iface", ls.name, "err", ierr)
				} else {
					ni.Interface, ni.MAC, ni.Obtained = ls.name, ls.mac, nl.CreationTime
					if ls.host != "" {
						ni.Hostname = ls.host
					}
					ls.lease, ls.info = nl, ni
					if aerr := u.applyLease(ls, &prev); aerr != nil {
						u.log.Error("network: applying renewed lease", "iface", ls.name, "err", aerr)
					}
					u.log.Info("network: lease renewed", "iface", ls.name, "addr", ni.Addr, "lease", ni.Lease)
					publish(ls.info)
					break
				}
			}
			var nak *nclient4.ErrNak
			if errors.As(err, &nak) {
				u.log.Error("network: lease renewal NAKed; keeping the address for the install", "iface", ls.name, "server", ls.info.Server)
			} else if err != nil {
				u.log.Warn("network: lease renewal failed", "iface", ls.name, "broadcast", broadcast, "err", err)
			}
			// RFC 2131 section 4.4.5: retry after half the time left to
			// T2 (or to expiry), at least a second.
			next := t2
			if broadcast {
				next = exp
			}
			wait := max(time.Until(next)/2, time.Second)
			if now.After(exp) {
				u.log.Warn("network: lease expired; keeping the address", "iface", ls.name, "addr", ls.info.Addr)
				wait = time.Minute
			}
			if !sleepUntil(ctx, time.Now().Add(min(wait, 5*time.Minute))) {
				return
			}
		}
	}
}

// renewOnce sends one REQUEST from the leased address over an ordinary UDP
// socket (not the raw one DORA needs, which would see every packet of the
// image download).
func (u *up) renewOnce(ctx context.Context, ls *leaseState, broadcast bool) (*nclient4.Lease, error) {
	var conn net.PacketConn
	err := u.enter(func() error {
		c, err := server4.NewIPv4UDPConn(ls.name, &net.UDPAddr{Port: nclient4.ClientPort})
		conn = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("renewal socket on %s: %w", ls.name, err)
	}
	opts := []nclient4.ClientOpt{nclient4.WithRetry(3), nclient4.WithTimeout(2 * time.Second)}
	if !broadcast && ls.info.Server.IsValid() {
		opts = append(opts, nclient4.WithServerAddr(&net.UDPAddr{IP: ls.info.Server.AsSlice(), Port: nclient4.ServerPort}))
	}
	cl, err := nclient4.NewWithConn(conn, ls.mac, opts...)
	if err != nil {
		conn.Close()
		return nil, err
	}
	defer cl.Close()
	return cl.Renew(ctx, ls.lease, ls.mods...)
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}
