package media

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/fileutil"
)

// Paths on the ESP (the stick's, and the ISO's El Torito image). systemd-boot
// reads loader/ and the entry's linux/initrd paths from the volume it was
// started from (systemd's Boot Loader Specification,
// https://uapi-group.org/specifications/specs/boot_loader_specification/).
const (
	Label       = "NEEDLE" // FAT volume label, GPT partition name, ISO volume ID
	Dir         = "needle" // kernel, initrd, plan and hwdb.d live here
	LoaderPath  = "EFI/BOOT/BOOTX64.EFI"
	LoaderConf  = "loader/loader.conf"
	EntryPath   = "loader/entries/needle.conf"
	PlanName    = "plan.yaml"
	PlanSigName = "plan.yaml.sig"
	HWDBDirName = "hwdb.d"
	// MediaKey tells the init which medium it booted from, so it waits for
	// a slow USB stick to appear instead of looking once.
	MediaKey = "needle.media"
)

// Stick is what goes on a USB stick or an ISO.
type Stick struct {
	Kernel, Initrd string
	// Loader is systemd-boot's EFI binary (Debian's systemd-boot-efi:
	// usr/lib/systemd/boot/efi/systemd-bootx64.efi).
	Loader    string
	Plan      string // optional plan file; Plan+".sig" goes along when present
	HWDBExtra string // optional directory of extra hwdb rules (*.yaml)
	Append    string // extra kernel arguments
	Log       *slog.Logger
}

// espFile is one file of the ESP: a host file, or generated content.
type espFile struct {
	src  string // host file, or "" for data
	data []byte
}

// Entry is loader/entries/needle.conf for medium ("usb" or "iso").
func Entry(medium, appendArgs string) []byte {
	opts := MediaKey + "=" + medium
	if a := strings.TrimSpace(appendArgs); a != "" {
		opts += " " + a
	}
	return fmt.Appendf(nil, "title needle\nlinux /%s/%s\ninitrd /%s/%s\noptions %s\n", Dir, KernelName, Dir, InitrdName, opts)
}

// LoaderConfig is loader/loader.conf: boot the needle entry at once.
func LoaderConfig() []byte {
	return []byte("default needle\ntimeout 0\n")
}

// files lists the ESP's content for medium.
func (s Stick) files(medium string) (map[string]espFile, error) {
	if s.Loader == "" {
		return nil, errors.New("no systemd-boot EFI binary: pass --systemd-boot FILE (Debian package systemd-boot-efi)")
	}
	m := map[string]espFile{
		LoaderPath:             {src: s.Loader},
		LoaderConf:             {data: LoaderConfig()},
		EntryPath:              {data: Entry(medium, s.Append)},
		Dir + "/" + KernelName: {src: s.Kernel},
		Dir + "/" + InitrdName: {src: s.Initrd},
		Dir + "/README.txt":    {data: []byte(stickReadme)},
	}
	if s.Plan != "" {
		m[Dir+"/"+PlanName] = espFile{src: s.Plan}
		if _, err := os.Stat(s.Plan + ".sig"); err == nil {
			m[Dir+"/"+PlanSigName] = espFile{src: s.Plan + ".sig"}
		}
	}
	if s.HWDBExtra != "" {
		ents, err := os.ReadDir(s.HWDBExtra)
		if err != nil {
			return nil, fmt.Errorf("hwdb extra rules: %w", err)
		}
		n := 0
		for _, e := range ents {
			if e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				m[Dir+"/"+HWDBDirName+"/"+e.Name()] = espFile{src: filepath.Join(s.HWDBExtra, e.Name())}
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("hwdb extra rules: %s holds no *.yaml file", s.HWDBExtra)
		}
	}
	for name, f := range m {
		if f.src == "" {
			continue
		}
		fi, err := os.Stat(f.src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: %s is not a regular file", name, f.src)
		}
	}
	return m, nil
}

const stickReadme = `needle boot medium (written by "needle usb" or "needle iso").

vmlinuz and initrd boot through systemd-boot (EFI/BOOT/BOOTX64.EFI,
loader/entries/needle.conf holds the kernel command line). A plan.yaml here
(with plan.yaml.sig when plans are signed) is the install plan; hwdb.d/*.yaml
are extra hardware rules. needle mounts this volume read-only and never
erases the disk it booted from.
`

// stage lays the files out under dir (hard links where possible, copies
// otherwise) and returns the total size of their content.
func stage(dir string, files map[string]espFile) (int64, error) {
	var total int64
	names := sortedKeys(files)
	for _, name := range names {
		f := files[name]
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return 0, err
		}
		if f.src == "" {
			if err := os.WriteFile(dst, f.data, 0o644); err != nil {
				return 0, err
			}
			total += int64(len(f.data))
			continue
		}
		if err := os.Link(f.src, dst); err != nil {
			if err := fileutil.Copy(f.src, dst); err != nil {
				return 0, err
			}
		}
		fi, err := os.Stat(dst)
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}

