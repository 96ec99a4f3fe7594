package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/needle-boot/needle/initramfs"
	"github.com/needle-boot/needle/internal/fileutil"
	"github.com/needle-boot/needle/internal/firmware"
	"github.com/needle-boot/needle/internal/install"
	"github.com/needle-boot/needle/internal/manifest"
	"github.com/needle-boot/needle/internal/plan"
)

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("build", stderr)
	var (
		kernelDir = fs.String("kernel-dir", "", "kernel tree: `DIR` holding boot/vmlinuz-KVER and lib/modules/KVER (dpkg -x of a linux-image deb)")
		kver      = fs.String("kver", "", "kernel release, when --kernel-dir holds several")
		initBin   = fs.String("init", "", "PID 1 binary (default: init next to this needle binary)")
		needleBin = fs.String("needle", "", "needle CLI for the image (default: this binary; \"none\" for none)")
		busybox   = fs.String("busybox", "", "static busybox for the debug shell and core tools")
		codec     = fs.String("compress", "zstd", "compression: zstd, xz (CRC32 check), gzip or none")
		out       = fs.String("out", "out/needle.cpio.zst", "output `FILE`")
		kernelOut = fs.String("kernel-out", "", "also copy the kernel's vmlinuz to `FILE`")
		toolRoot  = fs.String("tool-root", "/", "root the --tool libraries are resolved against")
		ver       = fs.String("version", version, "version written to /etc/needle/version")
		planFile  = fs.String("plan", "", "install plan `FILE` baked into the image (USB and ISO boots); FILE.sig goes along when it exists")
		planKey   = fs.String("plan-key", "", "ed25519 public keys `FILE`: with it, the image refuses unsigned or badly signed plans")
		caFile    = fs.String("ca", "", "PEM CA bundle `FILE` trusted for HTTPS besides the system roots")
		sysCA     = fs.String("system-ca", "/etc/ssl/certs/ca-certificates.crt", "the build host's CA bundle to carry (\"\" for none)")
		pciIDs    = fs.String("pci-ids", "", "pci.ids `FILE` so the inventory names PCI devices")
		hwdbExtra = fs.String("hwdb-extra", "", "`DIR` of extra hwdb rule files (*.yaml) for /etc/needle/hwdb.d")
		modSet    = fs.String("modules", "all", "module classes: all, none, or a list of storage,network,md,filesystem,usb-storage")
		overlay   = fs.String("overlay-dir", "", "patched modules: `DIR` holding updates/*.ko (and provenance/*.json) built by modules/build.sh")
		lockFile  = fs.String("lock", "", "build.lock `FILE`: the pinned inputs, recorded in the manifest")
		manifestF = fs.String("manifest", "", "also write the manifest to `FILE` (default: needle.manifest.json beside --out)")
		fwMode    = fs.String("firmware", firmwareDeclared, "firmware in /lib/firmware: declared (every file the image's modules declare that a --firmware-source carries) or none")
		fwSrcs    multiFlag
		tools     multiFlag
		files     multiFlag
		mods      multiFlag
		hardware  multiFlag
	)
	fs.Var(&hardware, "hardware", "inventory JSON `FILE` (needle inventory --json); PCI drivers are narrowed to what these boxes need (repeatable)")
	fs.Var(&tools, "tool", "ELF program `SRC[:DEST]` added with its shared libraries (repeatable)")
	fs.Var(&tools, "vendor-tool", "a RAID vendor tool `PATH[:DEST]` (sas2ircu, storcli, …), same as --tool: installed in /bin with its shared libraries")
	fs.Var(&files, "file", "plain file `SRC:DEST` (repeatable)")
	var imageHosts listFlag
	fs.Var(&imageHosts, "image-host", "the only `HOST`[:PORT] the plan's image and file URLs may name (repeatable, comma-separated); baked into /etc/needle/image-hosts")
	fs.Var(&mods, "module", "kernel module `NAME` (or path under lib/modules/KVER) to include (repeatable)")
	fs.Var(&fwSrcs, "firmware-source", "unpacked firmware package `PKG=DIR` (dpkg-deb -x) the declared files are taken from; the first that carries a file gives it (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("build: unexpected argument %q", fs.Arg(0))
	}
	// What is baked in is checked as the ramdisk will read it, before the
	// build: a private key given as --plan-key is refused, as is a plan
	// the ramdisk would refuse.
	if *planKey != "" {
		kd, err := os.ReadFile(*planKey)
		if err != nil {
			return fmt.Errorf("build: --plan-key: %w", err)
		}
		if _, err := plan.ParsePublicKeys(*planKey, kd); err != nil {
			return fmt.Errorf("build: --plan-key: %w", err)
		}
	}
	var hostsFile []byte
	if len(imageHosts) > 0 {
		hostsFile = []byte("# needle build --image-host: the only hosts a plan's URLs may name\n" + strings.Join(imageHosts, "\n") + "\n")
		if _, err := plan.ParseHosts("--image-host", hostsFile); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	} else if *planKey != "" {
		fmt.Fprintln(stderr, "build: warning: --plan-key without --image-host: a signed plan may fetch images from any host")
	}
	if *planFile != "" {
		data, err := plan.ReadFile(ctx, *planFile)
		if err != nil {
			return fmt.Errorf("build: --plan: %w", err)
		}
		if _, err := plan.Parse(*planFile, data); err != nil {
			return fmt.Errorf("build: --plan %s is invalid:\n%w", *planFile, err)
		}
	}
	if *fwMode != firmwareDeclared && *fwMode != firmwareNone {
		return fmt.Errorf("build: --firmware %q: want declared or none", *fwMode)
	}
	if *fwMode == firmwareNone && len(fwSrcs) > 0 {
		return fmt.Errorf("build: --firmware-source with --firmware none")
	}
	fwSources, err := firmwareSources(fwSrcs)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	spec := initramfs.Spec{Init: *initBin, Needle: *needleBin, Busybox: *busybox, Version: *ver}
	if spec.Init == "" {
		spec.Init = filepath.Join(filepath.Dir(self), "init")
	}
	switch spec.Needle {
	case "":
		spec.Needle = self
	case "none":
		spec.Needle = ""
	}
	if spec.Busybox != "" {
		if spec.Applets, err = initramfs.BusyboxApplets(spec.Busybox); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	for _, t := range tools {
		src, dest, ok := strings.Cut(t, ":")
		if !ok {
			dest = "/bin/" + filepath.Base(src)
		}
		spec.Tools = append(spec.Tools, initramfs.Tool{Src: src, Dest: dest, Root: *toolRoot})
	}
	for _, f := range files {
		src, dest, ok := strings.Cut(f, ":")
		if !ok || dest == "" {
			return fmt.Errorf("build: --file %q: want SRC:DEST", f)
		}
		spec.Files = append(spec.Files, initramfs.File{Src: src, Dest: dest})
	}
	for _, f := range []struct{ src, dest string }{
		{*planFile, "/etc/needle/plan.yaml"}, {*planKey, "/etc/needle/plan-keys.pub"},
		{*caFile, "/etc/needle/ca.pem"}, {*pciIDs, "/usr/share/misc/pci.ids"},
	} {
		if f.src != "" {
			spec.Files = append(spec.Files, initramfs.File{Src: f.src, Dest: f.dest, Mode: 0o644})
		}
	}
	if hostsFile != nil {
		spec.Files = append(spec.Files, initramfs.File{Data: hostsFile, Dest: "/etc/needle/" + install.ImageHosts, Mode: 0o644})
	}
	if *hwdbExtra != "" {
		rules, err := filepath.Glob(filepath.Join(*hwdbExtra, "*.yaml"))
		if err != nil || len(rules) == 0 {
			return fmt.Errorf("build: --hwdb-extra %s: no *.yaml rule files", *hwdbExtra)
		}
		for _, r := range rules {
			spec.Files = append(spec.Files, initramfs.File{Src: r, Dest: "/etc/needle/hwdb.d/" + filepath.Base(r), Mode: 0o644})
		}
	}
	if *planFile != "" {
		if _, err := os.Stat(*planFile + ".sig"); err == nil {
			spec.Files = append(spec.Files, initramfs.File{Src: *planFile + ".sig", Dest: "/etc/needle/plan.yaml.sig", Mode: 0o644})
		}
	}
	if *sysCA != "" {
		if _, err := os.Stat(*sysCA); err == nil {
			// Go's crypto/x509 looks for the system roots here on Linux.
			spec.Files = append(spec.Files, initramfs.File{Src: *sysCA, Dest: "/etc/ssl/certs/ca-certificates.crt", Mode: 0o644})
		}
	}
	var vmlinuz string
	var fw *firmware.Selection // nil: --firmware none
	if *kernelDir != "" {
		rel, err := kernelRelease(*kernelDir, *kver)
		if err != nil {
			return fmt.Errorf("build: %w", err)
		}
		spec.KernelRelease = rel
		spec.ModulesDir = filepath.Join(*kernelDir, "lib/modules", rel)
		vmlinuz = filepath.Join(*kernelDir, "boot", "vmlinuz-"+rel)
		choice := moduleChoice{classes: *modSet, extra: mods, overlay: *overlay, hardware: hardware}
		declared, err := chooseModules(&spec, choice, stdout)
		if err != nil {
			return fmt.Errorf("build: modules: %w", err)
		}
		if *fwMode == firmwareDeclared {
			sel, err := addFirmware(&spec, declared, fwSources, stdout)
			if err != nil {
				return fmt.Errorf("build: %w", err)
			}
			fw = &sel
		}
		var extra []string
		if *hwdbExtra != "" {
			extra = append(extra, *hwdbExtra)
		}
		if err := checkOverlays(spec, extra); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	} else if len(mods) > 0 || *overlay != "" || len(hardware) > 0 || len(fwSrcs) > 0 {
		return fmt.Errorf("build: --module, --overlay-dir, --hardware and --firmware-source need --kernel-dir")
	} else if *fwMode == firmwareDeclared {
		fw = &firmware.Selection{} // no modules, so nothing declared
	}
	a, err := spec.Archive()
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	mf, err := addManifest(a, spec, *ver, *lockFile, fw)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	st, err := writeAtomic(*out, func(w io.Writer) (initramfs.Stats, error) { return a.Write(w, *codec) })
	if err != nil {
		return fmt.Errorf("build: %s: %w", *out, err)
	}
	mfPath := *manifestF
	if mfPath == "" {
		mfPath = filepath.Join(filepath.Dir(*out), "needle.manifest.json")
	}
	if err := writeFileAtomic(mfPath, mf.json); err != nil {
		return fmt.Errorf("build: manifest %s: %w", mfPath, err)
	}
	if *kernelOut != "" {
		if vmlinuz == "" {
			return fmt.Errorf("build: --kernel-out needs --kernel-dir")
		}
		if err := fileutil.Copy(vmlinuz, *kernelOut); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	fmt.Fprintf(stdout, "wrote %s: %d entries, %.1f MiB uncompressed, %.1f MiB %s", *out, st.Entries,
		float64(st.Uncompressed)/(1<<20), float64(st.Compressed)/(1<<20), *codec)
	if spec.KernelRelease != "" {
		fmt.Fprintf(stdout, ", kernel %s, %d modules", spec.KernelRelease, len(spec.Modules))
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "manifest: %d files, %s\n", len(mf.m.Files), manifest.Sum(mf.json))
	return nil
}

// builtManifest is the manifest of an image and its canonical bytes.
type builtManifest struct {
	m    manifest.Manifest
	json []byte
}

// addManifest lists the finished archive's files (with the lock's pinned
// inputs and each overlay's provenance) and adds the list to the archive
// as /etc/needle/manifest.json: after it, nothing may be added. Every
// overlay under lib/modules/KVER/updates/ needs its provenance record
// (DIR/provenance/MODULE.json beside DIR/updates/MODULE.ko) matching the
// .ko's digest.
//
// fw is the firmware the image carries (nil: built with --firmware none);
// with a lock, every package it takes files from must be pinned there.
func addManifest(a *initramfs.Archive, spec initramfs.Spec, version, lockFile string, fw *firmware.Selection) (builtManifest, error) {
	var lock []manifest.LockEntry
	if lockFile != "" {
		b, err := os.ReadFile(lockFile)
		if err != nil {
			return builtManifest{}, fmt.Errorf("--lock: %w", err)
		}
		if lock, err = manifest.ParseLock(lockFile, b); err != nil {
			return builtManifest{}, err
		}
	}
	var provs []manifest.Provenance
	updates := path.Join("/lib/modules", spec.KernelRelease, "updates") + "/"
	for _, f := range spec.Files {
		if spec.KernelRelease == "" || !strings.HasPrefix(path.Clean("/"+f.Dest), updates) || f.Src == "" {
			continue
		}
		// SRC is DIR/updates/MODULE.ko (--overlay-dir DIR); its record is
		// DIR/provenance/MODULE.json.
		p, err := manifest.ReadProvenance(filepath.Dir(filepath.Dir(f.Src)), f.Src, spec.KernelRelease)
		if err != nil {
			return builtManifest{}, err
		}
		provs = append(provs, p)
	}
	// The manifest's own directory is listed too: only the manifest file
	// is missing from its list.
	if err := a.Dir(path.Dir(manifest.ImagePath), 0o755); err != nil {
		return builtManifest{}, err
	}
	m, err := manifest.FromArchive(a, version, spec.KernelRelease, lock, provs)
	if err != nil {
		return builtManifest{}, err
	}
	if fw != nil {
		byPackage, missing := firmwareManifest(*fw)
		if err := m.SetFirmware(firmwareDeclared, byPackage, missing); err != nil {
			return builtManifest{}, err
		}
	}
	js, err := m.JSON()
	if err != nil {
		return builtManifest{}, err
	}
	if err := a.Bytes(manifest.ImagePath, 0o644, js); err != nil {
		return builtManifest{}, err
	}
	return builtManifest{m: m, json: js}, nil
}

// writeFileAtomic writes data to p through a temporary file and a rename.
func writeFileAtomic(p string, data []byte) error {
	_, err := writeAtomic(p, func(w io.Writer) (initramfs.Stats, error) {
		_, err := w.Write(data)
		return initramfs.Stats{}, err
	})
	return err
}

// kernelRelease picks the release under DIR/lib/modules.
func kernelRelease(dir, want string) (string, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "lib/modules"))
	if err != nil {
		return "", fmt.Errorf("kernel dir %s: %w", dir, err)
	}
	var rels []string
	for _, e := range ents {
		if e.IsDir() {
			rels = append(rels, e.Name())
		}
	}
	switch {
	case want != "":
		for _, r := range rels {
			if r == want {
				return r, nil
			}
		}
		return "", fmt.Errorf("kernel dir %s has no lib/modules/%s (has %s)", dir, want, strings.Join(rels, ", "))
	case len(rels) == 1:
		return rels[0], nil
	case len(rels) == 0:
		return "", fmt.Errorf("kernel dir %s: lib/modules is empty", dir)
	}
	return "", fmt.Errorf("kernel dir %s holds several releases (%s): pick one with --kver", dir, strings.Join(rels, ", "))
}

// writeAtomic writes a file through a temporary name so that a failed build
// never leaves a truncated image where the old one was.
func writeAtomic(path string, write func(io.Writer) (initramfs.Stats, error)) (initramfs.Stats, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return initramfs.Stats{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".needle-build-*")
	if err != nil {
		return initramfs.Stats{}, err
	}
	defer os.Remove(tmp.Name())
	st, err := write(tmp)
	if err == nil {
		err = tmp.Close()
	} else {
		tmp.Close()
	}
	if err != nil {
		return st, err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return st, err
	}
	return st, os.Rename(tmp.Name(), path)
}
