package md

// The guest half of TestQEMUKernel: this test binary is the VM's /init.
// It creates arrays natively and with the real mdadm on virtio disks,
// assembles them through the kernel's md sysfs interface, measures creation
// time and initial resync rate, checks data placement on the members, lets
// the real mdadm assemble the native arrays, and prints one "MDTEST" line per
// result on the serial console for the host half to read.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/needle-boot/needle/internal/sysroot"
	"golang.org/x/sys/unix"
)

const guestEnv = "NEEDLE_MD_GUEST" // set on the kernel command line

// guestModules are the reference kernel's modules the guest loads, in
// dependency order (paths under lib/modules/KVER/kernel).
var guestModules = []string{
	"drivers/virtio/virtio_ring.ko", "drivers/virtio/virtio.ko",
	"drivers/virtio/virtio_pci_modern_dev.ko", "drivers/virtio/virtio_pci_legacy_dev.ko",
	"drivers/virtio/virtio_pci.ko", "drivers/block/virtio_blk.ko",
	"drivers/md/md-mod.ko", "drivers/md/raid1.ko", "drivers/md/raid10.ko",
}

func TestMain(m *testing.M) {
	if os.Getenv(guestEnv) == "1" && os.Getpid() == 1 {
		guestMain()
	}
	os.Exit(m.Run())
}

func guestf(format string, args ...any) {
	fmt.Printf("MDTEST "+format+"\n", args...)
}

func guestMain() {
	defer func() {
		if r := recover(); r != nil {
			guestf("FAIL panic: %v", r)
		}
		unix.Sync()
		guestf("END")
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
		select {}
	}()
	if err := guestRun(); err != nil {
		guestf("FAIL %v", err)
		return
	}
	guestf("DONE")
}

func guestRun() error {
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"}, {"devtmpfs", "/dev", "devtmpfs"}, {"tmpfs", "/run", "tmpfs"},
	} {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	for _, mod := range guestModules {
		if err := loadModule("/lib/modules/" + filepath.Base(mod)); err != nil {
			return err
		}
	}
	var disks map[string]string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		if disks, err = disksBySerial(); err != nil {
			return err
		}
		if len(disks) == 10 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("virtio disks: have %v, want 10", disks)
		}
	}
	guestf("disks %v", disks)
	k := NewKernel(sysroot.Host(), nil)
	ctx := context.Background()

	// Two rounds over the same disks: under TCG whichever runs first pays
	// for translating the kernel's block and md code (measured: 1-2.5 s),
	// so round 1 is the warm-up and round 2 the comparison. Round 2 also
	// re-creates over the previous arrays (old signatures present).
	for round := 1; round <= 2; round++ {
		// The RAID1 made by the real mdadm, for comparison.
		if err := mdadmScenario(ctx, k, round, "mdadm1", "md1", []string{disks["m0"], disks["m1"]}); err != nil {
			return err
		}
		// Native RAID1, dirty: the kernel runs the initial resync.
		if err := nativeScenario(ctx, k, round, "native1", "md0", RAID1, []string{disks["n0"], disks["n1"]}); err != nil {
			return err
		}
		// Native RAID10 near=2 over four members.
		if err := nativeScenario(ctx, k, round, "native10", "md2", RAID10, []string{disks["r0"], disks["r1"], disks["r2"], disks["r3"]}); err != nil {
			return err
		}
	}
	return cleanScenario(ctx, k, "clean1", "md3", []string{disks["c0"], disks["c1"]})
}

// cleanScenario: with AssumeClean the kernel starts the array in sync and
// runs no resync.
func cleanScenario(ctx context.Context, k *Kernel, label, name string, devs []string) error {
	var ms []Member
	for _, d := range devs {
		f, err := os.OpenFile(d, os.O_RDWR|os.O_EXCL, 0)
		if err != nil {
			return err
		}
		size, err := f.Seek(0, 2)
		if err != nil {
			return err
		}
		ms = append(ms, Member{Name: d, Dev: f, Size: size})
	}
	a, err := Create(ctx, nil, ms, Options{Level: RAID1, Name: label, HomeHost: "needle", AssumeClean: true})
	if err != nil {
		return err
	}
	for _, m := range ms {
		f := m.Dev.(*os.File)
		if err := f.Sync(); err != nil {
			return err
		}
		if err := f.Close(); err != nil { // the kernel claims members exclusively
			return err
		}
	}
	if _, err := k.Assemble(ctx, name, RAID1, devs); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond) // give a resync, were one due, time to show
	st, err := k.Status(name)
	if err != nil {
		return err
	}
	guestf("%s uuid=%s state=%s sync_action=%s resync_start=%d in_sync=%v", label, a.UUID, st.ArrayState, st.SyncAction, st.ResyncStart, st.InSync())
	if !st.InSync() {
		return fmt.Errorf("%s: assume-clean array not in sync after assembly: %+v", label, st)
	}
	return k.Stop(name)
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && err != unix.EEXIST {
		return fmt.Errorf("finit_module %s: %w", path, err)
	}
	return nil
}

