// Command fake-arcconf is the FAKE arcconf of needle's tests as a standalone
// program (CGO_ENABLED=0 makes it static), not Adaptec's tool. Install it
// as "arcconf"; its state lives in $NEEDLE_FAKE_STATE (default
// /run/fake-arcconf.json) and starts from $NEEDLE_FAKE_SEED or the file
// $NEEDLE_FAKE_SEED_FILE.
package main

import (
	"os"

	"github.com/needle-boot/needle/internal/raid/fake"
)

func main() { os.Exit(fake.Arcconf(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)) }
