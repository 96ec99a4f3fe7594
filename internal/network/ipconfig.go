package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/needle-boot/needle/internal/quote"
)

// Method is how an interface gets its address.
type Method string

// Methods, named after the ip= autoconf keywords they come from.
const (
	// MethodOff: ip=off or ip=none alone, no networking at all.
	MethodOff Method = "off"
	// MethodDHCP: dhcp, on, any, single-dhcp, and the kernel's bootp and
	// both (a DHCP server answers BOOTP clients, RFC 2131 section 1.5, so a
	// DHCP client is the useful reading of them).
	MethodDHCP Method = "dhcp"
	// MethodStatic: a client address with autoconf off, none or empty.
	MethodStatic Method = "static"
	// MethodDHCP6: DHCPv6 (with SLAAC alongside).
	MethodDHCP6 Method = "dhcp6"
	// MethodAuto6: SLAAC (dracut's auto6 and either6).
	MethodAuto6 Method = "auto6"
	// MethodLink6: IPv6 link-local only (dracut's link6).
	MethodLink6 Method = "link6"
)

// IPConfig is one ip= value, parsed. Fields the value leaves empty are zero.
type IPConfig struct {
	Method   Method
	Device   string       // <device> / <interface>; empty: the boot NIC or any
	Addr     netip.Prefix // <client-ip> with <netmask>; for DHCP the address to ask for
	Peer     netip.Addr   // the kernel's <server-ip>, dracut's <peer>
	Gateway  netip.Addr   // <gw-ip>
	Hostname string
	DNS      []netip.Addr     // <dns0-ip>, <dns1-ip> (dracut: <dns1>, <dns2>)
	NTP      []netip.Addr     // <ntp0-ip>
	MTU      int              // dracut's <mtu>
	MAC      net.HardwareAddr // dracut's <macaddr>: set on the device first
	// ClientID is the DHCP client identifier (option 61) from the kernel's
	// "dhcp,<type>,<value>" autoconf form: the type byte, then the value.
	ClientID []byte
}

// methodWords maps the autoconf keywords of both syntaxes to methods. ibft
// and rarp are refused with their own message in parseMethod.
var methodWords = map[string]Method{
	"off": MethodOff, "none": MethodOff,
	"dhcp": MethodDHCP, "on": MethodDHCP, "any": MethodDHCP, "single-dhcp": MethodDHCP,
	"bootp": MethodDHCP, "both": MethodDHCP,
	"dhcp6": MethodDHCP6, "auto6": MethodAuto6, "either6": MethodAuto6, "link6": MethodLink6,
}

// ipFields are the names of the colon-separated fields, as the kernel's
// Documentation/admin-guide/nfs/nfsroot.rst names them; errors use them.
var ipFields = []string{"client-ip", "server-ip", "gw-ip", "netmask", "hostname", "device", "autoconf", "dns0-ip", "dns1-ip", "ntp0-ip"}

// ParseIP parses one ip= value in the kernel's syntax
// (Documentation/admin-guide/nfs/nfsroot.rst, net/ipv4/ipconfig.c) or
// dracut's (dracut.cmdline(7)):
//
//	ip=dhcp|on|any|off|none|dhcp6|auto6|either6|link6|single-dhcp|bootp|both
//	ip=dhcp,<client-id-type>,<client-id-value>
//	ip=<interface>:{dhcp|on|any|dhcp6|auto6|link6|off|none}[:[<mtu>][:<macaddr>]]
//	ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0-ip>:<dns1-ip>:<ntp0-ip>
//	ip=<client-IP>:[<peer>]:<gateway-IP>:<netmask>:<client_hostname>:<interface>:<autoconf>[:[<mtu>][:<macaddr>]]
//
// IPv6 addresses are bracketed ([2001:db8::1]); a MAC may be written with
// colons (dracut re-joins its six fields) or hyphens. The netmask is a dotted
// quad or a prefix length; without one an IPv4 address gets its classful
// mask, as the kernel does (ipconfig.c ic_defaults), and IPv6 gets /64.
// Errors name the field.
func ParseIP(s string) (IPConfig, error) {
	var c IPConfig
	if s == "" {
		return c, fmt.Errorf("ip=: empty value")
	}
	fields, err := splitFields(s)
	if err != nil {
		return c, fmt.Errorf("ip=%q: %w", s, err)
	}
	fail := func(field, val string, err error) (IPConfig, error) { return ipFail(s, field, val, err) }

	if len(fields) == 1 {
		m, id, err := parseMethod(fields[0])
		if err == nil {
			c.Method, c.ClientID = m, id
			return c, nil
		}
		// A lone address: the kernel reads it as <client-ip>.
		if _, aerr := parseAddr(fields[0]); aerr != nil {
			return fail("autoconf", fields[0], err)
		}
	}

	// dracut: ip=<interface>:<method>[:[<mtu>][:<macaddr>]]: the first
	// field is no address (not even a bad one: those start with a digit or
	// were bracketed), so it cannot be the long form's <client-ip>.
	if f0 := fields[0]; f0 != "" && !looksLikeAddr(f0) && !strings.Contains(f0, ":") &&
		(isLetter(f0[0]) || len(fields) > 1 && isMethod(fields[1])) {
		return parseIPDracut(s, fields)
	}
	return parseIPLong(s, fields)
}

