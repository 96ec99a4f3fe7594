// Package media writes needle's three boot artifacts: a netboot directory
// (kernel, initramfs, an iPXE script, a pxelinux config and a GRUB snippet),
// a USB stick image (GPT with one FAT32 ESP booting systemd-boot) and an
// ISO9660 image with an El Torito UEFI boot image, hybrid so that it also
// boots when written to a stick. Each artifact carries the kernel command
// line; the stick and the ISO can carry a plan and extra hwdb rules, which
// the init finds at boot (package bootmedia).
package media

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/needle-boot/needle/internal/fileutil"
)

// Names of the kernel and initramfs on every medium (netboot directory,
// the stick's and the ISO's needle/ directory).
const (
	KernelName = "vmlinuz"
	InitrdName = "initrd"
)

// Netboot is what `needle netboot` writes.
type Netboot struct {
	Kernel, Initrd string // files to copy
	// Server is the base URL the boot loader fetches vmlinuz and initrd
	// from (http://host/needle/ or tftp://host/dir/). Empty: relative to
	// where the loader itself came from (the TFTP server that served the
	// script, DHCP's next-server).
	Server string
	// PlanURL is needle.plan=, with needle's ${mac}, ${mac_hyphen},
	// ${serial}, ${uuid} and ${hostname} (see plan.URLVars).
	PlanURL string
	Append  string // extra kernel arguments
}

// NetbootFiles returns the text files of a netboot directory, keyed by
// their path in it. It is pure, so the golden test reads its output.
func NetbootFiles(n Netboot) (map[string][]byte, error) {
	base, err := serverBase(n.Server)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(n.PlanURL, " \t\n\"'") {
		return nil, fmt.Errorf("plan url %q: spaces and quotes cannot pass through a kernel command line", n.PlanURL)
	}
	return map[string][]byte{
		"boot.ipxe":             ipxeScript(n, base),
		"pxelinux.cfg/default":  pxelinuxConfig(n, base),
		"grub/grub.cfg":         grubConfig(n, base),
		"README.needle-netboot": []byte(netbootReadme),
	}, nil
}

// WriteNetboot copies the kernel and initramfs into dir and writes the
// loader files there. It returns the paths written, relative to dir.
func WriteNetboot(dir string, n Netboot) ([]string, error) {
	files, err := NetbootFiles(n)
	if err != nil {
		return nil, err
	}
	var written []string
	for _, c := range []struct{ src, name string }{{n.Kernel, KernelName}, {n.Initrd, InitrdName}} {
		if err := fileutil.Copy(c.src, filepath.Join(dir, c.name)); err != nil {
			return written, err
		}
		written = append(written, c.name)
	}
	for _, name := range sortedKeys(files) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return written, err
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			return written, fmt.Errorf("write %s: %w", p, err)
		}
		written = append(written, name)
	}
	return written, nil
}

