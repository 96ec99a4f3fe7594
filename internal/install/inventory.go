package install

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/needle-boot/needle/internal/inventory"
)

// scan takes the inventory, prints its summary and keeps the JSON in the
// run directory for the report and the shell.
func (m *Machine) scan(ctx context.Context) error {
	inv, err := inventory.Read(m.Root)
	if err != nil {
		return err
	}
	if f, err := os.Open(m.PCIIDs); err == nil {
		ids, err := inventory.LoadPCIIDs(f)
		f.Close()
		if err != nil {
			m.Report.Warnf("inventory", "%s: %v; PCI devices stay unnamed", m.PCIIDs, err)
		} else {
			ids.Label(inv)
		}
	}
	m.Inventory = inv
	for _, l := range strings.Split(strings.TrimRight(inventory.Summary(inv), "\n"), "\n") {
		m.Report.Infof("inventory", "%s", l)
	}
	return m.keepInventory()
}

// keepInventory writes the inventory's JSON into the run directory.
func (m *Machine) keepInventory() error {
	b, err := json.MarshalIndent(m.Inventory, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.RunDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(m.run("inventory.json"), b, 0o644); err != nil {
		return fmt.Errorf("keeping the inventory: %w", err)
	}
	return nil
}
