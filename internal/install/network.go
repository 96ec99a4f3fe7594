package install

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/network"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/sysroot"
)

// networkNeeded says whether the install cannot go on without a network:
// the plan, the report or extra hwdb rules come from a URL.
func (m *Machine) networkNeeded(mods *Modules) bool {
	planLocal := mods.Medium != nil && mods.Medium.PlanPath != ""
	if _, err := os.Stat(m.config(PlanFile)); err == nil {
		planLocal = true
	}
	return (m.Config.Plan != "" && !planLocal) || m.Config.Report != "" || m.Config.HWDB != "" ||
		strings.HasPrefix(m.Config.Bisect, "http")
}

// wantsV6 says whether one of the URLs needle reaches right after the
// network is up names an IPv6 literal host: only then is waiting for the
// link's IPv6 addresses worth seconds of every install. A URL that does not
// parse counts as wanting IPv6 (the wait is the safe side).
func wantsV6(urls ...string) bool {
	for _, s := range urls {
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil {
			return true
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && a.Is6() && !a.Is4In6() {
			return true
		}
	}
	return false
}

// NetworkConfig is the network configuration the kernel command line c
// asks for (ip=, BOOTIF=, vlan=, bond=), the one the boot's network/up and
// the shell's `needle net up` both bring up.
func NetworkConfig(c *cmdline.Config, root sysroot.Root, log *slog.Logger) network.Config {
	return network.Config{
		IP: c.IP, BootIF: c.BootIF, VLAN: c.VLAN, Bond: c.Bond, Root: root, Log: log,
		V6NoWait: !wantsV6(c.Plan, c.Report, c.HWDB),
	}
}

// bringUpNetwork configures the network (DHCP first on the BOOTIF NIC, or
// ip=) and keeps the lease renewed for the rest of the install. Whether
// its failure stops the install is the sequence's decision
// (networkNeeded): without a URL to reach (a plan on the stick, no report
// server) it is best-effort.
func (m *Machine) bringUpNetwork(ctx context.Context) (*Network, error) {
	st, err := network.Up(ctx, NetworkConfig(m.Config, m.Root, m.Report.Slog("network", m.Config.Debug)))
	if err != nil {
		return &Network{}, err
	}
	m.finish = append(m.finish, func() { st.Close() })
	info := st.Info
	for _, l := range strings.Split(strings.TrimRight(info.Summary(), "\n"), "\n") {
		m.Report.Infof("network", "%s", l)
	}
	return &Network{State: st, MAC: info.MAC, Hostname: info.Hostname}, nil
}

// startReport starts the event stream to needle.report=URL, when given.
func (m *Machine) startReport(inv *inventory.Inventory, netw *Network) error {
	if m.Config.Report == "" {
		return nil
	}
	url, err := m.expand(m.Config.Report, inv, netw)
	if err != nil {
		return fmt.Errorf("needle.report: %w", err)
	}
	h := report.NewHTTP(url, m.HTTP, 1024)
	m.Report.Add(h)
	netw.Report = h
	m.finish = append(m.finish, func() { h.Close(10 * time.Second) })
	m.Report.Infof("network", "reporting to %s", url)
	return nil
}

// Finish flushes the report stream (bounded: the install never waits long
// for a slow report server) and stops the lease renewal. The init calls it
// after the final result event, before it reboots, powers off or kexecs.
func (m *Machine) Finish() {
	for i := len(m.finish) - 1; i >= 0; i-- {
		m.finish[i]()
	}
	m.finish = nil
}

// fetchHWDB adds the rules of needle.hwdb=URL, when given, to the hwdb.
// They come after coldplug (the network needs its drivers first), so they
// choose RAID tools and diagnoses; drivers already loaded stay.
func (m *Machine) fetchHWDB(ctx context.Context, inv *inventory.Inventory, mods *Modules, netw *Network) error {
	if m.Config.HWDB == "" {
		return nil
	}
	url, err := m.expand(m.Config.HWDB, inv, netw)
	if err != nil {
		return fmt.Errorf("needle.hwdb: %w", err)
	}
	b, err := m.fetcher().Get(ctx, url)
	if err != nil {
		return fmt.Errorf("needle.hwdb: %w", err)
	}
	dir := m.run("hwdb.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "needle.hwdb.yaml"), b, 0o644); err != nil {
		return err
	}
	more := []fs.FS{hwdb.Dir(dir)}
	if mods.Medium != nil && mods.Medium.HWDBDir != "" {
		more = append([]fs.FS{hwdb.Dir(mods.Medium.HWDBDir)}, more...)
	}
	db, err := LoadHWDB(m.ConfigDir, more...)
	if err != nil {
		return fmt.Errorf("needle.hwdb=%s: %w", url, err)
	}
	mods.HWDB = db
	m.Report.Infof("network", "hwdb rules from %s added (RAID tools, diagnoses; loaded drivers stay)", url)
	return nil
}
