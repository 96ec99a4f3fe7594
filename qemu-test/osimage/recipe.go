package osimage

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed files
var files embed.FS

// Recipe is everything that decides the image's content. Its Key names
// the cache entry: change a package, a file or a size rule and the next
// Ensure builds a new image.
type Recipe struct {
	Suite   string
	Variant string
	// Packages are debootstrap's --include list on top of minbase.
	Packages []string
	// Label is the ext4 volume label (mkfs.ext4 -L).
	Label string
	// Headroom is the free share of the filesystem, in percent of the
	// tree's size, added when sizing the image.
	Headroom int
	// Files are copied into the tree before configure.sh runs.
	Files []Placement
	// Lock is the sha256 of the build.lock the image is built under
	// (Ensure fills it from Options.LockFile when empty): a re-pinned
	// build is never tested against an OS image cached under another lock.
	Lock string
}

// Placement puts one embedded file into the tree.
type Placement struct {
	Src  string // under files/
	Dst  string // absolute path in the tree
	Mode fs.FileMode
}

// DefaultRecipe is the image the QEMU end-to-end tests install.
func DefaultRecipe() Recipe {
	return Recipe{
		Suite:   "bookworm",
		Variant: "minbase",
		Packages: []string{
			// Kernel, init and device manager: boots, and udev makes the
			// /dev/disk/by-* links the initramfs resolves root= with.
			"linux-image-amd64", "systemd-sysv", "udev", "kmod",
			// The initrd builder with the default compressor and a real
			// shell for initramfs debugging; mdadm adds its hook and
			// assembles md RAID1 in the initrd.
			"initramfs-tools", "zstd", "busybox", "mdadm",
			// fsck.ext4 for systemd-fsck-root; login and passwd for the
			// serial login.
			"e2fsprogs", "login", "passwd",
		},
		Label:    "needle-root",
		Headroom: 30,
		Files: []Placement{
			{"needle-marker", "/usr/local/sbin/needle-marker", 0o755},
			{"needle-marker.service", "/etc/systemd/system/needle-marker.service", 0o644},
			{"fstab", "/etc/fstab", 0o644},
			{"mdadm.conf", "/etc/mdadm/mdadm.conf", 0o644},
			{"initramfs.conf", "/etc/initramfs-tools/conf.d/needle.conf", 0o644},
			{"modules", "/etc/initramfs-tools/modules", 0o644},
			{"configure.sh", configureScript, 0o755},
		},
	}
}

// configureScript is where configure.sh sits in the tree while it runs
// (chroot), removed afterwards.
const configureScript = "/needle-configure.sh"

// recipeVersion changes when the Go side of the build changes in a way the
// fields do not show (mkfs options, compression level).
const recipeVersion = "osimage-3"

// Key hashes the recipe and the content of every file it places.
func (r Recipe) Key() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\nsuite=%s\nvariant=%s\nlabel=%s\nheadroom=%d\nlock=%s\n", recipeVersion, r.Suite, r.Variant, r.Label, r.Headroom, r.Lock)
	pkgs := append([]string(nil), r.Packages...)
	sort.Strings(pkgs)
	fmt.Fprintf(h, "packages=%s\n", strings.Join(pkgs, ","))
	for _, p := range r.Files {
		data, err := files.ReadFile("files/" + p.Src)
		if err != nil {
			return "", fmt.Errorf("recipe file %s: %w", p.Src, err)
		}
		fmt.Fprintf(h, "file %s %s %o %d\n", p.Src, p.Dst, p.Mode, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
