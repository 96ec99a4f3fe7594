package handoff

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// jumped is what the fake reboot panics with: the real one does not return.
type jumped struct{ cmd int }

// fakeKernel stands in for the kernel: it records every call, and its
// kexec_file_load refuses a writable descriptor as the real one does
// (kernel_read_file → deny_write_access: ETXTBSY), then returns loadErr.
type fakeKernel struct {
	t         *testing.T
	events    []string
	loadErr   error
	rebootErr error // for LINUX_REBOOT_CMD_KEXEC; nil means it jumps
}

func (k *fakeKernel) readFd(fd int) string {
	if fd < 0 {
		return "none"
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		k.t.Fatalf("fcntl(%d): %v", fd, err)
	}
	mode := "O_RDONLY"
	if flags&unix.O_ACCMODE != unix.O_RDONLY {
		mode = "writable"
	}
	buf := make([]byte, 4096)
	n, err := unix.Pread(fd, buf, 0)
	if err != nil {
		k.t.Fatalf("pread(%d): %v", fd, err)
	}
	return fmt.Sprintf("%s %q", mode, buf[:n])
}

func (k *fakeKernel) sys() Sys {
	return Sys{
		KexecFileLoad: func(kfd, ifd int, cmdline string, flags int) error {
			kern, initrd := k.readFd(kfd), k.readFd(ifd)
			k.events = append(k.events, fmt.Sprintf("kexec_file_load(kernel=%s, initrd=%s, %q, %#x)", kern, initrd, cmdline, flags))
			if strings.HasPrefix(kern, "writable") || strings.HasPrefix(initrd, "writable") {
				return syscall.ETXTBSY
			}
			return k.loadErr
		},
		Reboot: func(cmd int) error {
			name := map[int]string{RebootCmdKexec: "KEXEC", RebootCmdRestart: "RESTART"}[cmd]
			k.events = append(k.events, "reboot("+name+")")
			if cmd == RebootCmdKexec && k.rebootErr != nil {
				return k.rebootErr
			}
			panic(jumped{cmd})
		},
		Mounts: func() ([]string, error) {
			return []string{"/", "/proc", "/sys", "/mnt/needle", "/mnt/needle/root", "/mnt/needle/root/boot", "/mnt/needle-cache"}, nil
		},
		Unmount: func(target string) error {
			k.events = append(k.events, "umount "+target)
			return nil
		},
		Sync: func() { k.events = append(k.events, "sync") },
	}
}

