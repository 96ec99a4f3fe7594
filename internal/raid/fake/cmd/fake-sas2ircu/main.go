// Command fake-sas2ircu is the FAKE sas2ircu of needle's tests as a
// standalone program (CGO_ENABLED=0 makes it static), for ramdisk images
// that exercise RAID without LSI's tool or hardware. Install it as
// "sas2ircu"; its state lives in $NEEDLE_FAKE_STATE (default
// /run/fake-sas2ircu.json) and starts from $NEEDLE_FAKE_SEED or the file
// $NEEDLE_FAKE_SEED_FILE.
package main

import (
	"os"

	"github.com/needle-boot/needle/internal/raid/fake"
)

func main() { os.Exit(fake.SAS2IRCU(os.Args[1:], os.Getenv, os.Stdout, os.Stderr)) }
