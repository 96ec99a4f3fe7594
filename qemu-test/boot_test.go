package qemutest

import (
	"strings"
	"testing"
	"time"
)

// Wiring for the foundation scenarios: no disks, no NIC (-nodefaults); the
// serial console on QEMU's stdio is the only device the tests talk to.

const bootTimeout = 90 * time.Second

// TestBootBanner boots to the init banner and the printed stage list, lets
// the sequence finish, and powers off from the shell with busybox's
// poweroff, which signals PID 1 (SIGUSR2).
func TestBootBanner(t *testing.T) {
	t.Parallel()
	a := Require(t)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "quiet"})
	vm.Expect(`needle \S+ on Linux 6\.\S+, PID 1`, bootTimeout)
	vm.Expect(`stages:\s+1\. inventory/scan \(fatal\)`, 10*time.Second)
	vm.Expect(`inventory/scan: ok`, 30*time.Second)
	vm.Expect(`all stages done`, 10*time.Second)
	vm.Expect(`needle# `, 20*time.Second)
	vm.Send("poweroff")
	vm.Expect(`SIGUSR2 received: poweroff`, 20*time.Second)
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Fatalf("guest did not power off: %v", err)
	}
}

// TestShellFirst: needle.shell gives a shell before any stage; it runs
// commands, and its exit resumes the install.
func TestShellFirst(t *testing.T) {
	t.Parallel()
	a := Require(t)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "quiet needle.shell"})
	vm.Expect(`needle\.shell: shell before any stage`, bootTimeout)
	vm.Expect(`needle# `, 30*time.Second)
	if got := vm.Console(); strings.Contains(got, "inventory/scan: started") {
		t.Fatalf("a stage ran before the needle.shell shell")
	}
	vm.Send(`ls -1 /; echo LS-$((2+3))`)
	vm.Expect(`(?s)\nbin\s+dev\s+etc\s+init\s+lib\s.*LS-5`, 20*time.Second)
	vm.Send(`cat /proc/cmdline; echo CMD-$((3+4))`)
	vm.Expect(`console=ttyS0 panic=-1 no_timer_check quiet needle\.shell\s+CMD-7`, 20*time.Second)
	vm.Send("exit")
	vm.Expect(`inventory/scan: started`, 20*time.Second)
	vm.Expect(`all stages done`, 20*time.Second)
	vm.Expect(`needle# `, 20*time.Second)
	vm.Send("exit") // the init said: 'exit' reboots; -no-reboot makes QEMU exit
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Fatalf("guest did not reboot after the last shell: %v", err)
	}
}

// TestBreak: needle.break=inventory stops after the stage with a shell.
func TestBreak(t *testing.T) {
	t.Parallel()
	a := Require(t)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "quiet needle.break=inventory"})
	vm.Expect(`inventory/scan: ok`, bootTimeout)
	vm.Expect(`needle\.break=inventory: stopped after stage inventory`, 20*time.Second)
	vm.Expect(`needle# `, 20*time.Second)
	vm.Send(`test -s /run/needle/events.jsonl && echo EVENTS-OK`)
	vm.Expect(`EVENTS-OK`, 20*time.Second)
	vm.Send("exit")
	vm.Expect(`all stages done`, 20*time.Second)
}

// TestFatalPoweroff forces a fatal error: the diagnosis names the stage,
// step and cause, a countdown is printed, and the VM powers off.
func TestFatalPoweroff(t *testing.T) {
	t.Parallel()
	a := Require(t)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "quiet needle.fail=inventory needle.onfail=poweroff"})
	vm.Expect(`INSTALL FAILED`, bootTimeout)
	vm.Expect(`stage: inventory\s+needle:\s+step:\s+scan\s+needle:\s+cause: failure injected by needle\.fail=inventory`, 5*time.Second)
	vm.Expect(`needle\.onfail=poweroff: poweroff in 5 s`, 5*time.Second)
	vm.Expect(`reboot: Power down`, 30*time.Second)
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Fatalf("guest did not power off: %v", err)
	}
}

// TestBadCmdline: a malformed needle.* value is a fatal error naming the
// key; with the default onfail the operator gets a shell.
func TestBadCmdline(t *testing.T) {
	t.Parallel()
	a := Require(t)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "quiet needle.break=disk"})
	vm.Expect(`INSTALL FAILED`, bootTimeout)
	vm.Expect(`step:\s+cmdline\s+needle:\s+cause: needle\.break="disk": not a stage`, 5*time.Second)
	vm.Expect(`needle\.onfail=shell: the install stopped; 'exit' reboots`, 5*time.Second)
	vm.Expect(`needle# `, 20*time.Second)
	vm.Send("exit")
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Fatalf("guest did not reboot: %v", err)
	}
}
