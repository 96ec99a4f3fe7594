package initramfs

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sort"
	"strings"
)

// Spec says what goes into needle's initramfs. Host paths are read when the
// archive is built; nothing else from the build host leaks in.
type Spec struct {
	Init    string // the PID 1 binary, installed as /init
	Needle  string // the needle CLI, installed as /bin/needle
	Busybox string // a static busybox, installed as /bin/busybox
	// Applets are linked to /bin/busybox in /bin, except the ones the image
	// already has (needle's own tools win) and those in skipApplets.
	Applets []string
	Tools   []Tool // ELF programs added with their shared-library closure
	Files   []File // plain files
	Version string // written to /etc/needle/version

	// KernelRelease and ModulesDir (the host's lib/modules/KVER) locate the
	// modules; Modules are paths relative to ModulesDir.
	KernelRelease string
	ModulesDir    string
	Modules       []string
}

// Tool is an ELF program (a vendor RAID tool, kexec) added at Dest with the
// libraries it needs, resolved under Root ("/" when empty).
type Tool struct {
	Src, Dest, Root string
}

// File is a plain file added at Dest, from Src or, when Src is empty,
// from Data; or, when Link is set, a symlink at Dest pointing to Link.
type File struct {
	Src, Dest string
	Data      []byte
	Mode      os.FileMode // 0 keeps the source's mode (0644 for Data)
	Link      string
}

// skipApplets are busybox applets needle must not expose: the init is
// needle's, and busybox's linuxrc is another init.
var skipApplets = map[string]bool{"init": true, "linuxrc": true, "busybox": true}

// profile is the debug shell's start-up file: it says where the operator is.
const profile = `export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='needle# '
echo "needle debug shell: 'needle help' lists the field-recovery commands; exit to leave"
`

// Archive assembles the entries of the image.
func (s Spec) Archive() (*Archive, error) {
	a := NewArchive()
	for _, d := range []string{"dev", "proc", "sys", "run", "tmp", "root", "etc", "bin", "sbin", "usr/bin", "usr/sbin", "lib", "var/log", "mnt"} {
		perm := os.FileMode(0o755)
		if d == "tmp" {
			perm = 0o1777
		}
		if err := a.Dir(d, perm); err != nil {
			return nil, err
		}
	}
	// The kernel opens /dev/console for init before any devtmpfs exists
	// (init/main.c console_on_rootfs): without this node PID 1 starts with
	// no stdin, stdout or stderr.
	if err := a.CharDev("dev/console", 0o600, 5, 1); err != nil {
		return nil, err
	}
	if err := a.CharDev("dev/null", 0o666, 1, 3); err != nil {
		return nil, err
	}
	if s.Init == "" {
		return nil, fmt.Errorf("initramfs: no init binary given")
	}
	if err := a.Copy("init", s.Init); err != nil {
		return nil, err
	}
	if s.Needle != "" {
		if err := a.Copy("bin/needle", s.Needle); err != nil {
			return nil, err
		}
	}
	for _, t := range s.Tools {
		root := t.Root
		if root == "" {
			root = "/"
		}
		if err := a.AddELF(t.Dest, t.Src, root); err != nil {
			return nil, err
		}
	}
	for _, f := range s.Files {
		if f.Link != "" {
			if err := a.Symlink(f.Dest, f.Link); err != nil {
				return nil, err
			}
			continue
		}
		if f.Src == "" {
			mode := f.Mode
			if mode == 0 {
				mode = 0o644
			}
			if err := a.Bytes(f.Dest, mode, f.Data); err != nil {
				return nil, err
			}
			continue
		}
		if f.Mode == 0 {
			if err := a.Copy(f.Dest, f.Src); err != nil {
				return nil, err
			}
			continue
		}
		b, err := os.ReadFile(f.Src)
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		if err := a.Bytes(f.Dest, f.Mode, b); err != nil {
			return nil, err
		}
	}
	if s.Busybox != "" {
		if err := a.Copy("bin/busybox", s.Busybox); err != nil {
			return nil, err
		}
		for _, ap := range s.Applets {
			if skipApplets[ap] || strings.Contains(ap, "/") {
				continue
			}
			p := "bin/" + ap
			if a.Has(p) {
				continue
			}
			if err := a.Symlink(p, "busybox"); err != nil {
				return nil, err
			}
		}
		if err := a.Bytes("etc/profile", 0o644, []byte(profile)); err != nil {
			return nil, err
		}
	}
	if s.Version != "" {
		if err := a.Bytes("etc/needle/version", 0o644, []byte(s.Version+"\n")); err != nil {
			return nil, err
		}
	}
	if err := s.addModules(a); err != nil {
		return nil, err
	}
	return a, nil
}

func (s Spec) addModules(a *Archive) error {
	if len(s.Modules) == 0 && s.ModulesDir == "" {
		return nil
	}
	if s.KernelRelease == "" || s.ModulesDir == "" {
		return fmt.Errorf("initramfs: modules need both a kernel release and a modules directory")
	}
	base := path.Join("lib/modules", s.KernelRelease)
	// The kernel's own lists let kmod-style tools in the image tell builtin
	// modules from missing ones.
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo", "modules.order"} {
		src := path.Join(s.ModulesDir, f)
		if _, err := os.Stat(src); err == nil {
			if err := a.Copy(path.Join(base, f), src); err != nil {
				return err
			}
		}
	}
	mods := append([]string(nil), s.Modules...)
	sort.Strings(mods)
	for _, m := range mods {
		if err := a.Copy(path.Join(base, m), path.Join(s.ModulesDir, m)); err != nil {
			return err
		}
	}
	return nil
}

// Stats describes a built image.
type Stats struct {
	Entries      int
	Uncompressed int64
	Compressed   int64
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Write writes the archive compressed with codec.
func (a *Archive) Write(w io.Writer, codec string) (Stats, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriterSize(cw, 1<<20)
	zw, err := Compress(bw, codec)
	if err != nil {
		return Stats{}, err
	}
	n, err := a.WriteTo(zw)
	if err != nil {
		return Stats{}, err
	}
	if err := zw.Close(); err != nil {
		return Stats{}, fmt.Errorf("initramfs: %s: %w", codec, err)
	}
	if err := bw.Flush(); err != nil {
		return Stats{}, err
	}
	return Stats{Entries: len(a.entries), Uncompressed: n, Compressed: cw.n}, nil
}

// BusyboxApplets asks a busybox binary for its applet list. It runs the
// binary, so the build host must be able to execute it (x86-64 here).
func BusyboxApplets(busybox string) ([]string, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(busybox, "--list")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s --list: %w: %s", busybox, err, strings.TrimSpace(errb.String()))
	}
	return strings.Fields(out.String()), nil
}
