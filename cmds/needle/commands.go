package main

import (
	"context"
	"fmt"
	"io"
)

// command is one subcommand of the CLI.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands is the subcommand table, one line per subcommand: the ones
// every needle binary has, then hostCommands (host.go), which the ramdisk's
// binary (built with -tags ramdisk) leaves out.
func commands() []command {
	return append([]command{
		{"build", "build the initramfs (and copy the kernel) for netboot, USB and ISO", runBuild},
		{"install", "run the install sequence by hand (debug shell): needle install [--from STAGE] [--to STAGE] [--list]", runInstall},
		{"version", "print the version", runVersion},
		{"plan", "check a plan against an inventory (dry run), sign it, make keys: needle plan check|sign|keygen", runPlan},
		{"modules", "inspect a kernel's module index: needle modules deps|alias|depmod|select|coldplug|load", runModules},
		{"raid", "hardware RAID: needle raid parse --tool TOOL FILE | show [--tool TOOL] | apply --plan PLAN [--dry-run]", runRaid},
		{"inventory", "print the hardware inventory (or --capture a sysfs tree)", runInventory},
		{"hwdb", "check rule files, or explain which rule decides each PCI device", runHwdb},
		{"handoff", "show or do the kexec into an installed system: needle handoff find|kexec --root DIR [--boot DIR]", runHandoff},
		{"netboot", "write a netboot directory: kernel, initramfs, boot.ipxe, pxelinux.cfg/default, grub/grub.cfg", runNetboot},
		{"usb", "write a USB stick image (GPT, FAT32 ESP, systemd-boot) with an optional plan and hwdb rules", runUSB},
		{"iso", "write a hybrid ISO (El Torito UEFI, also bootable from a stick) with an optional plan", runISO},
		{"image", "write an image as the install does, verified and resumed: needle image write --url URL --sha256 HEX --to FILE|DEVICE [--size N]", runImage},
		{"bisect", "find the driver patch that fixes (or breaks) a box: needle bisect build --recipe DIR --series DIR --probe CMD --out OUT | needle bisect run URL|DIR", runBisect},
		{"net", "bring the network up by hand or show it: needle net up [--iface X] [--timeout 30s] | needle net show", runNet},
	}, hostCommands()...)
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer) error {
	_, err := fmt.Fprintf(stdout, "needle %s\n", version)
	return err
}