// parseIPDracut reads dracut's ip=<interface>:<method>[:[<mtu>][:<macaddr>]].
func parseIPDracut(s string, fields []string) (IPConfig, error) {
	var c IPConfig
	fail := func(field, val string, err error) (IPConfig, error) { return ipFail(s, field, val, err) }
	if len(fields) < 2 {
		return fail("autoconf", "", fmt.Errorf("missing after interface %q", fields[0]))
	}
	if err := checkIfName(fields[0]); err != nil {
		return fail("interface", fields[0], err)
	}
	c.Device = fields[0]
	m, id, err := parseMethod(fields[1])
	if err != nil {
		return fail("autoconf", fields[1], err)
	}
	if m == MethodOff {
		return fail("autoconf", fields[1], fmt.Errorf("%s on an interface without an address configures nothing; use ip=%s alone or give an address", fields[1], fields[1]))
	}
	c.Method, c.ClientID = m, id
	tail, mac, err := takeMAC(fields[2:])
	if err != nil {
		return fail("macaddr", strings.Join(fields[2:], ":"), err)
	}
	c.MAC = mac
	switch {
	case len(tail) > 2:
		return fail("macaddr", strings.Join(tail[1:], ":"), fmt.Errorf("trailing fields after <mtu>:<macaddr>"))
	case len(tail) == 2 && tail[1] != "":
		mac, err := parseMAC(tail[1])
		if err != nil {
			return fail("macaddr", tail[1], err)
		}
		c.MAC = mac
	}
	if len(tail) >= 1 && tail[0] != "" {
		mtu, err := parseMTU(tail[0])
		if err != nil {
			return fail("mtu", tail[0], err)
		}
		c.MTU = mtu
	}
	return c, nil
}

