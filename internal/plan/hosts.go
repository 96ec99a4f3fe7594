package plan

import (
	"net/url"
	"slices"
	"strings"

	"github.com/needle-boot/needle/internal/quote"
)

// The image's allowed artifact hosts (`needle build --image-host HOST`,
// /etc/needle/image-hosts): a signed plan proves who wrote it, the
// allowlist bounds where it can send the box for the bytes it writes to
// disk, so a leaked signing key or a plan signed in error cannot point
// the fleet at another server.
//
// File format: one HOST or HOST:PORT per line; text after it on the line,
// blank lines and lines starting with '#' are comments. A HOST matches the
// URL's host on any port, a HOST:PORT that port only; names compare
// case-insensitively.

// ParseHosts reads an allowed-hosts file; errors name the file and line.
func ParseHosts(file string, data []byte) ([]string, error) {
	l := &errorList{File: file}
	var hosts []string
	for i, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		h := strings.ToLower(f[0])
		if u, err := url.Parse("http://" + h + "/"); err != nil || u.Host != h || u.User != nil || u.Hostname() == "" {
			l.Add(i+1, "%q is not a host or host:port", f[0])
			continue
		}
		hosts = append(hosts, h)
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	return hosts, nil
}

// hostAllowed says whether the URL raw names one of hosts.
func hostAllowed(raw string, hosts []string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	host, name := strings.ToLower(u.Host), strings.ToLower(u.Hostname())
	return slices.ContainsFunc(hosts, func(h string) bool {
		e, err := url.Parse("http://" + h + "/")
		if err != nil {
			return false
		}
		if e.Port() != "" {
			return h == host // HOST:PORT
		}
		return e.Hostname() == name
	})
}

// checkHosts adds an error for each URL of p whose host is not in hosts.
func checkHosts(p *Plan, hosts []string, l *errorList) {
	check := func(line int, where, raw string) {
		if raw != "" && !hostAllowed(raw, hosts) {
			l.Add(line, "%s: url %s: not an allowed image host (%s); the image allows what needle build --image-host named", where, quote.Value(raw), strings.Join(hosts, ", "))
		}
	}
	for _, d := range p.Disks {
		if d.Image != nil {
			check(d.Image.Pos.Of("url"), "disk "+quote.Value(d.ID)+" image", d.Image.URL)
		}
		for _, pt := range d.Partitions {
			if pt.Image != nil {
				check(pt.Image.Pos.Of("url"), "partition "+quote.Value(pt.Name)+" image", pt.Image.URL)
			}
		}
	}
	for _, f := range p.Files {
		check(f.Contents.Pos.Of("url"), "file "+quote.Value(f.Path)+" contents", f.Contents.URL)
	}
}

// CheckHosts is the allowlist check alone, for `needle plan check` without
// an inventory; Validate runs it too. No hosts: every host is allowed.
func CheckHosts(p *Plan, hosts []string) error {
	if len(hosts) == 0 {
		return nil
	}
	l := &errorList{File: p.File}
	checkHosts(p, hosts, l)
	return l.Err()
}
