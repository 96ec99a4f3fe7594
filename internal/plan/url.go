package plan

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
)

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
func ExpandURL(tmpl string, vars map[string]string) (string, error) {
	var b strings.Builder
	query := false
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
		if query {
			b.WriteString(url.QueryEscape(v))
		} else {
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
