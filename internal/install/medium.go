package install

import (
	"context"
	"errors"
	"time"

	"github.com/needle-boot/needle/hwdb"
	"github.com/needle-boot/needle/internal/bootmedia"
)

// findMedium looks for the stick or CD needle booted from (a FAT volume
// labelled NEEDLE, or an ISO9660 one). Found, it is never a disk the plan
// may erase, its plan wins over any other, and its extra hwdb rules join
// the built-in ones. Not found is normal for a netboot.
func (m *Machine) findMedium(ctx context.Context, mods *Modules) error {
	if mods.closeLoader != nil {
		defer mods.closeLoader() // the last step that loads drivers for devices
	}
	f := &bootmedia.Finder{Root: m.Root, MountDir: m.run("media"),
		Log: m.Report.Slog("modules", m.Config.Debug)}
	f.HostMount()
	// When the boot entry says there is a medium (needle.media=), give a
	// slow stick time: a USB device enumerates seconds after its host
	// controller, then needs usb-storage, then sd_mod for its disk, so
	// coldplug runs again while we wait.
	deadline := time.Now()
	if m.Config.Media != "" {
		deadline = deadline.Add(30 * time.Second)
	}
	med, err := f.Find(ctx)
	for errors.Is(err, bootmedia.ErrNotFound) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if err := mods.rescan(ctx); err != nil {
			return err
		}
		med, err = f.Find(ctx)
	}
	if errors.Is(err, bootmedia.ErrNotFound) {
		if m.Config.Media != "" {
			return err // booted from a stick or CD that cannot be found: something is wrong
		}
		m.Report.Infof("modules", "no needle boot medium (netboot)")
		return nil
	}
	if err != nil {
		return err
	}
	mods.Medium = med
	m.Report.Infof("modules", "boot medium: /dev/%s (%s %q) mounted on %s; it is never erased unless the plan names it", med.Device, med.FSType, med.Label, med.MountPoint)
	if med.HWDBDir != "" {
		db, err := LoadHWDB(m.ConfigDir, hwdb.Dir(med.HWDBDir))
		if err != nil {
			return err
		}
		mods.HWDB = db
		m.Report.Infof("modules", "hwdb rules from %s added: they choose RAID tools; drivers already loaded stay", med.HWDBDir)
	}
	return nil
}
