// Package qemu builds qemu-system-x86_64 command lines for needle's VMs (the
// test suite's and `needle demo`'s) and finds out whether KVM really works.
package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Disk is a raw image file wired to the guest.
type Disk struct {
	File   string
	Serial string
	// Device is the -device line with %s for the drive id; empty means
	// "virtio-blk-pci,drive=%s".
	Device string
	ReadOnly bool
	// DriveOpts are extra -drive options, e.g. "throttling.bps-write=4194304"
	// for a slow disk (a blkdebug file= prefix is given in File instead).
	DriveOpts string
	// ID names the -device, for the monitor's device_del.
	ID string
}

// NIC is a slirp (user networking) interface.
type NIC struct {
	Model string // virtio-net-pci when empty
	MAC   string
	// User is extra -netdev user options, e.g. "tftp=DIR,bootfile=boot.ipxe".
	User string
	// Netdev, when set, replaces the slirp backend: e.g. "hubport,hubid=9",
	// a link with carrier and nobody on it (a DHCP that never answers).
	Netdev string
}

// Config is one VM.
type Config struct {
	Kernel, Initrd string
	Append         string // kernel command line; console=ttyS0 is added
	MemoryMB       int
	Disks          []Disk
	NICs           []NIC
	SMBIOS         []string // e.g. "type=1,manufacturer=Dell Inc.,product=PowerEdge C5220"
	// Controllers are -device lines placed before the disks, which
	// attach to them by id ("megasas-gen2,id=r0" then bus=r0.0).
	Controllers []string
	Args        []string // anything else
	// Monitor, when set, is a unix socket path for QEMU's human monitor
	// (device_del, info …), instead of no monitor.
	Monitor string
	// Name names the console log file under out/qemu-logs.
	Name string
}

// Argv builds the QEMU argument list for accelerator accel. The wiring is explicit: -nodefaults,
// so the guest has exactly the devices listed here.
func (c Config) Argv(accel string) []string {
	mem := c.MemoryMB
	if mem == 0 {
		mem = 1024
	}
	// -cpu max gives the guest RDRAND (emulated under TCG): without an
	// entropy source the kernel's random pool fills slowly and DHCP
	// clients that wait for it stall.
	a := []string{"-accel", accel, "-cpu", "max", "-m", strconv.Itoa(mem), "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
		"-serial", "stdio", "-no-reboot"}
	if c.Monitor != "" {
		a = append(a, "-monitor", "unix:"+c.Monitor+",server=on,wait=off")
	} else {
		a = append(a, "-monitor", "none")
	}
	if c.Kernel != "" {
		a = append(a, "-kernel", c.Kernel)
	}
	if c.Initrd != "" {
		a = append(a, "-initrd", c.Initrd)
	}
	if c.Kernel != "" {
		// no_timer_check: under TCG on a loaded host the kernel's IO-APIC
		// timer check can time out and panic ("IO-APIC + timer doesn't
		// work"); the emulated timer is fine, only slow.
		a = append(a, "-append", strings.TrimSpace("console=ttyS0 panic=-1 no_timer_check "+c.Append))
	}
	for _, ctl := range c.Controllers {
		a = append(a, "-device", ctl)
	}
	for i, d := range c.Disks {
		id := fmt.Sprintf("d%d", i)
		drive := fmt.Sprintf("file=%s,if=none,id=%s,format=raw", d.File, id)
		if d.ReadOnly {
			drive += ",readonly=on"
		}
		if d.DriveOpts != "" {
			drive += "," + d.DriveOpts
		}
		dev := d.Device
		if dev == "" {
			dev = "virtio-blk-pci,drive=%s"
		}
		dev = fmt.Sprintf(dev, id)
		if d.Serial != "" {
			dev += ",serial=" + d.Serial
		}
		if d.ID != "" {
			dev += ",id=" + d.ID
		}
		a = append(a, "-drive", drive, "-device", dev)
	}
	for i, n := range c.NICs {
		id := fmt.Sprintf("n%d", i)
		nd := "user,id=" + id
		if n.User != "" {
			nd += "," + n.User
		}
		if n.Netdev != "" {
			nd = n.Netdev + ",id=" + id
		}
		model := n.Model
		if model == "" {
			model = "virtio-net-pci"
		}
		dev := model + ",netdev=" + id
		if n.MAC != "" {
			dev += ",mac=" + n.MAC
		}
		a = append(a, "-netdev", nd, "-device", dev)
	}
	for _, s := range c.SMBIOS {
		a = append(a, "-smbios", s)
	}
	return append(a, c.Args...)
}

var (
	accelOnce sync.Once
	accelName string
)

// Accel returns "kvm" only when NEEDLE_ACCEL says so or a probe boot under
// KVM prints the kernel banner quickly; "tcg" otherwise.
func Accel(kernel string) string {
	accelOnce.Do(func() {
		if v := os.Getenv("NEEDLE_ACCEL"); v != "" {
			accelName = v
			return
		}
		accelName = "tcg"
		f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
		if err != nil {
			return
		}
		f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "kvm", "-m", "256", "-nodefaults",
			"-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot",
			"-kernel", kernel, "-append", "console=ttyS0 panic=-1")
		var out bytes.Buffer
		cmd.Stdout = &out
		_ = cmd.Run()
		if strings.Contains(out.String(), "Linux version") {
			accelName = "kvm"
		}
	})
	return accelName
}
