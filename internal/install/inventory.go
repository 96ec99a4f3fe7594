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
func (m *Machine) scan(ctx context.Context) (*inventory.Inventory, error) {
	inv, err := inventory.Read(m.Root)
	if err != nil {
		return nil, err
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
	m.printInventory("inventory", inv)
	return inv, m.keepInventory(inv)
}

// keepInventory writes the inventory's JSON into the run directory.
func (m *Machine) keepInventory(inv *inventory.Inventory) error {
	b, err := json.MarshalIndent(inv, "", "  ")
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

// printInventory reports the inventory's summary, a line an event.
func (m *Machine) printInventory(stage string, inv *inventory.Inventory) {
	for _, l := range strings.Split(strings.TrimRight(inventory.Summary(inv), "\n"), "\n") {
		m.Report.Infof(stage, "%s", l)
	}
}
