package install

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Installed says whether the selected disks already hold the install this
// very plan made, so that a box that PXE-boots first (and so comes back to
// needle after every install) hands off to its OS instead of reinstalling
// in a loop, with no state kept on the server.
type Installed struct {
	Done bool
	Why  string // what was found, for the report
	// Disks are the plan's disks placed as the install placed them (no
	// device opened, nothing written): the handoff's references.
	Disks *Disks
}

// findInstall looks for this plan's receipt on the filesystem the plan
// keeps needle's record on (its handoff root): the digest of the plan as
// fetched must equal the receipt's, and each disk the serial it recorded.
// It reads only (a read-only mount); anything not found means install.
func (m *Machine) findInstall(ctx context.Context, pl *Planned, vols *Volumes) (*Installed, error) {
	p := pl.Plan
	if p.Reinstall {
		return &Installed{Why: "the plan says reinstall: true"}, nil
	}
	ref := rootRef(p)
	if ref == "" {
		return &Installed{Why: "the plan keeps no record on the installed system (no handoff root, no files)"}, nil
	}
	if len(p.RAID) > 0 || len(p.MD) > 0 {
		return &Installed{Why: "the plan's disks are made by the raid stage: it runs, and then the install"}, nil
	}
	ts, err := targets(pl, vols)
	if err != nil {
		return &Installed{Why: err.Error()}, nil
	}
	disks := &Disks{targets: ts, PartDev: map[string]string{}, Refs: map[string]string{}}
	if err := place(pl, disks); err != nil {
		return nil, err
	}
	mt := m.mounter(disks)
	mt.flags = unix.MS_RDONLY
	dir, err := mt.mount(ctx, ref)
	if err != nil {
		return &Installed{Why: fmt.Sprintf("no install to find (%v)", err)}, nil
	}
	defer mt.unmountAll()
	b, err := os.ReadFile(filepath.Join(dir, ReceiptFile))
	if err != nil {
		return &Installed{Why: fmt.Sprintf("%s holds no needle receipt", ref)}, nil
	}
	var r Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		return &Installed{Why: fmt.Sprintf("%s: /%s: %v", ref, ReceiptFile, err)}, nil
	}
	if want := digest(pl.Bytes); r.Plan.Digest != want {
		return &Installed{Why: fmt.Sprintf("%s holds the install of another plan (%s, this one is %s)", ref, r.Plan.Digest, want)}, nil
	}
	if err := sameDisks(r, disks); err != nil {
		return &Installed{Why: err.Error()}, nil
	}
	when := ""
	if fi, err := os.Stat(filepath.Join(dir, ReceiptFile)); err == nil {
		when = ", written " + fi.ModTime().UTC().Format(time.RFC3339)
	}
	return &Installed{Done: true, Disks: disks,
		Why: fmt.Sprintf("%s already holds this plan's install (receipt %s%s)", ref, r.Plan.Digest, when)}, nil
}

// sameDisks checks that the receipt's disks are the ones selected now.
func sameDisks(r Receipt, disks *Disks) error {
	for _, t := range disks.targets {
		found := false
		for _, d := range r.Disks {
			if d.ID != t.id {
				continue
			}
			found = true
			if d.Serial != t.disk.Serial {
				return fmt.Errorf("disk %q is %s (serial %q), the receipt's was serial %q", t.id, t.dev, t.disk.Serial, d.Serial)
			}
		}
		if !found {
			return fmt.Errorf("the receipt does not list disk %q", t.id)
		}
	}
	return nil
}