// disksBySerial maps the serials the host gave (-device …,serial=) to
// /dev/vdX, so the scenario does not depend on probe order.
func disksBySerial() (map[string]string, error) {
	m := map[string]string{}
	ents, err := filepath.Glob("/sys/block/vd*")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		b, err := os.ReadFile(e + "/serial")
		if err != nil {
			return nil, err
		}
		m[strings.TrimSpace(string(b))] = "/dev/" + filepath.Base(e)
	}
	return m, nil
}

// resync waits for the initial resync and reports its duration and rate.
func resync(ctx context.Context, k *Kernel, round int, label, name string, arraySectors uint64) error {
	start := time.Now()
	var maxSpeed uint64
	var polls []string
	st, err := k.WaitSync(ctx, name, 50*time.Millisecond, func(s *State) {
		maxSpeed = max(maxSpeed, s.SyncSpeedKiB)
		polls = append(polls, fmt.Sprintf("%s:%d/%d:%d", s.SyncAction, s.SyncDone, s.SyncTotal, s.ResyncStart))
		if len(polls) == 3 && round == 1 && label == "native1" {
			// A capture of /proc/mdstat mid-resync for the parser tests.
			if b, err := os.ReadFile("/proc/mdstat"); err == nil {
				for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
					fmt.Printf("MDSTAT|%s\n", l)
				}
			}
		}
	})
	if err != nil {
		return err
	}
	d := time.Since(start)
	rate := float64(arraySectors*512) / (1 << 20) / d.Seconds()
	guestf("%s round=%d resync_ms=%d resync_mib_s=%.1f max_sync_speed_kib_s=%d state=%s polls=%d first=%s last=%s",
		label, round, d.Milliseconds(), rate, maxSpeed, st.ArrayState, len(polls), polls[0], polls[len(polls)-1])
	return nil
}

// pattern is deterministic, non-repeating test data.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// findOn says where the first 4 KiB of data sit on dev, for failure reports.
func findOn(dev string, data []byte) string {
	b, err := os.ReadFile(dev)
	if err != nil {
		return err.Error()
	}
	var at []int
	for off := 0; off+4096 <= len(b); off += 4096 {
		if bytes.Equal(b[off:off+4096], data[:4096]) {
			at = append(at, off)
		}
	}
	return fmt.Sprintf("%s holds it at %v", dev, at)
}

func writeArray(dev string, off int64, data []byte) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, off); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readAt(dev string, off int64, n int) ([]byte, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Drop cached pages so the read comes from the device.
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	b := make([]byte, n)
	_, err = f.ReadAt(b, off)
	return b, err
}

// copyLoc is where one copy of array data lives on a member.
type copyLoc struct {
	Dev int   // member index
	At  int64 // byte offset on the member
}

// memberOffsets says where array byte offset off lives on the members:
// RAID1 on every member at the same offset; RAID10 near=2 on two
// consecutive device slots, slot 2c and 2c+1 for chunk c, each slot s on
// device s%n at row s/n (raid10.c __raid10_find_phys).
func memberOffsets(a *Array, off int64) []copyLoc {
	data := int64(a.DataOffset) * 512
	var locs []copyLoc
	if a.Level == RAID1 {
		for i := range a.Superblocks {
			locs = append(locs, copyLoc{i, data + off})
		}
		return locs
	}
	n := int64(len(a.Superblocks))
	chunk := int64(a.ChunkSize) * 512
	c := off / chunk
	for k := int64(0); k < 2; k++ {
		slot := 2*c + k
		locs = append(locs, copyLoc{int(slot % n), data + (slot/n)*chunk + off%chunk})
	}
	return locs
}