// fatSizeFor is a FAT32 volume size that holds content bytes with room for
// the FATs, directories and slack: a quarter more plus 8 MiB, at least
// 40 MiB (FAT32 needs 65525 clusters: about 33 MiB with 512-byte clusters),
// rounded to MiB.
func fatSizeFor(content int64) int64 {
	n := content + content/4 + 8<<20
	n = max(n, 40<<20)
	return (n + disk.Align - 1) / disk.Align * disk.Align
}

// seed derives the image's identifiers (disk GUID, PARTUUID, FAT serial)
// from its content, so the same inputs give the same image and different
// builds different identifiers.
func seed(files map[string]espFile) (string, uint32, error) {
	h := sha256.New()
	for _, name := range sortedKeys(files) {
		f := files[name]
		fmt.Fprintf(h, "%s\x00", name)
		if f.src == "" {
			h.Write(f.data)
			continue
		}
		in, err := os.Open(f.src)
		if err != nil {
			return "", 0, err
		}
		_, err = io.Copy(h, in)
		in.Close()
		if err != nil {
			return "", 0, fmt.Errorf("read %s: %w", f.src, err)
		}
	}
	sum := h.Sum(nil)
	return fmt.Sprintf("needle-%x", sum[:8]), binary.LittleEndian.Uint32(sum[8:12]), nil
}

// Image describes a written image.
type Image struct {
	Path     string
	Size     int64
	ESPStart int64 // bytes
	ESPSize  int64
	DiskGUID string
	PartUUID string
	ISOBytes int64 // ISO: the ISO9660 part (before the backup GPT)
	EFIImage int64 // ISO: offset of the El Torito image
	Contents []string
}

// prepared is what USB and ISO start from: the logger, the medium's files,
// and those files staged in esp (content bytes) under tmp, a scratch
// directory next to the output that the caller removes.
type prepared struct {
	log      *slog.Logger
	files    map[string]espFile
	tmp, esp string
	content  int64
}

func (s Stick) prepare(medium, out string) (*prepared, error) {
	p := &prepared{log: s.Log}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if p.files, err = s.files(medium); err != nil {
		return nil, err
	}
	if p.tmp, err = os.MkdirTemp(filepath.Dir(out), ".needle-"+medium+"-"); err != nil {
		return nil, err
	}
	p.esp = filepath.Join(p.tmp, "esp")
	if p.content, err = stage(p.esp, p.files); err != nil {
		os.RemoveAll(p.tmp)
		return nil, err
	}
	return p, nil
}

// USB writes a GPT disk image of size bytes (0: as small as the content
// allows) with one FAT32 ESP labelled NEEDLE.
func (s Stick) USB(out string, size int64) (*Image, error) {
	b, err := s.prepare("usb", out)
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(b.tmp)
	// 1 MiB before the ESP (protective MBR, GPT, alignment), 1 MiB after
	// (the backup GPT, rounded to the alignment).
	minSize := disk.Align + fatSizeFor(b.content) + disk.Align
	if size == 0 {
		size = minSize
	}
	if size < minSize {
		return nil, fmt.Errorf("--size %s is too small: the b.content needs %s", disk.FormatSize(size), disk.FormatSize(minSize))
	}
	sd, volID, err := seed(b.files)
	if err != nil {
		return nil, err
	}
	pl, err := disk.Place(disk.Layout{Table: "gpt", Partitions: []disk.PartSpec{{Name: Label, Type: "esp", Size: "rest"}}},
		size, 512, sd, "usb")
	if err != nil {
		return nil, err
	}
	esp := pl.Partitions[0]
	part := filepath.Join(b.tmp, "image")
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return nil, err
	}
	if err := disk.WriteTable(file.New(f, false), pl, b.log); err != nil {
		return nil, err
	}
	if err := disk.MakeFAT32(io.NewOffsetWriter(f, esp.Start), esp.Size, os.DirFS(filepath.Join(b.tmp, "esp")),
		disk.FATOptions{Label: Label, VolumeID: volID, Hidden: uint32(esp.Start / 512)}); err != nil {
		return nil, fmt.Errorf("ESP of %s: %w", out, err)
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
	return &Image{Path: out, Size: size, ESPStart: esp.Start, ESPSize: esp.Size, DiskGUID: pl.DiskGUID,
		PartUUID: esp.PartUUID, Contents: sortedKeys(b.files)}, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// walkFiles lists the regular files under root, slash-separated.
func walkFiles(root string) ([]string, error) {
	var out []string
	err := fs.WalkDir(os.DirFS(root), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}
