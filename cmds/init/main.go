// Command init is needle's PID 1. It mounts the pseudo filesystems, reads
// the kernel command line, prints the stage sequence and runs it, and on a
// failure prints a diagnosis (stage, step, cause) and gives a shell,
// reboots or powers off as needle.onfail says. It never returns.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/install"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/stage"
	"github.com/needle-boot/needle/internal/sysinit"
)

// version is stamped by build.sh with -ldflags "-X main.version=…".
var version = "dev"

// epoch is the image's build time (Unix seconds: the commit's, set by
// build.sh): the clock never runs before it.
var epoch = ""

const eventLog = "/run/needle/events.jsonl"

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "needle init: this is PID 1 of needle's initramfs; on a host, use the needle command")
		os.Exit(2)
	}
	// The kernel starts init with HOME and TERM only: without PATH, the
	// vendor tools in /bin (needle build --tool) would not be found.
	os.Setenv("PATH", "/bin:/sbin:/usr/bin:/usr/sbin")
	p := &pid1{
		out:    os.Stdout, // the kernel's /dev/console
		power:  sysinit.HostPower(),
		reaper: &sysinit.Reaper{},
		cfg:    &cmdline.Config{OnFail: cmdline.OnFailShell},
		boot:   time.Now(),
	}
	p.run()
}

// pid1 is the init's own state: where it writes and how it ends.
type pid1 struct {
	out    io.Writer
	power  sysinit.Power
	reaper *sysinit.Reaper
	cfg    *cmdline.Config
	rep    *report.Reporter
	boot   time.Time
	m      *install.Machine // once set up: flushed before the end
}

func (p *pid1) printf(format string, args ...any) {
	fmt.Fprintf(p.out, "needle: "+format+"\n", args...)
}

func (p *pid1) run() {
	defer func() {
		if r := recover(); r != nil {
			p.fail(&stage.Error{Stage: "init", Step: "panic", Err: fmt.Errorf("%v\n%s", r, debug.Stack())})
		}
	}()
	ctx := context.Background()
	warnings, err := sysinit.HostMounter().MountAll(sysinit.Mounts())
	p.boot = bootTime()
	p.rep = report.New(report.Console{W: p.out, Boot: p.boot})
	if err != nil {
		p.fail(&stage.Error{Stage: "init", Step: "mount", Err: err})
	}
	if k, err := sysinit.OpenKmsg("/dev", "/proc"); err == nil {
		p.rep.Add(report.Console{W: k, Boot: p.boot})
	}
	if err := os.MkdirAll("/run/needle", 0o755); err == nil {
		if f, err := os.OpenFile(eventLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			p.rep.Add(report.JSONLines{W: f})
		}
	}
	go p.reaper.Loop(ctx)
	go p.signals()
	// Ctrl-Alt-Del sends SIGINT to PID 1 instead of an immediate reboot.
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF)
	for _, w := range warnings {
		p.rep.Warnf("init", "%s", w)
	}
	p.clockFloor()

	line, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		p.fail(&stage.Error{Stage: "init", Step: "cmdline", Err: err})
	}
	cfg, err := cmdline.Parse(string(line))
	if err != nil {
		p.fail(&stage.Error{Stage: "init", Step: "cmdline", Err: err})
	}
	p.cfg = cfg
	for _, w := range cfg.Warnings {
		p.rep.Warnf("init", "kernel command line: %s", w)
	}

	m, err := install.OnHost(cfg, p.rep, p.reaper.Hold)
	if err != nil {
		p.fail(&stage.Error{Stage: "init", Step: "setup", Err: err})
	}
	p.m = m
	seq := install.Sequence(m)
	if cfg.Bisect != "" {
		// needle.bisect=: find the driver change, install nothing.
		seq = install.BisectSequence(m, cfg.Bisect)
	}
	p.printf("needle %s on Linux %s, PID 1", version, m.KernelRelease)
	fmt.Fprintf(p.out, "needle: stages:\n%s", seq)

	if cfg.Shell {
		p.shell("needle.shell: shell before any stage; 'exit' starts the install")
	}
	err = seq.Run(ctx, stage.Options{
		Report: p.rep,
		Break:  cfg.Break,
		Fail:   cfg.Fail,
		OnBreak: func(ctx context.Context, st string) error {
			p.shell(fmt.Sprintf("needle.break=%s: stopped after stage %s; 'exit' resumes the install", st, st))
			return nil
		},
	})
	if err != nil {
		p.fail(err)
	}
	if cfg.Bisect != "" {
		m.Finish()
		p.printf("bisect done (no disk was written); shell follows, 'exit' reboots")
		p.shell("")
		p.end(sysinit.Reboot)
	}
	p.rep.Emit(report.Event{Kind: report.Result, Message: "all stages done", Data: map[string]any{"ok": true}})
	m.Finish()
	if m.After == sysinit.Reboot {
		p.printf("installed; rebooting as the plan says")
		p.end(sysinit.Reboot)
	}
	p.printf("all stages done and no handoff ran: shell follows, 'exit' reboots")
	p.shell("")
	p.end(sysinit.Reboot)
}

