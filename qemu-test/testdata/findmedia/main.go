// Command findmedia is a test probe for the media QEMU scenarios: run in
// needle's shell, it finds the boot medium with package bootmedia exactly
// as the init does, and prints one MEDIUM line (and the plan's first line)
// for the test to match.
package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/needle-boot/needle/internal/bootmedia"
)

func main() {
	line, _ := os.ReadFile("/proc/cmdline")
	f := &bootmedia.Finder{SysRoot: "/sys", DevRoot: "/dev", MountDir: "/run/needle/media"}
	f.HostMount()
	if bootmedia.Expected(strings.Fields(string(line))) != "" {
		f.Wait = 30 * time.Second
	}
	m, err := f.Find(context.Background())
	if err != nil {
		fmt.Printf("MEDIUM ERROR %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("MEDIUM device=%s partition=%s fstype=%s label=%s plan=%s hwdb=%s\n",
		m.Device, m.Partition, m.FSType, m.Label, m.PlanPath, m.HWDBDir)
	if m.PlanPath != "" {
		pf, err := os.Open(m.PlanPath)
		if err == nil {
			s := bufio.NewScanner(pf)
			if s.Scan() {
				fmt.Printf("MEDIUM-PLAN %s\n", s.Text())
			}
			pf.Close()
		}
	}
}
