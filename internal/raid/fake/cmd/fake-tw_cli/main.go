// Command fake-tw_cli is the FAKE tw_cli of needle's tests as a standalone
// program (CGO_ENABLED=0 makes it static), not LSI/3ware's tool. Install it
// as "tw_cli"; its state lives in $NEEDLE_FAKE_STATE (default
// /run/fake-tw_cli.json) and starts from $NEEDLE_FAKE_SEED or the file
// $NEEDLE_FAKE_SEED_FILE.
package main

import (
	"os"

	"github.com/needle-boot/needle/internal/raid/fake"
)

func main() { os.Exit(fake.Twcli(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)) }