// parseIPLong reads the kernel's long form (Documentation/admin-guide/
// nfs/nfsroot.rst): <client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:
// <device>:<autoconf>:<dns0-ip>:<dns1-ip>:<ntp0-ip>, with dracut's
// <mtu>/<macaddr> in fields 7 and 8.
func parseIPLong(s string, fields []string) (IPConfig, error) {
	var c IPConfig
	fail := func(field, val string, err error) (IPConfig, error) { return ipFail(s, field, val, err) }
	// The long form. A trailing MAC spelled with colons spans six fields.
	fields, mac, err := takeMAC(fields)
	if err != nil {
		return fail("macaddr", s, err)
	}
	c.MAC = mac
	if len(fields) > len(ipFields) {
		return fail("ntp0-ip", strings.Join(fields[len(ipFields)-1:], ":"), fmt.Errorf("too many fields (%d, at most %d)", len(fields), len(ipFields)))
	}
	field := func(i int) string {
		if i < len(fields) {
			return fields[i]
		}
		return ""
	}

	var client netip.Addr
	if v := field(0); v != "" {
		if client, err = parseAddr(v); err != nil {
			return fail("client-ip", v, err)
		}
	}
	if v := field(1); v != "" {
		if c.Peer, err = parseAddr(v); err != nil {
			return fail("server-ip", v, err)
		}
	}
	if v := field(2); v != "" {
		if c.Gateway, err = parseAddr(v); err != nil {
			return fail("gw-ip", v, err)
		}
		if client.IsValid() && client.Is4() != c.Gateway.Is4() {
			return fail("gw-ip", v, fmt.Errorf("address family differs from client-ip %s", client))
		}
	}
	bits := -1
	if v := field(3); v != "" {
		if bits, err = parseMask(v, !client.IsValid() || client.Is4()); err != nil {
			return fail("netmask", v, err)
		}
	}
	if v := field(4); v != "" {
		if err := checkHostname(v); err != nil {
			return fail("hostname", v, err)
		}
		c.Hostname = v
	}
	if v := field(5); v != "" {
		if err := checkIfName(v); err != nil {
			return fail("device", v, err)
		}
		c.Device = v
	}
	c.Method = MethodDHCP // the kernel's default autoconf is "any"
	if v := field(6); v != "" {
		if c.Method, c.ClientID, err = parseMethod(v); err != nil {
			return fail("autoconf", v, err)
		}
	}
	if client.IsValid() {
		if bits < 0 {
			bits = defaultBits(client)
		}
		c.Addr = netip.PrefixFrom(client, bits)
		if err := checkHost(c.Addr); err != nil {
			return fail("client-ip", field(0), err)
		}
		if c.Gateway.IsValid() {
			// The kernel refuses an off-link gateway too ("IP-Config:
			// Gateway not on directly connected network", ic_setup_routes
			// in net/ipv4/ipconfig.c).
			if err := checkHost(netip.PrefixFrom(c.Gateway, bits)); err != nil {
				return fail("gw-ip", field(2), err)
			}
			if !c.Addr.Masked().Contains(c.Gateway) {
				return fail("gw-ip", field(2), fmt.Errorf("not in %s, the client's subnet", c.Addr.Masked()))
			}
		}
		if field(6) == "" {
			c.Method = MethodStatic
		}
	} else if bits >= 0 {
		return fail("netmask", field(3), fmt.Errorf("given without client-ip"))
	}
	if c.Method == MethodOff {
		if !client.IsValid() {
			return fail("client-ip", "", fmt.Errorf("required when autoconf is %q", field(6)))
		}
		c.Method = MethodStatic
	}

	// Fields 7-9: the kernel's <dns0-ip>:<dns1-ip>:<ntp0-ip>, or dracut's
	// [<mtu>|<dns1>]:[<macaddr>|<dns2>] (dracut tells them apart the same
	// way: an address is a name server).
	if v := field(7); v != "" {
		if a, err := parseAddr(v); err == nil {
			c.DNS = append(c.DNS, a)
		} else if mtu, merr := parseMTU(v); merr == nil {
			c.MTU = mtu
		} else {
			return fail("dns0-ip", v, fmt.Errorf("neither an address nor an MTU"))
		}
	}
	if v := field(8); v != "" {
		if a, err := parseAddr(v); err == nil {
			c.DNS = append(c.DNS, a)
		} else if m, merr := parseMAC(v); merr == nil && c.MAC == nil {
			c.MAC = m
		} else {
			return fail("dns1-ip", v, fmt.Errorf("neither an address nor a MAC"))
		}
	}
	if v := field(9); v != "" {
		a, err := parseAddr(v)
		if err != nil {
			return fail("ntp0-ip", v, err)
		}
		c.NTP = append(c.NTP, a)
	}
	return c, nil
}

// ipFail is ip='s error: the whole value, the field by its name, the cause.
func ipFail(s, field, val string, err error) (IPConfig, error) {
	return IPConfig{}, fmt.Errorf("ip=%s: field %s %s: %w", quote.Value(s), field, quote.Value(val), err)
}