func nativeScenario(ctx context.Context, k *Kernel, round int, label, name string, level Level, devs []string) error {
	start := time.Now()
	var ms []Member
	var files []*os.File
	for _, d := range devs {
		f, err := os.OpenFile(d, os.O_RDWR|os.O_EXCL, 0)
		if err != nil {
			return err
		}
		size, err := f.Seek(0, 2)
		if err != nil {
			return err
		}
		files = append(files, f)
		ms = append(ms, Member{Name: d, Dev: f, Size: size})
	}
	a, err := Create(ctx, nil, ms, Options{Level: level, Name: label, HomeHost: "needle"})
	if err != nil {
		return err
	}
	created := time.Since(start)
	for _, f := range files {
		if err := f.Sync(); err != nil {
			return err
		}
		f.Close()
	}
	synced := time.Since(start)
	st, err := k.Assemble(ctx, name, level, devs)
	if err != nil {
		return err
	}
	total := time.Since(start)
	guestf("%s round=%d create_ms=%d write_ms=%d fsync_ms=%d assemble_ms=%d uuid=%s level=%s state=%s sync_action=%s conf=%q",
		label, round, total.Milliseconds(), created.Milliseconds(), (synced - created).Milliseconds(), (total - synced).Milliseconds(),
		a.UUID, st.Level, st.ArrayState, st.SyncAction, a.ConfLine())
	if err := resync(ctx, k, round, label, name, a.ArraySize); err != nil {
		return err
	}
	// Data written through /dev/mdN lands where the layout says, on every copy.
	off := int64(3) << 20
	data := pattern(1<<20, byte(level))
	if err := writeArray("/dev/"+name, off, data); err != nil {
		return err
	}
	if back, err := readAt("/dev/"+name, off, len(data)); err != nil || !bytes.Equal(back, data) {
		return fmt.Errorf("%s: read back through /dev/%s differs (err %v)", label, name, err)
	}
	if err := k.Stop(name); err != nil {
		return err
	}
	// Check chunk by chunk: RAID10 puts consecutive chunks on other members.
	step := int64(len(data))
	if a.ChunkSize != 0 {
		step = int64(a.ChunkSize) * 512
	}
	var checked []copyLoc
	for p := int64(0); p < int64(len(data)); p += step {
		piece := data[p:min(p+step, int64(len(data)))]
		for _, l := range memberOffsets(a, off+p) {
			got, err := readAt(devs[l.Dev], l.At, len(piece))
			if err != nil {
				return err
			}
			if !bytes.Equal(got, piece) {
				var where []string
				for _, d := range devs {
					where = append(where, findOn(d, piece))
				}
				return fmt.Errorf("%s: member %s at byte %d does not hold the data written at array byte %d (%s)",
					label, devs[l.Dev], l.At, off+p, strings.Join(where, "; "))
			}
			checked = append(checked, l)
		}
	}
	guestf("%s data_ok copies=%v", label, checked)
	// The real mdadm assembles what needle made.
	out, err := exec.Command("/sbin/mdadm", append([]string{"--assemble", "--run", "/dev/md/needle-test-" + label}, devs...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: mdadm --assemble: %v: %s", label, err, out)
	}
	out, err = exec.Command("/sbin/mdadm", "--detail", "/dev/md/needle-test-"+label).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: mdadm --detail: %v: %s", label, err, out)
	}
	det := parseExamine(string(out))
	guestf("%s mdadm_detail level=%q state=%q active=%q uuid=%q name=%q", label,
		det["Raid Level"], det["State"], det["Active Devices"], det["UUID"], det["Name"])
	if det["Raid Level"] != level.String() || det["UUID"] != a.UUID.String() || det["Active Devices"] != fmt.Sprint(len(devs)) {
		return fmt.Errorf("%s: mdadm --detail disagrees:\n%s", label, out)
	}
	if back, err := readAt("/dev/md/needle-test-"+label, off, len(data)); err != nil || !bytes.Equal(back, data) {
		return fmt.Errorf("%s: data read through mdadm's assembly differs (err %v)", label, err)
	}
	if out, err := exec.Command("/sbin/mdadm", "--stop", "/dev/md/needle-test-"+label).CombinedOutput(); err != nil {
		return fmt.Errorf("%s: mdadm --stop: %v: %s", label, err, out)
	}
	guestf("%s mdadm_assemble_ok", label)
	return nil
}

func mdadmScenario(ctx context.Context, k *Kernel, round int, label, name string, devs []string) error {
	start := time.Now()
	args := append([]string{"--create", "/dev/" + name, "--run", "--metadata=1.2", "--level=1",
		"--raid-devices=2", "--homehost=needle", "--name=" + label}, devs...)
	out, err := exec.Command("/sbin/mdadm", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: mdadm --create: %v: %s", label, err, out)
	}
	st, err := k.Status(name)
	if err != nil {
		return err
	}
	guestf("%s round=%d create_ms=%d level=%s state=%s sync_action=%s", label, round, time.Since(start).Milliseconds(), st.Level, st.ArrayState, st.SyncAction)
	sb, err := readSuperblockOf(devs[0])
	if err != nil {
		return err
	}
	if err := resync(ctx, k, round, label, name, sb.Size); err != nil {
		return err
	}
	return k.Stop(name)
}

func readSuperblockOf(dev string) (*Superblock, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, dev)
}
