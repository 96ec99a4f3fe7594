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
)

// runBisectRun bisects from the debug shell what needle.bisect=SOURCE
// bisects at boot: the box's drivers and network are up already (the
// init's looking stages ran); SOURCE is the URL or directory of a set
// `needle bisect build` wrote.
func runBisectRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bisect run", stderr)
	debug := fs.Bool("debug", false, "log every step")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("bisect run: want one SOURCE (the URL or directory of a bisection set)")
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("bisect run: swapping drivers needs root")
	}
	rep := report.New(report.Console{W: stdout, Boot: time.Now()})
	m, err := install.OnHost(&cmdline.Config{Debug: *debug}, rep, nil)
	if err != nil {
		return fmt.Errorf("bisect run: %w", err)
	}
	defer m.Finish()
	if err := m.Bisect(ctx, fs.Arg(0)); err != nil {
		return fmt.Errorf("bisect run: %w", err)
	}
	return nil
}
