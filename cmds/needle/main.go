// Command needle is the operator's CLI: it builds the initramfs and boot
// media on the build host, and the same subcommands work inside the ramdisk's
// shell for field recovery.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped by build.sh with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// The first SIGINT or SIGTERM cancels ctx, so the running step stops
	// cleanly (an image write leaves the disk without a partition table);
	// stop then restores the default handlers, so a second signal kills a
	// step that does not notice ctx.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "needle: %v\n", err)
		}
		os.Exit(1)
	}
}

// run dispatches to a subcommand; tests call it in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "needle %s: provisioning ramdisk for bare-metal servers\n\nusage: needle COMMAND [flags]\n\ncommands:\n", version)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
}

// newFlags returns a FlagSet that reports errors instead of exiting, with its
// usage going to stderr.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("needle "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
