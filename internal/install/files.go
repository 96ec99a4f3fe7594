package install

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/internal/disk"
	"github.com/needle-boot/needle/internal/plan"
	"github.com/needle-boot/needle/modules"
)

// mountRoot is where needle mounts the installed system's filesystems.
const mountRoot = "/mnt/needle"

// loadModule loads a module by name or alias with its dependencies and
// softdeps (ext4 wants crc32c), for what no device asks for: filesystems.
func (m *Machine) loadModule(ctx context.Context, name string) error {
	ix, err := m.moduleIndex()
	if err != nil {
		return err
	}
	p, err := ix.Resolve(name, modules.Policy{})
	if err != nil {
		return err
	}
	l := modules.NewLoader(ix, m.Root.Proc, "/lib/firmware", m.Report.Slog("files", m.Config.Debug))
	defer l.Close()
	_, err = l.LoadPlan(ctx, p)
	return err
}

// mounter mounts the installed system's filesystems under mountRoot by
// the plan's references, for the files and handoff stages.
type mounter struct {
	m       *Machine
	disks   *Disks
	flags   uintptr           // mount(2) flags: MS_RDONLY to only look
	mounted map[string]string // reference → directory
	order   []string          // directories, in mount order
}

func (m *Machine) mounter(disks *Disks) *mounter {
	return &mounter{m: m, disks: disks, mounted: map[string]string{}}
}

// device maps a filesystem reference to its block device: a partition of
// the plan by name, or DISK:N for partition N inside a whole-disk image.
func (mt *mounter) device(ref string) (string, error) {
	if dev, ok := mt.disks.PartDev[ref]; ok {
		return dev, nil
	}
	if id, n, ok := strings.Cut(ref, ":"); ok {
		num, err := strconv.Atoi(n)
		for _, t := range mt.disks.targets {
			if t.id == id && err == nil {
				return "/dev/" + disk.PartName(t.disk.Name, num), nil
			}
		}
	}
	return "", fmt.Errorf("filesystem %q: no such partition in the plan", ref)
}

