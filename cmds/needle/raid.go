package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/needle-boot/needle/internal/raid"
)

// runRaid implements "needle raid parse --tool TOOL [--cmd CMD] FILE": it
// prints the controller model read from a captured vendor-tool output, so
// an operator can check a new firmware's output before trusting needle
// with it. "-" reads standard input.
func runRaid(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "parse" {
		fmt.Fprintf(stderr, "usage: needle raid parse --tool TOOL [--cmd CMD] FILE\n")
		return fmt.Errorf("raid: want the subcommand parse")
	}
	fs := newFlags("raid parse", stderr)
	tool := fs.String("tool", "", "tool that printed the output: "+strings.Join(raid.Tools(), ", "))
	cmd := fs.String("cmd", "", "command that printed it (default: detect from the output)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *tool == "" || fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("raid parse: want --tool TOOL and exactly one FILE")
	}
	if !slices.Contains(raid.Tools(), *tool) {
		return fmt.Errorf("raid parse: unknown tool %q (known: %s)", *tool, strings.Join(raid.Tools(), ", "))
	}
	name := fs.Arg(0)
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("raid parse: %w", err)
	}
	r, err := raid.Parse(*tool, *cmd, data)
	if err != nil {
		return fmt.Errorf("raid parse %s: %w", name, err)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