// clockFloor moves a clock that runs before the image was built (a dead
// RTC battery) to the build time, so that certificates verify.
func (p *pid1) clockFloor() {
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return // a dev build
	}
	now := time.Now()
	floor := time.Unix(sec, 0)
	moved, err := sysinit.ClockFloor(floor, now, sysinit.SetClock)
	switch {
	case err != nil:
		p.rep.Warnf("init", "system clock is %s, before this image was built (%s), and cannot be set: %v; HTTPS will refuse certificates",
			now.UTC().Format(time.RFC3339), floor.UTC().Format(time.RFC3339), err)
	case moved:
		p.rep.Warnf("init", "system clock was %s, before this image was built: set to %s (check the RTC battery)",
			now.UTC().Format(time.RFC3339), floor.UTC().Format(time.RFC3339))
	}
}

// fail prints the diagnosis and does what needle.onfail says. It never
// returns.
func (p *pid1) fail(err error) {
	se, ok := err.(*stage.Error)
	if !ok {
		se = &stage.Error{Stage: "init", Step: "?", Err: err}
	}
	if p.rep != nil {
		p.rep.Emit(report.Event{Stage: se.Stage, Step: se.Step, Kind: report.Result, Message: "install failed: " + se.Err.Error(),
			Data: map[string]any{"ok": false}})
	}
	if p.m != nil {
		p.m.Finish()
	}
	rule := strings.Repeat("=", 60)
	p.printf("%s", rule)
	p.printf("INSTALL FAILED")
	p.printf("  stage: %s", se.Stage)
	p.printf("  step:  %s", se.Step)
	for i, l := range strings.Split(se.Err.Error(), "\n") {
		if i == 0 {
			p.printf("  cause: %s", l)
		} else {
			p.printf("         %s", l)
		}
	}
	p.printf("  log:   %s", eventLog)
	p.printf("%s", rule)
	switch p.cfg.OnFail {
	case cmdline.OnFailReboot, cmdline.OnFailPoweroff:
		const countdown = 5
		p.printf("needle.onfail=%s: %s in %d s", p.cfg.OnFail, p.cfg.OnFail, countdown)
		for i := countdown; i > 0; i-- {
			fmt.Fprintf(p.out, "%d... ", i)
			time.Sleep(time.Second)
		}
		fmt.Fprintln(p.out)
		p.end(p.cfg.OnFail)
	default:
		p.shell("needle.onfail=shell: the install stopped; 'exit' reboots")
		p.end(sysinit.Reboot)
	}
}

// shell runs the debug shell on the active console and returns when it
// exits. With no shell in the image it says so and returns.
func (p *pid1) shell(msg string) {
	if msg != "" {
		p.printf("%s", msg)
	}
	tty, err := sysinit.Active("/sys")
	if err != nil {
		tty = "/dev/console"
	}
	env := []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin", "HOME=/root", "TERM=linux", "NEEDLE_EVENTS=" + eventLog}
	if err := sysinit.Shell(context.Background(), p.reaper, tty, "/bin/sh", env); err != nil {
		p.printf("%v", err)
		time.Sleep(time.Second) // no busy loop when the shell cannot start
	}
}

// end syncs and powers off or reboots. If the kernel refuses, PID 1 still
// must not exit (the kernel would panic): it keeps offering a shell.
func (p *pid1) end(action string) {
	p.printf("%s", action)
	err := p.power.Do(action)
	for {
		p.printf("%s failed: %v; shell follows", action, err)
		p.shell("")
	}
}

// signals turns busybox's poweroff/reboot/halt (which signal PID 1) and
// Ctrl-Alt-Del into actions.
func (p *pid1) signals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGUSR1, unix.SIGUSR2, unix.SIGTERM, unix.SIGINT)
	for s := range ch {
		sig, _ := s.(unix.Signal)
		if action := sysinit.SignalAction(sig); action != "" {
			p.printf("%s received: %s", unix.SignalName(sig), action)
			p.end(action)
		}
	}
}

// bootTime is when the kernel started, from /proc/uptime, so the init's
// timestamps line up with the kernel's.
func bootTime() time.Time {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return time.Now()
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return time.Now()
	}
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return time.Now()
	}
	return time.Now().Add(-time.Duration(up * float64(time.Second)))
}