// checkHost refuses an address that cannot be a host's own: unspecified,
// loopback, multicast, the limited broadcast, and in IPv4 subnets of up
// to /30 the subnet's network and broadcast addresses.
func checkHost(p netip.Prefix) error {
	a := p.Addr()
	switch {
	case a.IsUnspecified():
		return errors.New("unspecified address")
	case a.IsLoopback():
		return errors.New("loopback address")
	case a.IsMulticast():
		return errors.New("multicast address")
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return errors.New("the broadcast address")
	}
	if a.Is4() && p.Bits() <= 30 {
		host := binary.BigEndian.Uint32(a.AsSlice()) &^ (^uint32(0) << (32 - p.Bits()))
		switch host {
		case 0:
			return fmt.Errorf("the network address of %s", p.Masked())
		case ^uint32(0) >> p.Bits():
			return fmt.Errorf("the broadcast address of %s", p.Masked())
		}
	}
	return nil
}

// splitFields splits on colons outside brackets and strips the brackets.
func splitFields(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '[':
			if depth > 0 {
				return nil, fmt.Errorf("nested '[' at offset %d", i)
			}
			depth++
		case ch == ']':
			if depth == 0 {
				return nil, fmt.Errorf("']' without '[' at offset %d", i)
			}
			depth--
		case ch == ':' && depth == 0:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unclosed '['")
	}
	return append(out, cur.String()), nil
}

// parseMethod reads an autoconf keyword, including the kernel's
// "dhcp,<type>,<value>" client identifier form (net/ipv4/ipconfig.c,
// ic_proto_name).
func parseMethod(v string) (Method, []byte, error) {
	if rest, ok := strings.CutPrefix(v, "dhcp,"); ok {
		typ, val, ok := strings.Cut(rest, ",")
		if !ok || val == "" {
			return "", nil, fmt.Errorf("want dhcp,<client-id-type>,<client-id-value>")
		}
		n, err := strconv.ParseUint(typ, 0, 8)
		if err != nil {
			return "", nil, fmt.Errorf("client-id-type %q: want a number 0-255", typ)
		}
		return MethodDHCP, append([]byte{byte(n)}, val...), nil
	}
	if m, ok := methodWords[v]; ok {
		return m, nil, nil
	}
	switch v {
	case "ibft":
		return "", nil, fmt.Errorf("iBFT is not supported; give the address in ip= instead")
	case "rarp":
		return "", nil, fmt.Errorf("RARP is not supported; use dhcp")
	}
	return "", nil, fmt.Errorf("unknown autoconf method (want dhcp, on, any, off, none, dhcp6, auto6, either6, link6)")
}

func isMethod(v string) bool {
	_, _, err := parseMethod(v)
	return err == nil
}

func isLetter(b byte) bool { return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }

func parseAddr(v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("not an IP address")
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("zoned address not allowed")
	}
	return a.Unmap(), nil
}

// looksLikeAddr tells the long form (which starts with an address or an
// empty field) from dracut's <interface>:<method>.
func looksLikeAddr(v string) bool {
	_, err := parseAddr(v)
	return err == nil
}

// parseMask reads a dotted-quad netmask (IPv4 only, contiguous) or a prefix
// length.
func parseMask(v string, v4 bool) (int, error) {
	max := 128
	if v4 {
		max = 32
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 || n > max {
			return 0, fmt.Errorf("prefix length out of range 0-%d", max)
		}
		return n, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		return 0, fmt.Errorf("want a dotted-quad netmask or a prefix length")
	}
	if !v4 {
		return 0, fmt.Errorf("dotted-quad netmask for an IPv6 address; give a prefix length")
	}
	b := a.As4()
	ones, size := net.IPMask(b[:]).Size()
	if size == 0 {
		return 0, fmt.Errorf("netmask is not contiguous")
	}
	return ones, nil
}

// defaultBits is the kernel's classful default (net/ipv4/ipconfig.c,
// ic_defaults: IN_CLASSA/B/C) for IPv4, and /64 for IPv6.
func defaultBits(a netip.Addr) int {
	if !a.Is4() {
		return 64
	}
	switch b := a.As4()[0]; {
	case b < 128:
		return 8
	case b < 192:
		return 16
	default:
		return 24
	}
}

func parseMTU(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	// 68 is IPv4's minimum (RFC 791); 65535 is what an IPv4 datagram holds.
	if n < 68 || n > 65535 {
		return 0, fmt.Errorf("MTU out of range 68-65535")
	}
	return n, nil
}

