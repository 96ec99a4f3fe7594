// Package install defines needle's install as data: the stage sequence
// over a Machine, the state one stage hands to the next. The init runs it;
// the shell's `needle` commands run parts of it by hand.
package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/stage"
)

// Machine is what the stages share. Each stage reads the fields earlier
// stages filled and fills its own.
type Machine struct {
	Config   *cmdline.Config
	Report   *report.Reporter
	SysRoot  string // "/sys" on the machine, a captured tree in tests
	ProcRoot string

	// Filled by the inventory stage.
	Summary string
}

// Sequence returns the install's steps in order.
func Sequence(m *Machine) stage.Sequence {
	return stage.Sequence{
		{Stage: "inventory", Name: "scan", Fatal: true, Run: m.scan},
	}
}

// scan is the inventory placeholder of the foundation: what the kernel
// says about the box in one line.
func (m *Machine) scan(ctx context.Context) error {
	pci, err := os.ReadDir(filepath.Join(m.SysRoot, "bus/pci/devices"))
	if err != nil {
		return fmt.Errorf("reading PCI devices: %w", err)
	}
	blocks, _ := os.ReadDir(filepath.Join(m.SysRoot, "block"))
	product := readTrim(filepath.Join(m.SysRoot, "class/dmi/id/product_name"))
	vendor := readTrim(filepath.Join(m.SysRoot, "class/dmi/id/sys_vendor"))
	m.Summary = fmt.Sprintf("%s %s: %d PCI functions, %d block devices", vendor, product, len(pci), len(blocks))
	m.Report.Infof("inventory", "%s", m.Summary)
	return nil
}

func readTrim(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
