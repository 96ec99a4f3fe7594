package sysinit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestMountAll(t *testing.T) {
	var calls []string
	fail := map[string]error{"/dev": unix.EBUSY, "/sys/firmware/efi/efivars": unix.ENODEV}
	m := Mounter{
		Mkdir: func(string, os.FileMode) error { return nil },
		Mount: func(src, target, fstype string, flags uintptr, data string) error {
			calls = append(calls, fstype+" "+target)
			return fail[target]
		},
	}
	warn, err := m.MountAll(Mounts())
	if err != nil {
		t.Fatalf("MountAll: %v", err)
	}
	if len(warn) != 0 {
		t.Errorf("warnings %q, want none (EBUSY is done, no efivarfs is normal)", warn)
	}
	want := []string{"proc /proc", "sysfs /sys", "devtmpfs /dev", "devpts /dev/pts", "tmpfs /run", "tmpfs /tmp", "efivarfs /sys/firmware/efi/efivars"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("mounts (-want +got):\n%s", diff)
	}

	fail = map[string]error{"/sys": unix.EPERM}
	calls = nil
	_, err = m.MountAll(Mounts())
	if err == nil || !strings.Contains(err.Error(), "mount -t sysfs sysfs /sys: operation not permitted") {
		t.Errorf("MountAll with sysfs failing: %v", err)
	}
	if len(calls) != 2 {
		t.Errorf("went on after a required mount failed: %q", calls)
	}
}

func TestPowerSyncTimeout(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	var got int
	p := Power{Sync: func() { <-block }, Reboot: func(c int) error { got = c; return errors.New("fake reboot") }, SyncTimeout: 10 * time.Millisecond}
	if err := p.Do(Poweroff); err == nil || err.Error() != "fake reboot" {
		t.Fatalf("Do: %v", err)
	}
	if got != unix.LINUX_REBOOT_CMD_POWER_OFF {
		t.Errorf("reboot cmd %#x, want POWER_OFF: a hung sync must not block the power-off", got)
	}
	if err := p.Do("explode"); err == nil {
		t.Errorf("unknown action accepted")
	}
}

func TestSignalAction(t *testing.T) {
	for sig, want := range map[unix.Signal]string{unix.SIGUSR2: Poweroff, unix.SIGTERM: Reboot, unix.SIGUSR1: Halt, unix.SIGHUP: ""} {
		if got := SignalAction(sig); got != want {
			t.Errorf("SignalAction(%v) = %q, want %q", sig, got, want)
		}
	}
}

func TestActive(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "class/tty/console")
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p, "active"), []byte("tty0 ttyS0\n"), 0o644)
	if got, err := Active(root); err != nil || got != "/dev/ttyS0" {
		t.Errorf("Active = %q, %v, want /dev/ttyS0", got, err)
	}
}

func TestKmsg(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "kmsg"))
	if err != nil {
		t.Fatal(err)
	}
	k := &Kmsg{f: f}
	k.Write([]byte("one\ntw"))
	k.Write([]byte("o\n\n"))
	f.Close()
	b, _ := os.ReadFile(filepath.Join(dir, "kmsg"))
	if want := "<7>needle: one<7>needle: two"; string(b) != want {
		t.Errorf("kmsg got %q, want %q", b, want)
	}
}

func TestClockFloor(t *testing.T) {
	floor := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	var set []time.Time
	rec := func(t time.Time) error { set = append(set, t); return nil }
	if moved, err := ClockFloor(floor, time.Date(2001, 1, 1, 0, 0, 5, 0, time.UTC), rec); !moved || err != nil || len(set) != 1 || !set[0].Equal(floor) {
		t.Errorf("a clock in 2001: moved=%v err=%v set=%v, want it set to the floor", moved, err, set)
	}
	if moved, _ := ClockFloor(floor, floor.Add(time.Hour), rec); moved || len(set) != 1 {
		t.Errorf("a clock past the floor was moved: %v", set)
	}
	if moved, _ := ClockFloor(time.Time{}, time.Unix(0, 0), rec); moved {
		t.Error("no floor (a dev build) must not move the clock")
	}
}