func parseMAC(v string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(v)
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("not an Ethernet MAC")
	}
	return m, nil
}

// takeMAC finds a colon-written MAC at the end of fields: six trailing
// fields of two hex digits each (dracut joins "${9}:${10}:…:${14}" the same
// way). It returns the fields before it.
func takeMAC(fields []string) ([]string, net.HardwareAddr, error) {
	if len(fields) < 6 {
		return fields, nil, nil
	}
	tail := fields[len(fields)-6:]
	for _, f := range tail {
		if len(f) != 2 || !isHex(f[0]) || !isHex(f[1]) {
			return fields, nil, nil
		}
	}
	mac, err := parseMAC(strings.Join(tail, ":"))
	if err != nil {
		return nil, nil, err
	}
	return fields[:len(fields)-6], mac, nil
}

func isHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// checkIfName applies the kernel's rules for interface names
// (net/core/dev.c dev_valid_name): 1-15 bytes, no '/', ':' or whitespace,
// not "." or "..".
func checkIfName(v string) error {
	if len(v) == 0 || len(v) > 15 {
		return fmt.Errorf("interface names are 1-15 bytes")
	}
	if v == "." || v == ".." || strings.ContainsAny(v, "/: \t\n\r\v\f") {
		return fmt.Errorf("not a valid interface name")
	}
	return nil
}

// checkHostname accepts what sethostname(2) does (at most 64 bytes) and
// what a resolver would: letters, digits, '-', '.', '_'.
func checkHostname(v string) error {
	if len(v) > 64 {
		return fmt.Errorf("longer than 64 bytes")
	}
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.' || ch == '_') {
			return fmt.Errorf("byte %q not allowed in a hostname", ch)
		}
	}
	return nil
}

// VLAN is one dracut vlan=<vlanname>:<phys> value.
type VLAN struct {
	Name   string
	Parent string
	ID     int
}

// ParseVLAN reads dracut's vlan=<vlanname>:<phys>. The VLAN id comes from
// the name in one of the four forms dracut (and vconfig's
// set_name_type) know: vlan0005, vlan5, eth0.0005, eth0.5.
func ParseVLAN(s string) (VLAN, error) {
	name, parent, ok := strings.Cut(s, ":")
	if !ok || name == "" || parent == "" {
		return VLAN{}, fmt.Errorf("vlan=%q: want <vlanname>:<phys>, e.g. vlan=eth0.100:eth0", s)
	}
	if err := checkIfName(name); err != nil {
		return VLAN{}, fmt.Errorf("vlan=%q: vlanname %q: %w", s, name, err)
	}
	if err := checkIfName(parent); err != nil {
		return VLAN{}, fmt.Errorf("vlan=%q: phys %q: %w", s, parent, err)
	}
	var digits string
	if rest, ok := strings.CutPrefix(name, "vlan"); ok {
		digits = rest
	} else if i := strings.LastIndexByte(name, '.'); i >= 0 {
		digits = name[i+1:]
	}
	id, err := strconv.Atoi(digits)
	if digits == "" || err != nil || digits[0] == '+' || digits[0] == '-' {
		return VLAN{}, fmt.Errorf("vlan=%q: vlanname %q: want vlan<ID> or <phys>.<ID>", s, name)
	}
	if id < 1 || id > 4094 { // 802.1Q: 0 and 4095 are reserved
		return VLAN{}, fmt.Errorf("vlan=%q: vlanname %q: VLAN id %d out of range 1-4094", s, name, id)
	}
	return VLAN{Name: name, Parent: parent, ID: id}, nil
}

// Bond is one dracut bond= value.
type Bond struct {
	Name    string
	Slaves  []string
	Options []BondOption // in the order given
	MTU     int
}

// BondOption is one name=value of bond='s options.
type BondOption struct{ Name, Value string }

// bondModes are the bonding driver's modes by name and number
// (Documentation/networking/bonding.rst, "mode").
var bondModes = []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb", "0", "1", "2", "3", "4", "5", "6"}

