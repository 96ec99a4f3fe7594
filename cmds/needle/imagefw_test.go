package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/needle-boot/needle/internal/firmware"
	"github.com/needle-boot/needle/internal/manifest"
	"github.com/needle-boot/needle/internal/testenv"
	"github.com/needle-boot/needle/modules"
)

// imageEntry is what TestImageFirmware keeps of one entry of the image.
type imageEntry struct {
	mode uint32
	size int64
	link string
}

// readImage reads a newc archive (an independent reader, not the
// builder's), keeping each entry's mode, size and link target, the bytes
// of the files keep selects, and calling ko for each kernel module's bytes.
func readImage(r io.Reader, keep func(string) bool, ko func(name string, data []byte) error) (map[string]imageEntry, map[string][]byte, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	entries, kept := map[string]imageEntry{}, map[string][]byte{}
	var off int64
	skip := func(n int64) error {
		_, err := io.CopyN(io.Discard, br, n)
		off += n
		return err
	}
	pad := func() error { return skip((4 - off%4) % 4) }
	for {
		h := make([]byte, 110)
		if _, err := io.ReadFull(br, h); err != nil {
			return nil, nil, fmt.Errorf("header at %d: %w", off, err)
		}
		off += 110
		if string(h[:6]) != "070701" {
			return nil, nil, fmt.Errorf("bad magic %q at %d", h[:6], off-110)
		}
		field := func(i int) int64 {
			v, _ := strconv.ParseUint(string(h[6+8*i:14+8*i]), 16, 32)
			return int64(v)
		}
		mode, size, namesize := uint32(field(1)), field(6), field(11)
		nb := make([]byte, namesize)
		if _, err := io.ReadFull(br, nb); err != nil {
			return nil, nil, err
		}
		off += namesize
		name := strings.TrimRight(string(nb), "\x00")
		if err := pad(); err != nil {
			return nil, nil, err
		}
		if name == "TRAILER!!!" {
			return entries, kept, nil
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(br, data); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		off += size
		if err := pad(); err != nil {
			return nil, nil, err
		}
		e := imageEntry{mode: mode, size: size}
		switch {
		case mode&0o170000 == 0o120000:
			e.link = string(data)
		case strings.HasSuffix(name, ".ko"):
			if err := ko(name, data); err != nil {
				return nil, nil, err
			}
		case keep(name):
			kept[name] = data
		}
		entries[name] = e
	}
}

// TestImageFirmware reads the built image (./build.sh's
// out/needle.cpio.zst): every firmware file bnx2x and qed declare is
// there as a regular file (through its links), the manifest names the
// packages they came from, and /lib/firmware holds nothing but declared
// files and the targets of their links, never whole packages.
func TestImageFirmware(t *testing.T) {
	root := testenv.RepoRoot(t)
	img := filepath.Join(root, "out/needle.cpio.zst")
	f, err := os.Open(img)
	if err != nil {
		testenv.Unavailable(t, "the built image: %v (run ./build.sh)", err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	declaredBy := map[string][]string{} // module → its declared files, from the image's own .ko files
	entries, kept, err := readImage(zr, func(n string) bool { return n == manifest.ImagePath }, func(name string, data []byte) error {
		info, err := modules.InfoOf(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		mod := modules.Normalize(strings.TrimSuffix(path.Base(name), ".ko"))
		declaredBy[mod] = append(declaredBy[mod], info.Firmware...)
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", img, err)
	}
	var m manifest.Manifest
	if err := json.Unmarshal(kept[manifest.ImagePath], &m); err != nil {
		t.Fatalf("%s: %s: %v", img, manifest.ImagePath, err)
	}
	if m.Firmware.Mode != "declared" {
		testenv.Unavailable(t, "%s was built with --firmware %s", img, m.Firmware.Mode)
	}

	// resolve follows links inside the image to a regular file.
	resolve := func(name string) (string, imageEntry, bool) {
		for range 10 {
			e, ok := entries[name]
			switch {
			case !ok:
				return name, e, false
			case e.link == "":
				return name, e, e.mode&0o170000 == 0o100000
			}
			name = path.Clean(path.Join(path.Dir(name), e.link))
		}
		return name, imageEntry{}, false
	}
	fromPackage := map[string]string{}
	for _, p := range m.Firmware.Packages {
		for _, n := range p.Files {
			fromPackage[n] = p.Package
		}
	}
	for mod, pkg := range map[string]string{"bnx2x": "firmware-bnx2x", "qed": "firmware-qlogic"} {
		if len(declaredBy[mod]) == 0 {
			t.Errorf("the image's %s declares no firmware (is the module in the image?)", mod)
		}
		for _, n := range declaredBy[mod] {
			p := path.Join(firmware.Dir, n)
			if got, e, ok := resolve(p); !ok || e.size == 0 {
				t.Errorf("%s declares %s: the image's %s (→ %s) is not a non-empty file", mod, n, p, got)
			}
			if fromPackage[n] != pkg {
				t.Errorf("manifest: %s comes from %q, want %s", n, fromPackage[n], pkg)
			}
		}
	}

	// Nothing but declared files and the files their links lead to.
	allowed := map[string]bool{}
	for _, names := range declaredBy {
		for _, n := range names {
			p := path.Join(firmware.Dir, n)
			for range 10 {
				allowed[p] = true
				e, ok := entries[p]
				if !ok || e.link == "" {
					break
				}
				p = path.Clean(path.Join(path.Dir(p), e.link))
			}
		}
	}
	files := 0
	for name, e := range entries {
		if !strings.HasPrefix(name, firmware.Dir+"/") || e.mode&0o170000 == 0o040000 {
			continue
		}
		files++
		if !allowed[name] {
			t.Errorf("the image carries %s, which no module declares nor a declared link leads to", name)
		}
	}
	t.Logf("%s: %d firmware files and links, %d declared files missing", img, files, len(m.Firmware.Missing))
}
