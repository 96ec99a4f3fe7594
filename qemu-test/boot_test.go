package qemutest

import (
	"strings"
	"testing"
	"time"
)

// Wiring for the foundation scenarios: no disks, no NIC (-nodefaults); the
// serial console on QEMU's stdio is the only device the tests talk to.

const bootTimeout = 90 * time.Second

// TestBootBanner boots to the init banner and the printed stage list; the
// inventory runs, and with no plan anywhere the plan stage stops the
// install with a diagnosis, after which needle.onfail=poweroff powers the VM
// off.
func TestBootBanner(t *testing.T) {
	t.Parallel()
	a := Require(t)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "quiet needle.onfail=poweroff"})
	vm.Expect(`needle \S+ on Linux 6\.\S+, PID 1`, bootTimeout)
	vm.Expect(`stages:\s+1\. inventory/scan \(fatal\): → inventory\s+2\. modules/hwdb \(fatal\): → hwdb\s+3\. modules/coldplug \(fatal\): inventory, hwdb → modules\s`, 10*time.Second)
	vm.Expect(`\d+\. plan/fetch \(fatal\): [^\n]*→ plan\s+\d+\. plan/validate \(fatal\)`, 10*time.Second)
	vm.Expect(`inventory/scan: ok`, 30*time.Second)
	vm.Expect(`INSTALL FAILED\s+needle:\s+stage: plan\s+needle:\s+step:\s+fetch\s+needle:\s+cause: no plan: boot with needle\.plan=URL, or build the image with --plan FILE`, 30*time.Second)
	if err := vm.Wait(60 * time.Second); err != nil {
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
	vm.Expect(`INSTALL FAILED`, 30*time.Second)
	vm.Expect(`'exit' reboots`, 10*time.Second)
	vm.Expect(`needle# `, 20*time.Second)
	vm.Send("exit") // -no-reboot makes QEMU exit on the reboot
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Fatalf("guest did not reboot after the last shell: %v", err)
	}
}

// TestBreak: needle.break=inventory stops after the stage with a shell
// that sees the kept inventory and events; busybox's poweroff there
// signals PID 1 (SIGUSR2), which powers off.
func TestBreak(t *testing.T) {
	t.Parallel()
	a := Require(t)
	vm := Start(t, Config{Kernel: a.Kernel, Initrd: a.Initrd, Append: "quiet needle.break=inventory",
		SMBIOS: []string{"type=1,manufacturer=Dell Inc.,product=PowerEdge C5220,serial=BREAK01"}})
	vm.Expect(`inventory/scan: ok`, bootTimeout)
	vm.Expect(`needle\.break=inventory: stopped after stage inventory`, 20*time.Second)
	vm.Expect(`needle# `, 20*time.Second)
	vm.Send(`grep -c '"kind":"finish"' /run/needle/events.jsonl; grep -o '"product_serial": "[A-Z0-9]*"' /run/needle/inventory.json`)
	vm.Expect(`\n1\s+"product_serial": "BREAK01"`, 20*time.Second)
	vm.Send("poweroff")
	vm.Expect(`SIGUSR2 received: poweroff`, 20*time.Second)
	if err := vm.Wait(30 * time.Second); err != nil {
		t.Fatalf("guest did not power off: %v", err)
	}
	if strings.Contains(vm.Console(), "plan/fetch: started") {
		t.Errorf("the plan stage ran although the shell powered off")
	}
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
