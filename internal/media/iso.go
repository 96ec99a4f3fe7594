package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"

	"github.com/needle-boot/needle/internal/disk"
)

// EFIImagePath is the El Torito UEFI boot image inside the ISO tree.
const EFIImagePath = "boot/efiboot.img"

const isoSector = 2048

// ISO writes an ISO9660 image (Rock Ridge names) whose El Torito catalog
// has one UEFI no-emulation entry: a FAT32 image holding systemd-boot, its
// loader entries, the kernel, the initramfs and the optional plan/hwdb. The
// same files are also plain files of the ISO tree. The image is hybrid: a
// GPT in the ISO's system area (the first 32 KiB, which ISO9660 leaves to
// the system) has one ESP partition over the El Torito image, so the ISO
// written to a USB stick boots like `needle usb`'s image.
func (s Stick) ISO(out string) (*Image, error) {
	b, err := s.prepare("iso", out)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.tmp)
	sd, volID, err := seed(b.files)
	if err != nil {
		return nil, err
	}

	// The El Torito image. Its size is a multiple of the ISO's 2 KiB
	// sector (it is, in MiB) so the hybrid partition ends on it exactly.
	fatSize := fatSizeFor(b.content)
	img := filepath.Join(b.tmp, "efiboot.img")
	fi, err := os.Create(img)
	if err != nil {
		return nil, err
	}
	err = fi.Truncate(fatSize)
	if err == nil {
		err = disk.MakeFAT32(fi, fatSize, os.DirFS(b.esp), disk.FATOptions{Label: Label, VolumeID: volID})
	}
	if cerr := fi.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("El Torito image: %w", err)
	}

	// The ISO tree: the ESP's files plus the boot image. go-diskfs removes
	// its workspace when it finalizes, so it gets a directory of its own.
	ws := filepath.Join(b.tmp, "tree")
	if _, err := stage(ws, b.files); err != nil {
		return nil, err
	}
	if _, err := stage(ws, map[string]espFile{EFIImagePath: {src: img}}); err != nil {
		return nil, err
	}
	part := filepath.Join(b.tmp, "image.iso")
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	isofs, err := iso9660.Create(file.New(f, false), 0, 0, isoSector, ws)
	if err != nil {
		return nil, fmt.Errorf("iso9660: %w", err)
	}
	err = isofs.Finalize(iso9660.FinalizeOptions{
		RockRidge:        true,
		VolumeIdentifier: Label,
		ElTorito: &iso9660.ElTorito{
			BootCatalog: "/boot/boot.cat",
			Entries: []*iso9660.ElToritoEntry{
				{Platform: iso9660.EFI, Emulation: iso9660.NoEmulation, BootFile: "/" + EFIImagePath},
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("iso9660 finalize: %w", err)
	}
	if err := fixISOTimes(f, isoTime); err != nil {
		return nil, fmt.Errorf("iso9660 timestamps: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	isoBytes := st.Size()
	efiSector, err := ElToritoImage(f)
	if err != nil {
		return nil, fmt.Errorf("reading back the boot catalog: %w", err)
	}

	// Hybrid: pad to whole MiB plus room for the backup GPT, then a GPT
	// whose only partition is the El Torito image (an ESP): UEFI firmware
	// booting the disk finds systemd-boot there, and the ISO9660 volume
	// descriptors at 32 KiB stay untouched.
	total := (isoBytes+disk.Align-1)/disk.Align*disk.Align + disk.Align
	if err := f.Truncate(total); err != nil {
		return nil, err
	}
	espStart := int64(efiSector) * isoSector
	pl := disk.Placement{Table: "gpt", DiskSize: total, SectorSize: 512, DiskGUID: disk.DeriveUUID(sd, "iso"),
		Partitions: []disk.Placed{{Number: 1, Name: Label, Type: "esp", TypeGUID: espTypeGUID(),
			Start: espStart, Size: fatSize, PartUUID: disk.DeriveUUID(sd, "iso", Label)}}}
	if err := disk.WriteTable(file.New(f, false), pl, b.log); err != nil {
		return nil, fmt.Errorf("hybrid GPT: %w", err)
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(part, out); err != nil {
		return nil, err
	}
	return &Image{Path: out, Size: total, ISOBytes: isoBytes, EFIImage: espStart, ESPStart: espStart, ESPSize: fatSize,
		DiskGUID: pl.DiskGUID, PartUUID: pl.Partitions[0].PartUUID, Contents: sortedKeys(b.files)}, nil
}

func espTypeGUID() string {
	for _, t := range disk.PartTypes() {
		if t.Name == "esp" {
			return t.GPT
		}
	}
	return ""
}

// ElToritoImage returns the 2 KiB sector of the first boot image in an
// ISO's El Torito catalog. The boot record volume descriptor (type 0,
// "EL TORITO SPECIFICATION") holds the catalog's sector at byte 0x47; the
// catalog's validation entry is 32 bytes, the initial entry follows with
// its image's sector at bytes 8-11 ("El Torito" Bootable CD-ROM Format
// Specification 1.0, sections 2.0 and 2.2).
func ElToritoImage(r io.ReaderAt) (uint32, error) {
	vd := make([]byte, isoSector)
	for s := int64(16); s < 16+64; s++ {
		if _, err := r.ReadAt(vd, s*isoSector); err != nil {
			return 0, fmt.Errorf("volume descriptor at sector %d: %w", s, err)
		}
		if string(vd[1:6]) != "CD001" {
			return 0, fmt.Errorf("sector %d: not an ISO9660 volume descriptor", s)
		}
		switch vd[0] {
		case 255:
			return 0, errors.New("no El Torito boot record")
		case 0:
			if string(vd[7:30]) != "EL TORITO SPECIFICATION" {
				continue
			}
			cat := binary.LittleEndian.Uint32(vd[0x47:])
			c := make([]byte, 64)
			if _, err := r.ReadAt(c, int64(cat)*isoSector); err != nil {
				return 0, fmt.Errorf("boot catalog at sector %d: %w", cat, err)
			}
			if c[0] != 1 || c[0x1e] != 0x55 || c[0x1f] != 0xaa {
				return 0, fmt.Errorf("boot catalog at sector %d: bad validation entry", cat)
			}
			if c[32] != 0x88 {
				return 0, fmt.Errorf("boot catalog at sector %d: initial entry is not bootable (0x%02x)", cat, c[32])
			}
			return binary.LittleEndian.Uint32(c[32+8:]), nil
		}
	}
	return 0, errors.New("no volume descriptor set terminator in 64 sectors")
}
