package install

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/internal/inventory"
	"github.com/needle-boot/needle/internal/md"
	"github.com/needle-boot/needle/internal/plan"
)

// createMD makes the plan's Linux md arrays natively (v1.2 superblocks
// written by needle, no mdadm in the image), assembles them through md's
// sysfs interface, and resolves the plan disks that select an array to its
// block device. The members must be whole plan disks that carry nothing
// else; they are then left out of the disks stage. It returns the
// inventory that shows the arrays.
func (m *Machine) createMD(ctx context.Context, pl *Planned, inv *inventory.Inventory, mods *Modules, vols *Volumes) (*inventory.Inventory, error) {
	p := pl.Plan
	if len(p.MD) == 0 {
		return inv, nil
	}
	log := m.Report.Slog("raid", m.Config.Debug)
	k := md.NewKernel(m.Root, log)
	byID := map[string]int{}
	for i, d := range p.Disks {
		byID[d.ID] = i
	}
	for _, a := range p.MD {
		level, err := md.ParseLevel(a.Level)
		if err != nil {
			return nil, fmt.Errorf("md %s: %w", a.Name, err)
		}
		// The personality must be registered before assembly: the ramdisk
		// cannot serve the kernel's own request_module.
		for _, mod := range []string{"md_mod", level.String()} {
			if level == md.RAID5 && mod != "md_mod" {
				mod = "raid456"
			}
			if err := m.loadModule(ctx, mod); err != nil {
				return nil, fmt.Errorf("md %s: module %s: %w", a.Name, mod, err)
			}
		}
		var members []md.Member
		var devs []string
		var files []*os.File
		closeAll := func() {
			for _, f := range files {
				f.Close()
			}
		}
		for _, ref := range a.Devices {
			i, ok := byID[ref]
			if !ok || pl.Validated.Disks[i].State != plan.Resolved || pl.Validated.Disks[i].Disk == nil {
				closeAll()
				return nil, fmt.Errorf("md %s: member %q: only whole plan disks are supported as members (md over partitions is not done yet)", a.Name, ref)
			}
			sel := pl.Validated.Disks[i]
			if pd := p.Disks[i]; len(pd.Partitions) > 0 || pd.Image != nil {
				closeAll()
				return nil, fmt.Errorf("md %s: member %q carries partitions or an image itself; an md member must carry nothing else", a.Name, ref)
			}
			dev := "/dev/" + sel.Disk.Name
			f, err := os.OpenFile(dev, os.O_RDWR|unix.O_EXCL, 0)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("md %s: member %s: disk busy or unusable: %w", a.Name, dev, err)
			}
			files = append(files, f)
			members = append(members, md.Member{Name: dev, Dev: f, Size: int64(sel.Disk.Size)})
			devs = append(devs, dev)
			vols.members[ref] = true
		}
		arr, err := md.Create(ctx, log, members, md.Options{Level: level, Name: a.Name, HomeHost: "needle"})
		for _, f := range files {
			if serr := f.Sync(); serr != nil && err == nil {
				err = fmt.Errorf("md %s: fsync %s: %w", a.Name, f.Name(), serr)
			}
		}
		closeAll() // the kernel claims members exclusively when it assembles
		if err != nil {
			return nil, err
		}
		name, err := k.FreeName()
		if err != nil {
			return nil, err
		}
		st, err := k.Assemble(ctx, name, level, devs)
		if err != nil {
			return nil, err
		}
		vols.MDConf = append(vols.MDConf, md.ConfLine(arr.Superblocks[0]))
		m.Report.Infof("raid", "md %s: /dev/%s %s over %v, %s, uuid %s (the kernel resyncs in the background)", a.Name, name, st.Level, devs, st.ArrayState, arr.UUID)
		var d inventory.Disk
		inv, d, err = m.waitDisk(ctx, name)
		if err != nil {
			return nil, err
		}
		if err := pl.Validated.Resolve(a.Name, d, mods.BootDevices()); err != nil {
			return nil, err
		}
	}
	return inv, m.keepInventory(inv)
}

// waitDisk waits for a block device to show in the inventory; it returns
// the inventory that shows it.
func (m *Machine) waitDisk(ctx context.Context, name string) (*inventory.Inventory, inventory.Disk, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		inv, err := inventory.Read(m.Root)
		if err != nil {
			return nil, inventory.Disk{}, err
		}
		for _, d := range inv.Disks {
			if d.Name == name {
				return inv, d, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, inventory.Disk{}, fmt.Errorf("/dev/%s did not appear in sysfs", name)
		}
		select {
		case <-ctx.Done():
			return nil, inventory.Disk{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
