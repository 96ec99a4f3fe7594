package main

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/internal/firmware"
)

// Firmware modes of `needle build --firmware`.
const (
	firmwareDeclared = "declared" // every declared file a --firmware-source carries
	firmwareNone     = "none"
)

// firmwareSources parses --firmware-source PKG=DIR values, in the order
// given (the first package that carries a file gives it).
func firmwareSources(vals []string) ([]firmware.Source, error) {
	var out []firmware.Source
	seen := map[string]bool{}
	for _, v := range vals {
		pkg, dir, ok := strings.Cut(v, "=")
		if !ok || pkg == "" || dir == "" {
			return nil, fmt.Errorf("--firmware-source %q: want PACKAGE=DIR (an unpacked package)", v)
		}
		if seen[pkg] {
			return nil, fmt.Errorf("--firmware-source %s given twice", pkg)
		}
		seen[pkg] = true
		if !firmwareDirOK(dir) {
			return nil, fmt.Errorf("--firmware-source %s: %s holds neither lib/firmware nor usr/lib/firmware", pkg, dir)
		}
		out = append(out, firmware.Source{Package: pkg, Dir: dir})
	}
	return out, nil
}

// addFirmware adds to the image every firmware file its modules declare
// (declared: module → names) that one of the sources carries, with the
// links they need, and reports what it added and what no package carries.
func addFirmware(spec *initramfs.Spec, declared map[string][]string, sources []firmware.Source, report io.Writer) (firmware.Selection, error) {
	decl := firmware.Declare(declared)
	if len(sources) == 0 {
		if len(decl) > 0 {
			fmt.Fprintf(report, "firmware: no --firmware-source given: none of the %d files the modules declare is in the image\n", len(decl))
		}
		return firmware.Selection{Missing: decl}, nil
	}
	sel, err := firmware.Select(decl, sources)
	if err != nil {
		return firmware.Selection{}, err
	}
	links := 0
	for _, f := range sel.Files {
		dest := path.Join("/", firmware.Dir, f.Name)
		switch {
		case f.Link != "":
			links++
			spec.Files = append(spec.Files, initramfs.File{Dest: dest, Link: f.Link})
		case f.Src != "":
			spec.Files = append(spec.Files, initramfs.File{Src: f.Src, Dest: dest, Mode: 0o644})
		default:
			spec.Files = append(spec.Files, initramfs.File{Dest: dest, Data: f.Data, Mode: 0o644})
		}
	}
	fmt.Fprintf(report, "firmware: added %d files (%d links), %d bytes (%.1f MiB), for %d of the %d declared files, from %d packages\n",
		len(sel.Files), links, sel.Bytes(), float64(sel.Bytes())/(1<<20), len(decl)-len(sel.Missing), len(decl), len(sel.Packages()))
	if len(sel.Missing) > 0 {
		var names []string
		for _, s := range sources {
			names = append(names, s.Package)
		}
		fmt.Fprintf(report, "firmware: %d declared files are in none of %s (the loader names them at boot if a device needs one):\n",
			len(sel.Missing), strings.Join(names, ", "))
		for _, m := range sel.Missing {
			fmt.Fprintf(report, "  %s (%s)\n", m.Name, strings.Join(m.Modules, ", "))
		}
	}
	return sel, nil
}

// firmwareManifest is the manifest's view of a selection: files by
// package, and the missing names.
func firmwareManifest(sel firmware.Selection) (byPackage map[string][]string, missing []string) {
	byPackage = sel.Packages()
	for _, m := range sel.Missing {
		missing = append(missing, m.Name)
	}
	return byPackage, missing
}

// firmwareDirOK tells a plausible unpacked package from a typo.
func firmwareDirOK(dir string) bool {
	for _, d := range []string{"lib/firmware", "usr/lib/firmware"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}
