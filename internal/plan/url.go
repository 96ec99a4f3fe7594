package plan

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/needle-boot/needle/internal/quote"
)

// labelRE is one DNS label (RFC 1123 §2.1, without the length limit).
var labelRE = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// authorityEnd is the index in tmpl where the path, query or fragment
// starts: everything before it is scheme, userinfo, host and port.
func authorityEnd(tmpl string) int {
	i := strings.Index(tmpl, "://")
	if i < 0 {
		return 0
	}
	i += len("://")
	if j := strings.IndexAny(tmpl[i:], "/?#"); j >= 0 {
		return i + j
	}
	return len(tmpl)
}

// URLVars builds the variables of needle.plan=URL (README.md, "Kernel
// command line"):
//
//	${mac}         the NIC's MAC, lower-case with colons: 52:54:00:12:34:56
//	${mac_hyphen}  the same with hyphens: 52-54-00-12-34-56 (pxelinux style,
//	               without its "01-" hardware-type prefix)
//	${serial}      the DMI product serial (/sys/class/dmi/id/product_serial)
//	${uuid}        the DMI product UUID, lower-case
//	${hostname}    the hostname from the DHCP lease
//
// Empty values are left out, so a template that uses one fails clearly
// rather than fetching a URL with a hole in it.
func URLVars(mac net.HardwareAddr, serial, uuid, hostname string) map[string]string {
	vars := map[string]string{}
	if len(mac) > 0 {
		m := strings.ToLower(mac.String())
		vars["mac"] = m
		vars["mac_hyphen"] = strings.ReplaceAll(m, ":", "-")
	}
	set := func(k, v string) {
		if v = strings.TrimSpace(v); v != "" {
			vars[k] = v
		}
	}
	set("serial", serial)
	set("uuid", strings.ToLower(uuid))
	set("hostname", hostname)
	return vars
}

// ExpandURL substitutes ${name} in a plan URL template from vars. Values are
// escaped for where they land: as a path segment before any '?' (so a
// serial with '/' or ' ' stays one segment), as a query value after it. A
// variable missing from vars, an empty name or an unterminated ${ is an
// error; a '$' not followed by '{' is kept as is.
//
// No value may change the host the URL points at: the hostname comes from
// whoever answers DHCP and the serial from whatever the vendor wrote. In
// the path and query escaping does that; in the scheme and authority
// (before the first '/', '?' or '#' after "://") a value may only be one
// DNS label, letters, digits and '-', or the expansion is refused.
func ExpandURL(tmpl string, vars map[string]string) (string, error) {
	var b strings.Builder
	query := false
	authEnd := authorityEnd(tmpl)
	s := tmpl
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		if strings.Contains(s[:i], "?") {
			query = true
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("plan url %q: unterminated ${", tmpl)
		}
		name := s[i+2 : i+j]
		v, ok := vars[name]
		if !ok {
			var known []string
			for _, k := range slices.Sorted(maps.Keys(vars)) {
				known = append(known, "${"+k+"}")
			}
			return "", fmt.Errorf("plan url %q: unknown or empty variable ${%s} (have: %s)", tmpl, name, strings.Join(known, " "))
		}
		switch {
		case len(tmpl)-len(s)+i < authEnd:
			if !labelRE.MatchString(v) {
				return "", fmt.Errorf("plan url %q: ${%s} is %s, but in the host part a value may only hold letters, digits and '-' (one DNS label)", tmpl, name, quote.Value(v))
			}
			b.WriteString(v)
		case query:
			b.WriteString(url.QueryEscape(v))
		default:
			b.WriteString(url.PathEscape(v))
		}
		s = s[i+j+1:]
	}
	out := b.String()
	if _, err := url.Parse(out); err != nil {
		return "", fmt.Errorf("plan url %q expands to an invalid URL: %w", tmpl, err)
	}
	return out, nil
}