// serverBase checks Server and returns it with a trailing slash ("" stays
// "").
func serverBase(s string) (*url.URL, error) {
	if s == "" {
		return nil, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", s, err)
	}
	switch u.Scheme {
	case "http", "https", "tftp":
	default:
		return nil, fmt.Errorf("server %q: scheme %q, want http, https or tftp", s, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("server %q: no host", s)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// cmdline is the part of the kernel command line every loader shares:
// ip=dhcp (the kernel's syntax, read by needle's network stage), the plan
// URL, then the operator's arguments last so they can override.
func cmdline(n Netboot, planURL string) string {
	parts := []string{"ip=dhcp"}
	if planURL != "" {
		parts = append(parts, "needle.plan="+planURL)
	}
	if a := strings.TrimSpace(n.Append); a != "" {
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// ipxeVars maps needle's plan URL variables to iPXE settings of the same
// value and format. iPXE expands every ${...} in a script line itself (an
// unknown setting becomes empty, and there is no escape), so needle's
// variables cannot reach the kernel unexpanded; iPXE's own settings give
// the same strings: netX is the NIC iPXE booted from, its mac is
// lower-case hex with colons, hexhyp the same with hyphens, uuid and
// serial come from SMBIOS type 1 like needle's DMI reads, hostname from
// DHCP option 12. uristring escapes the value for a URL.
// https://ipxe.org/cfg/mac, https://ipxe.org/cfg/uuid, https://ipxe.org/cfg/serial
var ipxeVars = [][2]string{
	{"${mac_hyphen}", "${netX/mac:hexhyp}"},
	{"${mac}", "${netX/mac}"},
	{"${serial}", "${serial:uristring}"},
	{"${uuid}", "${uuid}"},
	{"${hostname}", "${hostname:uristring}"},
}

func ipxeScript(n Netboot, base *url.URL) []byte {
	plan := n.PlanURL
	for _, v := range ipxeVars {
		plan = strings.ReplaceAll(plan, v[0], v[1])
	}
	loc := func(name string) string {
		if base == nil {
			return name // relative to the script's own URI
		}
		return base.String() + name
	}
	var b bytes.Buffer
	b.WriteString("#!ipxe\n")
	b.WriteString("# needle netboot script (written by `needle netboot`).\n")
	b.WriteString("# BOOTIF names the NIC iPXE booted from (netX), as pxelinux's IPAPPEND 2 does;\n")
	b.WriteString("# initrd= names the initrd image for the kernel's EFI stub under UEFI iPXE.\n")
	fmt.Fprintf(&b, "kernel %s initrd=%s BOOTIF=01-${netX/mac:hexhyp} %s\n", loc(KernelName), InitrdName, cmdline(n, plan))
	fmt.Fprintf(&b, "initrd %s\n", loc(InitrdName))
	b.WriteString("boot\n")
	return b.Bytes()
}

func pxelinuxConfig(n Netboot, base *url.URL) []byte {
	loc := func(name string) string {
		if base == nil {
			return name // relative to pxelinux's TFTP prefix
		}
		return base.String() + name // lpxelinux fetches http:// and tftp:// URLs
	}
	var b bytes.Buffer
	b.WriteString("# needle pxelinux config (written by `needle netboot`).\n")
	b.WriteString("# IPAPPEND 2 appends BOOTIF=01-aa-bb-cc-dd-ee-ff, the NIC pxelinux booted from.\n")
	b.WriteString("DEFAULT needle\nPROMPT 0\nTIMEOUT 0\n\nLABEL needle\n")
	fmt.Fprintf(&b, "  KERNEL %s\n", loc(KernelName))
	fmt.Fprintf(&b, "  APPEND initrd=%s %s\n", loc(InitrdName), cmdline(n, n.PlanURL))
	b.WriteString("  IPAPPEND 2\n")
	return b.Bytes()
}

func grubConfig(n Netboot, base *url.URL) []byte {
	dev := "(tftp)/"
	if base != nil {
		proto := base.Scheme
		if proto == "https" {
			proto = "http" // GRUB 2.06 has no TLS: serve the files over http too
		}
		dev = fmt.Sprintf("(%s,%s)%s", proto, base.Host, base.Path)
	}
	plan := ""
	if n.PlanURL != "" {
		// Single quotes keep GRUB from expanding needle's ${mac} (GRUB
		// would substitute its own, unset, variables); the kernel gets
		// the argument without them.
		plan = "'needle.plan=" + n.PlanURL + "'"
	}
	args := []string{"ip=dhcp"}
	if plan != "" {
		args = append(args, plan)
	}
	if a := strings.TrimSpace(n.Append); a != "" {
		args = append(args, a)
	}
	var b bytes.Buffer
	b.WriteString("# needle GRUB netboot snippet (written by `needle netboot`).\n")
	b.WriteString("# net_default_mac is the MAC of the NIC GRUB booted from (colons; needle accepts them).\n")
	b.WriteString("set timeout=0\n\nmenuentry 'needle' {\n")
	fmt.Fprintf(&b, "  linux %s%s BOOTIF=01-${net_default_mac} %s\n", dev, KernelName, strings.Join(args, " "))
	fmt.Fprintf(&b, "  initrd %s%s\n", dev, InitrdName)
	b.WriteString("}\n")
	return b.Bytes()
}

const netbootReadme = `needle netboot directory (written by "needle netboot")

  vmlinuz, initrd        the kernel and needle's initramfs
  boot.ipxe              iPXE script: point DHCP's filename (option 67) at it
  pxelinux.cfg/default   for pxelinux.0 / lpxelinux.0 (legacy BIOS PXE)
  grub/grub.cfg          for GRUB's netboot image (UEFI PXE)

Serve this directory over TFTP (and HTTP if --server is an http:// URL),
e.g. with dnsmasq:

  dnsmasq --port=0 --enable-tftp --tftp-root=$PWD --dhcp-range=10.0.0.100,10.0.0.200 \
    --dhcp-match=set:ipxe,175 --dhcp-boot=tag:!ipxe,undionly.kpxe --dhcp-boot=tag:ipxe,boot.ipxe
`
