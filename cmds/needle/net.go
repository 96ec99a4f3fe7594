package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/install"
	"github.com/needle-boot/needle/internal/network"
	"github.com/needle-boot/needle/internal/sysroot"
)

// runNet brings the network up by hand or shows it: field recovery from the
// ramdisk's shell when the network stage failed (a cable moved, a switch
// port came up late, the wrong NIC).
func runNet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("net: want a subcommand: needle net up [--iface X] [--timeout 30s] | needle net show")
	}
	switch args[0] {
	case "up":
		return runNetUp(ctx, args[1:], stdout, stderr)
	case "show":
		return runNetShow(args[1:], stdout, stderr)
	}
	return fmt.Errorf("net: unknown subcommand %q (want up or show)", args[0])
}

func runNetUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("net up", stderr)
	ifaces := fl.String("iface", "", "only these interfaces (comma-separated); named ones are used even without a device")
	timeout := fl.Duration("timeout", 30*time.Second, "bound on carrier, and then on the DHCP lease, per interface")
	var ips []string
	fl.Func("ip", "an ip= value in the kernel's or dracut's syntax, instead of the command line's (repeatable)", func(s string) error {
		ips = append(ips, s)
		return nil
	})
	cmdlinePath := fl.String("cmdline", "/proc/cmdline", "kernel command line to take ip=, BOOTIF=, vlan= and bond= from (\"none\" to ignore)")
	resolv := fl.String("resolv", "/etc/resolv.conf", "resolv.conf to write")
	renew := fl.Bool("renew", false, "stay in the foreground renewing the DHCP lease until interrupted")
	debug := fl.Bool("debug", false, "log every step")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 0 {
		return fmt.Errorf("net up: unexpected arguments %q", fl.Args())
	}
	cl := &cmdline.Config{}
	if *cmdlinePath != "none" {
		b, err := os.ReadFile(*cmdlinePath)
		if err != nil {
			return fmt.Errorf("net up: %w", err)
		}
		if cl, err = cmdline.Parse(string(b)); err != nil {
			return fmt.Errorf("net up: %s: %w", *cmdlinePath, err)
		}
	}
	// What the boot's network/up would bring up, with the shell's bounds.
	cfg := install.NetworkConfig(cl, sysroot.Host(), nil)
	cfg.CarrierTimeout, cfg.LeaseTimeout, cfg.ResolvConf, cfg.NoRenew = *timeout, *timeout, *resolv, !*renew
	if len(ips) > 0 {
		cfg.IP = ips
	}
	if *ifaces != "" {
		cfg.Interfaces = strings.Split(*ifaces, ",")
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	st, err := network.Up(ctx, cfg)
	if err != nil {
		return fmt.Errorf("net up: %w", err)
	}
	defer st.Close()
	fmt.Fprint(stdout, st.Info.Summary())
	for _, o := range st.Others {
		fmt.Fprint(stdout, "\n"+o.Summary())
	}
	if *renew {
		fmt.Fprintln(stderr, "renewing the lease; interrupt to stop (the address stays)")
		<-ctx.Done()
		if !errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err()
		}
	}
	return nil
}

func runNetShow(args []string, stdout, stderr io.Writer) error {
	fl := newFlags("net show", stderr)
	sysfs := fl.String("sysfs", "/sys", "sysfs root")
	resolv := fl.String("resolv", "/etc/resolv.conf", "resolv.conf to show")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 0 {
		return fmt.Errorf("net show: unexpected arguments %q", fl.Args())
	}
	links, err := network.Links(nil, *sysfs)
	if err != nil {
		return fmt.Errorf("net show: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tNIC\tSTATE\tMAC\tMTU\tMASTER\tADDRESSES\tGATEWAY")
	for _, l := range links {
		nic, master, gw := "-", "-", "-"
		if l.Device {
			nic = "yes"
		}
		if l.Master != "" {
			master = l.Master
		}
		if l.Gateway.IsValid() {
			gw = l.Gateway.String()
		}
		var addrs []string
		for _, a := range l.Addrs {
			addrs = append(addrs, a.String())
		}
		if len(addrs) == 0 {
			addrs = []string{"-"}
		}
		mac := l.MAC.String()
		if mac == "" {
			mac = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", l.Name, l.Kind, nic, l.State, mac, l.MTU, master, strings.Join(addrs, " "), gw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if b, err := os.ReadFile(*resolv); err == nil {
		fmt.Fprintf(stdout, "\n%s:\n%s", *resolv, b)
	}
	return nil
}