// run runs the handoff and reports whether the fake reboot was reached.
func run(h *Handoff, a Action) (cmd int, err error) {
	defer func() {
		if r := recover(); r != nil {
			j, ok := r.(jumped)
			if !ok {
				panic(r)
			}
			cmd = j.cmd
		}
	}()
	return 0, h.Run(context.Background(), a)
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	writeFile(t, kernel, "bzImage")
	ucode := filepath.Join(dir, "intel-ucode.img")
	writeFile(t, ucode, "ucode-cpio|")
	initrd := filepath.Join(dir, "initramfs.img")
	writeFile(t, initrd, "initramfs-cpio")
	lockIntegrity := filepath.Join(dir, "lockdown-integrity")
	writeFile(t, lockIntegrity, "none [integrity] confidentiality\n")
	lockNone := filepath.Join(dir, "lockdown-none")
	writeFile(t, lockNone, "[none] integrity confidentiality\n")
	disabled := filepath.Join(dir, "kexec_load_disabled")
	writeFile(t, disabled, "1\n")
	enabled := filepath.Join(dir, "kexec_load_enabled")
	writeFile(t, enabled, "0\n")

	const cmdline = "root=PARTUUID=6c0e7e5a-03 ro console=ttyS0,115200n8"
	one := &Target{Kernel: kernel, Initrd: []string{initrd}, Cmdline: cmdline, Source: "test"}
	load := fmt.Sprintf(`kexec_file_load(kernel=O_RDONLY "bzImage", initrd=O_RDONLY "initramfs-cpio", %q, 0x0)`, cmdline)
	unmountSync := []string{"umount /mnt/needle/root/boot", "umount /mnt/needle/root", "umount /mnt/needle", "sync"}
	seq := func(parts ...any) []string {
		var out []string
		for _, p := range parts {
			switch p := p.(type) {
			case string:
				out = append(out, p)
			case []string:
				out = append(out, p...)
			}
		}
		return out
	}

	tests := []struct {
		name        string
		action      Action
		loadErr     error
		rebootErr   error
		lockdown    string
		disabled    string
		wantEvents  []string
		wantJump    int   // the reboot command reached, 0 when Run returned
		wantKind    error // a Refusal, when Run reports one
		wantErrno   error
		wantMessage string
	}{
		{name: "kexec", action: Action{Target: one, Fallback: "reboot"},
			wantEvents: seq(load, "loaded", unmountSync, "reboot(KEXEC)"), wantJump: RebootCmdKexec},
		{name: "microcode and initramfs are concatenated", action: Action{Target: &Target{Kernel: kernel, Initrd: []string{ucode, initrd}, Cmdline: "ro"}, Fallback: "reboot"},
			wantEvents: seq(`kexec_file_load(kernel=O_RDONLY "bzImage", initrd=O_RDONLY "ucode-cpio|initramfs-cpio", "ro", 0x0)`, "loaded", unmountSync, "reboot(KEXEC)"),
			wantJump:   RebootCmdKexec},
		{name: "no initrd", action: Action{Target: &Target{Kernel: kernel, Cmdline: "ro"}, Fallback: "reboot"},
			wantEvents: seq(`kexec_file_load(kernel=O_RDONLY "bzImage", initrd=none, "ro", 0x4)`, "loaded", unmountSync, "reboot(KEXEC)"),
			wantJump:   RebootCmdKexec},
		{name: "plain reboot", action: Action{Reboot: true},
			wantEvents: seq(unmountSync, "reboot(RESTART)"), wantJump: RebootCmdRestart},
		{name: "lockdown, fallback reboot", action: Action{Target: one, Fallback: "reboot"}, loadErr: syscall.EPERM, lockdown: lockIntegrity,
			wantEvents: seq(load, unmountSync, "reboot(RESTART)"), wantJump: RebootCmdRestart},
		{name: "lockdown, fallback fail", action: Action{Target: one, Fallback: "fail"}, loadErr: syscall.EPERM, lockdown: lockIntegrity,
			wantEvents: seq(load), wantKind: RefusedLockdown, wantErrno: syscall.EPERM,
			wantMessage: "kexec_file_load: kexec refused by lockdown: the running kernel is in lockdown=integrity"},
		{name: "sysctl disabled", action: Action{Target: one, Fallback: "fail"}, loadErr: syscall.EPERM, lockdown: lockNone, disabled: disabled,
			wantEvents: seq(load), wantKind: RefusedDisabled, wantErrno: syscall.EPERM, wantMessage: "kexec_load_disabled is 1"},
		{name: "no CAP_SYS_BOOT", action: Action{Target: one, Fallback: "fail"}, loadErr: syscall.EPERM, lockdown: lockNone, disabled: enabled,
			wantEvents: seq(load), wantKind: RefusedPermission, wantErrno: syscall.EPERM, wantMessage: "CAP_SYS_BOOT"},
		{name: "EPERM without securityfs", action: Action{Target: one, Fallback: "fail"}, loadErr: syscall.EPERM, lockdown: filepath.Join(dir, "absent"),
			wantEvents: seq(load), wantKind: RefusedPermission, wantErrno: syscall.EPERM, wantMessage: "lockdown state unknown"},
		{name: "no kexec_file_load", action: Action{Target: one, Fallback: "fail"}, loadErr: syscall.ENOSYS,
			wantEvents: seq(load), wantKind: RefusedUnsupported, wantErrno: syscall.ENOSYS, wantMessage: "CONFIG_KEXEC_FILE"},
		{name: "EINVAL", action: Action{Target: one, Fallback: "fail"}, loadErr: syscall.EINVAL,
			wantEvents: seq(load), wantKind: RefusedUnsupported, wantErrno: syscall.EINVAL, wantMessage: "kexec_file_load not supported"},
		{name: "image format", action: Action{Target: one, Fallback: "fail"}, loadErr: syscall.ENOEXEC,
			wantEvents: seq(load), wantKind: RefusedUnsupported, wantErrno: syscall.ENOEXEC, wantMessage: "no loader for this kernel image format"},
		{name: "signature rejected", action: Action{Target: one, Fallback: "fail"}, loadErr: syscall.EKEYREJECTED,
			wantEvents: seq(load), wantKind: RefusedSignature, wantErrno: syscall.EKEYREJECTED, wantMessage: "KEXEC_SIG_FORCE"},
		{name: "no key", action: Action{Target: one, Fallback: "reboot"}, loadErr: syscall.ENOKEY,
			wantEvents: seq(load, unmountSync, "reboot(RESTART)"), wantJump: RebootCmdRestart},
		{name: "jump fails after load", action: Action{Target: one, Fallback: "reboot"}, rebootErr: syscall.EINVAL,
			wantEvents: seq(load, "loaded", unmountSync, "reboot(KEXEC)", unmountSync, "reboot(RESTART)"), wantJump: RebootCmdRestart},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fk := &fakeKernel{t: t, loadErr: tc.loadErr, rebootErr: tc.rebootErr}
			tmp := t.TempDir()
			h := &Handoff{
				Sys: fk.sys(), MountRoot: "/mnt/needle", TempDir: tmp, Log: testLogger(t),
				LockdownPath: tc.lockdown, KexecDisabledPath: tc.disabled,
				OnLoaded: func(Action) { fk.events = append(fk.events, "loaded") },
			}
			if h.LockdownPath == "" {
				h.LockdownPath = lockNone
			}
			jump, err := run(h, tc.action)
			if diff := cmp.Diff(tc.wantEvents, fk.events); diff != "" {
				t.Errorf("calls mismatch (-want +got):\n%s", diff)
			}
			if jump != tc.wantJump {
				t.Errorf("reboot reached with %#x, want %#x (Run returned %v)", jump, tc.wantJump, err)
			}
			if tc.wantJump != 0 {
				if left, _ := os.ReadDir(tmp); len(left) != 0 {
					t.Errorf("temporary files left behind: %v", left)
				}
				return
			}
			if err == nil {
				t.Fatal("Run returned nil, want an error")
			}
			if !errors.Is(err, tc.wantKind) || !errors.Is(err, tc.wantErrno) {
				t.Errorf("Run error = %v, want errors.Is %v and %v", err, tc.wantKind, tc.wantErrno)
			}
			if !strings.Contains(err.Error(), tc.wantMessage) {
				t.Errorf("Run error = %q, want it to contain %q", err, tc.wantMessage)
			}
		})
	}
}

// TestWritableInitrdRefused checks the fake kernel against the trap it
// models: a descriptor open for writing is refused with ETXTBSY.
func TestWritableInitrdRefused(t *testing.T) {
	fk := &fakeKernel{t: t}
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "initrd"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("cpio")
	err = fk.sys().KexecFileLoad(int(f.Fd()), int(f.Fd()), "", 0)
	if !errors.Is(err, syscall.ETXTBSY) {
		t.Errorf("fake kexec_file_load with a writable fd = %v, want ETXTBSY", err)
	}
	if k := classify("kexec_file_load", err, "", ""); k.Kind != RefusedBusy {
		t.Errorf("classify(ETXTBSY) = %v, want %v", k.Kind, RefusedBusy)
	}
}
