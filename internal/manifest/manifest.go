// Package manifest is an image's provenance: the pinned inputs it was built
// from (build.lock), every file in it with its digest, each kernel
// module's version and srcversion, stock or overlay, and each overlay's
// recipe, patches and source packages. `needle build` writes it into the
// image (ImagePath) and beside the output; the install's receipt
// (internal/install) cites its digest, which binds an installed system to
// the exact image that wrote it.
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/modules"
)

// ImagePath is where the manifest sits in the image.
const ImagePath = "etc/needle/manifest.json"

// LockEntry is one line of build.lock: ROLE PACKAGE VERSION SHA256.
type LockEntry struct {
	Role    string `json:"role"`
	Package string `json:"package"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

var sha256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// FirmwareRole is the build.lock role of the firmware packages: the one
// role that repeats, once per package.
const FirmwareRole = "firmware"

// ParseLock reads build.lock (lock.sh writes it): '#' comments, blank
// lines, and one input per line. A role is pinned once, except
// FirmwareRole, pinned once per package. Errors name the file and line.
func ParseLock(file string, data []byte) ([]LockEntry, error) {
	var out []LockEntry
	seen := map[string]int{}
	var errs []error
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) != 4 {
			errs = append(errs, fmt.Errorf("%s:%d: %d fields, want ROLE PACKAGE VERSION SHA256", file, n, len(f)))
			continue
		}
		if !sha256Re.MatchString(f[3]) {
			errs = append(errs, fmt.Errorf("%s:%d: %s: sha256 %q is not 64 lower-case hex digits", file, n, f[0], trunc(f[3])))
			continue
		}
		key := f[0]
		if key == FirmwareRole {
			key += " " + f[1]
		}
		if prev, ok := seen[key]; ok {
			errs = append(errs, fmt.Errorf("%s:%d: %s already pinned on line %d", file, n, key, prev))
			continue
		}
		seen[key] = n
		out = append(out, LockEntry{Role: f[0], Package: f[1], Version: f[2], SHA256: f[3]})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no entries", file)
	}
	return out, nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// Manifest is the provenance of one image. Its JSON is deterministic
// (lock entries sorted by role, overlays by module, files by path; no
// times): the same inputs give the same bytes. Files lists every entry of
// the image except the manifest itself, which cannot carry its own digest;
// its digest (Sum of the file's bytes) is what the install receipt cites.
//
// Kernel modules are read for their .modinfo when they are plain .ko
// files (Debian's kernels, the reference); a compressed module
// (.ko.xz, .ko.zst, .ko.gz) is listed with its digest like any file but
// without a Module record.
type Manifest struct {
	Needle   string       `json:"needle"` // needle's version
	Kernel   string       `json:"kernel"` // the kernel release the image is for
	Lock     []LockEntry  `json:"lock"`   // empty when built without --lock
	Overlays []Provenance `json:"overlays"`
	Firmware Firmware     `json:"firmware"`
	Files    []File       `json:"files"`
}

// Firmware is what the image carries under /lib/firmware and where it
// comes from.
type Firmware struct {
	Mode     string            `json:"mode"`     // "declared" or "none" (needle build --firmware)
	Packages []FirmwarePackage `json:"packages"` // the packages files were taken from
	// Missing are the files the image's modules declare that no package
	// carries: the loader's diagnosis names them at boot.
	Missing []string `json:"missing"`
}

// FirmwarePackage is one firmware package and the files taken from it.
type FirmwarePackage struct {
	Package string   `json:"package"`
	Version string   `json:"version,omitempty"` // from build.lock; empty without --lock
	SHA256  string   `json:"sha256,omitempty"`
	Files   []string `json:"files"` // under /lib/firmware, sorted
}

// SetFirmware records the image's firmware: mode, the files taken from
// each package (by package name), and the declared files no package
// carries. With a lock, every package must be pinned in it (role
// FirmwareRole), and its version and sha256 are recorded.
func (m *Manifest) SetFirmware(mode string, byPackage map[string][]string, missing []string) error {
	fw := Firmware{Mode: mode, Packages: []FirmwarePackage{}, Missing: slices.Clone(missing)}
	if fw.Missing == nil {
		fw.Missing = []string{}
	}
	slices.Sort(fw.Missing)
	var errs []error
	for pkg, files := range byPackage {
		p := FirmwarePackage{Package: pkg, Files: slices.Clone(files)}
		slices.Sort(p.Files)
		if len(m.Lock) > 0 {
			i := slices.IndexFunc(m.Lock, func(e LockEntry) bool { return e.Role == FirmwareRole && e.Package == pkg })
			if i < 0 {
				errs = append(errs, fmt.Errorf("manifest: firmware package %s is not pinned in the lock (role %s)", pkg, FirmwareRole))
				continue
			}
			p.Version, p.SHA256 = m.Lock[i].Version, m.Lock[i].SHA256
		}
		fw.Packages = append(fw.Packages, p)
	}
	slices.SortFunc(fw.Packages, func(a, b FirmwarePackage) int { return strings.Compare(a.Package, b.Package) })
	m.Firmware = fw
	return errors.Join(errs...)
}

// File is one entry of the image.
type File struct {
	Path   string  `json:"path"`
	Mode   string  `json:"mode"` // st_mode, octal
	Size   int64   `json:"size,omitempty"`
	SHA256 string  `json:"sha256,omitempty"` // regular files
	Link   string  `json:"link,omitempty"`   // symlinks
	Module *Module `json:"module,omitempty"` // kernel modules (*.ko)
}

// Module is what a kernel module file says about itself.
type Module struct {
	Name       string `json:"name"`
	Version    string `json:"version,omitempty"`
	Srcversion string `json:"srcversion,omitempty"`
	Overlay    bool   `json:"overlay"` // under lib/modules/KVER/updates/
}

// Provenance is what modules/build.sh records for an overlay
// (OUT/KVER/provenance/MODULE.json).
type Provenance struct {
	Module   string   `json:"module"`
	Recipe   string   `json:"recipe"`
	Series   string   `json:"series"`
	Kernel   string   `json:"kernel"`
	Source   Package  `json:"source"`
	Headers  Package  `json:"headers"`
	Files    []Digest `json:"files"` // recipe, then patches in the order applied
	KoSHA256 string   `json:"ko_sha256"`
}

// Package is a Debian package an overlay was built from.
type Package struct {
	Package string `json:"package"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// Digest is a named file's sha256.
type Digest struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// ProvenanceFile is where modules/build.sh records an overlay's origin:
// for overlayDir/updates/MODULE.ko, overlayDir/provenance/MODULE.json.
func ProvenanceFile(overlayDir, ko string) string {
	return filepath.Join(overlayDir, "provenance", strings.TrimSuffix(filepath.Base(ko), ".ko")+".json")
}

// ReadProvenance reads the provenance of the overlay ko
// (overlayDir/updates/MODULE.ko, see ProvenanceFile) and checks that it
// describes exactly that file, built for kernel: every overlay must say
// where it came from. Unknown fields are errors, so a record this needle
// does not understand is never half copied into a manifest.
func ReadProvenance(overlayDir, ko, kernel string) (Provenance, error) {
	mod := strings.TrimSuffix(filepath.Base(ko), ".ko")
	file := ProvenanceFile(overlayDir, ko)
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return Provenance{}, fmt.Errorf("overlay %s: no provenance file %s (modules/build.sh writes it; every overlay must say where it came from)", ko, file)
	}
	if err != nil {
		return Provenance{}, fmt.Errorf("overlay %s: %w", ko, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var p Provenance
	if err := dec.Decode(&p); err != nil {
		return Provenance{}, fmt.Errorf("%s: %w", file, err)
	}
	if modules.Normalize(p.Module) != modules.Normalize(mod) {
		return Provenance{}, fmt.Errorf("%s: describes module %q, not %s", file, p.Module, ko)
	}
	if p.Kernel != kernel {
		return Provenance{}, fmt.Errorf("%s: %s was built for kernel %q, the image carries %s: rebuild the overlay with modules/build.sh --kver %s", file, mod, p.Kernel, kernel, kernel)
	}
	data, err := os.ReadFile(ko)
	if err != nil {
		return Provenance{}, fmt.Errorf("overlay %s: %w", ko, err)
	}
	if sum := hexSum(data); p.KoSHA256 != sum {
		return Provenance{}, fmt.Errorf("%s describes a module with sha256 %s, but %s has %s: rebuild the overlay", file, p.KoSHA256, ko, sum)
	}
	return p, nil
}

// FromArchive lists every entry of the finished archive (before the
// manifest itself is added) with its digest and, for kernel modules, their
// .modinfo.
func FromArchive(a *initramfs.Archive, needle, kernel string, lock []LockEntry, overlays []Provenance) (Manifest, error) {
	m := Manifest{Needle: needle, Kernel: kernel, Lock: slices.Clone(lock), Overlays: slices.Clone(overlays), Files: []File{},
		Firmware: Firmware{Mode: "none", Packages: []FirmwarePackage{}, Missing: []string{}}}
	if m.Lock == nil {
		m.Lock = []LockEntry{}
	}
	if m.Overlays == nil {
		m.Overlays = []Provenance{}
	}
	// Sorted, so that the manifest depends on what the inputs are, not on
	// the order they were listed in.
	slices.SortFunc(m.Lock, func(a, b LockEntry) int {
		if c := strings.Compare(a.Role, b.Role); c != 0 {
			return c
		}
		return strings.Compare(a.Package, b.Package)
	})
	slices.SortFunc(m.Overlays, func(a, b Provenance) int { return strings.Compare(a.Module, b.Module) })
	updates := path.Join("lib/modules", kernel, "updates") + "/"
	for _, e := range a.Entries() {
		f := File{Path: e.Path, Mode: fmt.Sprintf("%06o", e.Mode), Size: e.Size()}
		switch e.Mode & 0o170000 {
		case 0o100000:
			data, err := e.Data()
			if err != nil {
				return Manifest{}, fmt.Errorf("manifest: %s: %w", e.Path, err)
			}
			f.SHA256 = hexSum(data)
			if strings.HasSuffix(e.Path, ".ko") {
				info, err := modules.InfoOf(data)
				if err != nil {
					return Manifest{}, fmt.Errorf("manifest: module %s: %w", e.Path, err)
				}
				f.Module = &Module{Name: modules.Normalize(strings.TrimSuffix(path.Base(e.Path), ".ko")),
					Version: info.Version, Srcversion: info.Srcversion, Overlay: strings.HasPrefix(e.Path, updates)}
			}
		case 0o120000:
			f.Link = e.Link
		}
		m.Files = append(m.Files, f)
	}
	return m, nil
}

// JSON is the manifest's canonical encoding.
func (m Manifest) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Sum is the digest the receipt cites: of the manifest file's bytes.
func Sum(data []byte) string { return "sha256:" + hexSum(data) }

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
