package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/sysroot"
)

// pciIDsPaths are where distributions (Debian's pci.ids package, Fedora's
// hwdata) and the needle image keep pci.ids.
func pciIDsPaths() []string {
	return []string{"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids", "/usr/share/misc/pci.ids.gz"}
}

// runInventory prints the hardware inventory of this host or of a captured
// tree, or captures this host's tree for the tests.
func runInventory(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlags("inventory", stderr)
	asJSON := fl.Bool("json", false, "print JSON instead of a table")
	sysfs := fl.String("sysfs", "", "sysfs root, or a directory written by --capture (default /sys)")
	procfs := fl.String("procfs", "", "procfs root (default /proc, or DIR/proc of a capture)")
	capture := fl.String("capture", "", "copy the sysfs/procfs files the inventory reads into `DIR` (DIR/sys, DIR/proc)")
	pciIDs := fl.String("pci-ids", "", "pci.ids `file` for device names (default: the first of "+fmt.Sprint(pciIDsPaths())+" that exists; \"none\" to skip)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 0 {
		return fmt.Errorf("inventory: unexpected arguments %q", fl.Args())
	}
	root := resolveRoot(*sysfs, *procfs)

	var inv *inventory.Inventory
	var err error
	if *capture != "" {
		inv, err = inventory.Capture(root, *capture)
		if err != nil {
			return fmt.Errorf("inventory: %w", err)
		}
		fmt.Fprintf(stderr, "captured %s and %s into %s\n", root.Sys, root.Proc, *capture)
	} else if inv, err = inventory.Read(root); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	ids, err := loadPCIIDs(*pciIDs)
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	ids.Label(inv)
	if *asJSON {
		b, err := json.MarshalIndent(inv, "", "  ")
		if err != nil {
			return err
		}
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	return inventory.WriteTable(stdout, inv)
}

// resolveRoot accepts a plain sysfs root or a capture directory (which holds
// sys/ and proc/).
func resolveRoot(sysfs, procfs string) inventory.Root {
	root := sysroot.Host()
	if sysfs != "" {
		root.Sys = sysfs
		if st, err := os.Stat(filepath.Join(sysfs, "sys", "bus")); err == nil && st.IsDir() {
			root = sysroot.Capture(sysfs)
		}
	}
	if procfs != "" {
		root.Proc = procfs
	}
	return root
}

// loadPCIIDs reads pci.ids (plain or gzipped); with no file given it tries
// the usual places and returns nil (no names) when there is none.
func loadPCIIDs(file string) (*inventory.PCIIDs, error) {
	if file == "none" {
		return nil, nil
	}
	candidates := pciIDsPaths()
	if file != "" {
		candidates = []string{file}
	}
	for _, p := range candidates {
		b, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) && file == "" {
			continue
		}
		if err != nil {
			return nil, err
		}
		var r io.Reader = bytes.NewReader(b)
		if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
			zr, err := gzip.NewReader(r)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			r = zr
		}
		ids, err := inventory.LoadPCIIDs(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		return ids, nil
	}
	return nil, nil
}