// mount mounts the filesystem ref under mountRoot (once) and returns the
// directory. The type is found by trying ext4, xfs, vfat and btrfs, each
// module loaded first.
func (mt *mounter) mount(ctx context.Context, ref string) (string, error) {
	if dir, ok := mt.mounted[ref]; ok {
		return dir, nil
	}
	dev, err := mt.device(ref)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(mountRoot, strings.ReplaceAll(ref, "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var tried []string
	for _, fstype := range []string{"ext4", "xfs", "vfat", "btrfs"} {
		if err := mt.m.loadModule(ctx, fstype); err != nil {
			tried = append(tried, fstype+": "+err.Error())
			continue
		}
		data := ""
		if mt.flags&unix.MS_RDONLY != 0 {
			// Only look: a read-only mount still replays a journal
			// unless told not to.
			data = map[string]string{"ext4": "noload", "xfs": "norecovery"}[fstype]
		}
		err := unix.Mount(dev, dir, fstype, mt.flags, data)
		if err == nil {
			mt.mounted[ref] = dir
			mt.order = append(mt.order, dir)
			mt.m.Report.Infof("files", "mounted %s (%s, %s) on %s", dev, ref, fstype, dir)
			return dir, nil
		}
		tried = append(tried, fstype+": "+err.Error())
	}
	return "", fmt.Errorf("mount %s (%s): no filesystem type worked: %s", dev, ref, strings.Join(tried, "; "))
}

// mountSpec mounts an fstab source of the installed system (a separate
// /boot) by matching it against the references the disks stage recorded.
func (mt *mounter) mountSpec(ctx context.Context, spec, fstype string) (string, error) {
	key, val, _ := strings.Cut(spec, "=")
	kind := map[string]string{"UUID": "uuid:", "PARTUUID": "partuuid:", "LABEL": "label:"}[key]
	for ref, v := range mt.disks.Refs {
		if kind != "" && strings.HasPrefix(ref, kind) && strings.EqualFold(v, val) {
			return mt.mount(ctx, strings.TrimPrefix(ref, kind))
		}
	}
	for name, dev := range mt.disks.PartDev {
		if dev == spec {
			return mt.mount(ctx, name)
		}
	}
	return "", fmt.Errorf("fstab source %s: not a filesystem this install made", spec)
}

// unmountAll unmounts what mount mounted, in reverse order, after a sync.
func (mt *mounter) unmountAll() error {
	unix.Sync()
	var errs []error
	for i := len(mt.order) - 1; i >= 0; i-- {
		if err := unix.Unmount(mt.order[i], 0); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", mt.order[i], err))
		}
	}
	mt.order, mt.mounted = nil, map[string]string{}
	return errors.Join(errs...)
}

// rootRef is the filesystem needle's own record goes to: the handoff's
// root, else the filesystem of the first file.
func rootRef(p *plan.Plan) string {
	if b := p.Boot; b != nil && b.Kexec != nil {
		return b.Kexec.Root
	}
	if len(p.Files) > 0 {
		return p.Files[0].Filesystem
	}
	return ""
}

// writeFiles writes the plan's files into the installed system, then
// needle's log, inventory, plan and install receipt (Receipt) under
// /var/log/needle/ of the root filesystem, and the md arrays into
// /etc/mdadm/mdadm.conf.
func (m *Machine) writeFiles(ctx context.Context, in installed) error {
	mt := m.mounter(in.disks)
	for _, f := range in.plan.Plan.Files {
		dir, err := mt.mount(ctx, f.Filesystem)
		if err != nil {
			return err
		}
		data, err := m.contents(ctx, f)
		if err != nil {
			return err
		}
		uid, gid, err := owner(dir, f.Owner)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		mode := f.ModeBits
		if mode == 0 {
			mode = 0o644
		}
		if err := writeFile(dir, f.Path, data, os.FileMode(mode), uid, gid); err != nil {
			return fmt.Errorf("%s on %s: %w", f.Path, f.Filesystem, err)
		}
		m.Report.Infof("files", "%s on %s: %d bytes, mode %04o, owner %d:%d", f.Path, f.Filesystem, len(data), mode, uid, gid)
	}
	// The receipt is reported first, so the log copied below holds it too.
	receipt, err := m.emitReceipt(m.receipt(in))
	if err != nil {
		return err
	}
	if ref := rootRef(in.plan.Plan); ref != "" {
		dir, err := mt.mount(ctx, ref)
		if err != nil {
			return err
		}
		if conf := in.vols.MDConf; len(conf) > 0 {
			if err := appendFile(dir, "/etc/mdadm/mdadm.conf", strings.Join(conf, "\n")+"\n"); err != nil {
				return fmt.Errorf("mdadm.conf: %w", err)
			}
			m.Report.Infof("files", "/etc/mdadm/mdadm.conf: %d arrays", len(conf))
		}
		for _, f := range []string{"events.jsonl", "inventory.json", "plan.yaml"} {
			b, err := os.ReadFile(m.run(f))
			if err != nil {
				continue
			}
			if err := writeFile(dir, "/var/log/needle/"+f, b, 0o644, 0, 0); err != nil {
				return fmt.Errorf("/var/log/needle/%s: %w", f, err)
			}
		}
		if err := writeFile(dir, ReceiptFile, receipt, 0o644, 0, 0); err != nil {
			return fmt.Errorf("/%s: %w", ReceiptFile, err)
		}
		m.Report.Infof("files", "needle's log, inventory, plan and receipt kept in /var/log/needle on %s", ref)
	}
	return mt.unmountAll()
}

// contents returns a file's bytes: inline, or fetched and verified.
func (m *Machine) contents(ctx context.Context, f plan.File) ([]byte, error) {
	c := f.Contents
	if c.Inline != nil {
		return []byte(*c.Inline), nil
	}
	b, err := m.fetcher().Get(ctx, c.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Path, err)
	}
	var h hash.Hash
	want := c.SHA256
	if c.SHA512 != "" {
		h, want = sha512.New(), c.SHA512
	} else {
		h = sha256.New()
	}
	h.Write(b)
	if got := hex.EncodeToString(h.Sum(nil)); !strings.EqualFold(got, want) {
		return nil, fmt.Errorf("%s: %s has hash %s, the plan says %s", f.Path, c.URL, got, want)
	}
	return b, nil
}

// owner resolves "user[:group]" (names from the installed system's
// /etc/passwd and /etc/group, resolved inside root, or numbers).
func owner(root, spec string) (int, int, error) {
	if spec == "" {
		return 0, 0, nil
	}
	u, g, hasGroup := strings.Cut(spec, ":")
	uid, ugid, err := lookup(root, "/etc/passwd", u, true)
	if err != nil {
		return 0, 0, err
	}
	gid := ugid
	if hasGroup {
		if gid, _, err = lookup(root, "/etc/group", g, false); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// lookup finds a name (or takes a number) in a passwd or group file; for
// passwd it also returns the user's primary group.
func lookup(root, file, name string, passwd bool) (int, int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, n, nil
	}
	f, err := openInRoot(root, file)
	if err != nil {
		return 0, 0, fmt.Errorf("owner %q: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 3 || fields[0] != name {
			continue
		}
		id, err := strconv.Atoi(fields[2])
		if err != nil {
			return 0, 0, fmt.Errorf("%s: bad id for %s", file, name)
		}
		gid := id
		if passwd && len(fields) > 3 {
			gid, _ = strconv.Atoi(fields[3])
		}
		return id, gid, nil
	}
	return 0, 0, fmt.Errorf("owner %q: not in %s", name, file)
}