// bondCounts are the bonding options that take a count or milliseconds,
// never negative (bonding.rst).
var bondCounts = []string{"miimon", "updelay", "downdelay", "arp_interval", "peer_notif_delay", "num_grat_arp", "num_unsol_na", "resend_igmp", "min_links", "packets_per_slave", "lp_interval", "ad_actor_sys_prio", "ad_user_port_key", "tlb_dynamic_lb", "all_slaves_active", "use_carrier"}

// checkBondOption checks the values the driver would refuse only once the
// bond is created: mode, and the numeric options.
func checkBondOption(k, v string) error {
	switch {
	case k == "mode" && !slices.Contains(bondModes, v):
		return fmt.Errorf("want one of %s", strings.Join(bondModes[:7], ", "))
	case slices.Contains(bondCounts, k):
		if n, err := strconv.Atoi(v); err != nil || n < 0 {
			return errors.New("want a number, 0 or more")
		}
	}
	return nil
}

// ParseBond reads dracut's bond=<bondname>[:<bondslaves>:[:<options>[:<mtu>]]]:
// slaves and options comma-separated, arp_ip_target's several addresses
// separated by ';'. A bare "bond" means bond0:eth0,eth1:mode=balance-rr
// (dracut.cmdline(7)). Option names are checked when the bond is created.
func ParseBond(s string) (Bond, error) {
	if s == "" {
		return Bond{Name: "bond0", Slaves: []string{"eth0", "eth1"}, Options: []BondOption{{"mode", "balance-rr"}}}, nil
	}
	parts := strings.Split(s, ":")
	// dracut's man page writes "<bondslaves>:[:<options>": tolerate the
	// doubled colon it suggests.
	if len(parts) >= 4 && len(parts) <= 5 && parts[2] == "" && strings.Contains(parts[3], "=") {
		parts = append(parts[:2], parts[3:]...)
	}
	if len(parts) > 4 {
		return Bond{}, fmt.Errorf("bond=%s: want <bondname>[:<bondslaves>[:<options>[:<mtu>]]]", quote.Value(s))
	}
	b := Bond{Name: parts[0]}
	if err := checkIfName(b.Name); err != nil {
		return Bond{}, fmt.Errorf("bond=%s: bondname %s: %w", quote.Value(s), quote.Value(b.Name), err)
	}
	slaves := "eth0,eth1"
	if len(parts) > 1 && parts[1] != "" {
		slaves = parts[1]
	}
	for _, sl := range strings.Split(slaves, ",") {
		if err := checkIfName(sl); err != nil {
			return Bond{}, fmt.Errorf("bond=%s: bondslave %s: %w", quote.Value(s), quote.Value(sl), err)
		}
		if sl == b.Name {
			return Bond{}, fmt.Errorf("bond=%s: bondslave %q is the bond itself", quote.Value(s), sl)
		}
		if slices.Contains(b.Slaves, sl) {
			return Bond{}, fmt.Errorf("bond=%s: bondslave %q given twice", quote.Value(s), sl)
		}
		b.Slaves = append(b.Slaves, sl)
	}
	opts := "mode=balance-rr"
	if len(parts) > 2 && parts[2] != "" {
		opts = parts[2]
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, ok := strings.Cut(o, "=")
		if !ok || k == "" || v == "" {
			return Bond{}, fmt.Errorf("bond=%s: option %s: want name=value", quote.Value(s), quote.Value(o))
		}
		if slices.ContainsFunc(b.Options, func(x BondOption) bool { return x.Name == k }) {
			return Bond{}, fmt.Errorf("bond=%s: option %s given twice", quote.Value(s), quote.Value(k))
		}
		if err := checkBondOption(k, v); err != nil {
			return Bond{}, fmt.Errorf("bond=%s: %s %s: %w", quote.Value(s), quote.Cut(k), quote.Value(v), err)
		}
		b.Options = append(b.Options, BondOption{k, v})
	}
	if len(parts) > 3 && parts[3] != "" {
		mtu, err := parseMTU(parts[3])
		if err != nil {
			return Bond{}, fmt.Errorf("bond=%s: mtu %s: %w", quote.Value(s), quote.Value(parts[3]), err)
		}
		b.MTU = mtu
	}
	return b, nil
}
