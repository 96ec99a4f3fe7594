//go:build !linux

package fake

import "os"

// dieSIGSEGV: outside Linux the fake only mimics the shell's status of a
// SIGSEGV death (128+11); needle's ramdisk and its tests run on Linux.
func dieSIGSEGV() { os.Exit(139) }
