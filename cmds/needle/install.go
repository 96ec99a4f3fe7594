package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/install"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/stage"
)

// runInstall runs needle's install sequence by hand, from the ramdisk's
// debug shell: the operator at a broken box fixes what stopped the init
// (a module, a cable, the plan on the server) and continues.
//
// The stages that only look (inventory, modules, network, plan) always
// run, since the later ones need what they find; --from skips the
// destructive stages before the one named. A cut that leaves a step
// without the result it reads (--from image: the disks stage opens and
// places the disks the image is streamed into) is refused before anything
// runs.
func runInstall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("install", stderr)
	from := fs.String("from", "", "continue from this stage: "+cmdline.StageList())
	to := fs.String("to", "", "stop after this stage (like needle.break)")
	list := fs.Bool("list", false, "print the sequence and stop")
	line := fs.String("cmdline", "/proc/cmdline", "kernel command line `FILE` to take needle.* settings from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range []string{*from, *to} {
		if s != "" && cmdline.StageIndex(s) < 0 {
			return fmt.Errorf("install: %q is not a stage (%s)", s, cmdline.StageList())
		}
	}
	b, err := os.ReadFile(*line)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	cfg, err := cmdline.Parse(string(b))
	if err != nil {
		return fmt.Errorf("install: %s: %w", *line, err)
	}
	rep := report.New(report.Console{W: stdout, Boot: time.Now()})
	// As the init does: a mistyped needle.* key is said, not ignored.
	for _, w := range cfg.Warnings {
		rep.Warnf("init", "kernel command line: %s", w)
	}
	m, err := install.OnHost(cfg, rep, nil)
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	seq := install.Sequence(m)
	if *list {
		fmt.Fprint(stdout, seq)
		return nil
	}
	var run stage.Sequence
	for _, s := range seq {
		if *from == "" || !install.Destructive(s.Stage) || stageIndex(string(s.Stage)) >= stageIndex(*from) {
			if *to == "" || stageIndex(string(s.Stage)) <= stageIndex(*to) {
				run = append(run, s)
			}
		}
	}
	if err := run.Check(); err != nil {
		// A later stage reads what a skipped one made (the image stage
		// streams into the disks the disks stage opened and placed).
		return fmt.Errorf("install: --from %s --to %s: %w; continue from an earlier stage", *from, *to, err)
	}
	if err := run.Run(ctx, stage.Options{Report: rep}); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	return nil
}

func stageIndex(s string) int { return cmdline.StageIndex(s) }
