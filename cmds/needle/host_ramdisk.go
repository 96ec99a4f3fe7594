//go:build ramdisk

package main

// hostCommands: the ramdisk's needle has no host-only commands (host.go).
func hostCommands() []command { return nil }
