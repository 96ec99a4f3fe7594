// Package sysroot says where the kernel's views are: sysfs, procfs and
// /dev. Every reader of them (the inventory, coldplug's settle, md, the
// network, the boot medium finder, disk holders, the RAID diagnosis) takes
// a Root, so that tests and `needle … --sysfs DIR` run the same code on a
// captured tree that the ramdisk runs on the machine.
package sysroot

import "path/filepath"

// Root is one machine's (or one captured tree's) sysfs, procfs and /dev.
// An empty field means the running system's.
type Root struct {
	Sys  string // "/sys"
	Proc string // "/proc"
	Dev  string // "/dev"
}

// Host is the running machine's own.
func Host() Root { return Root{Sys: "/sys", Proc: "/proc", Dev: "/dev"} }

// Capture is the Root of a tree written by `needle inventory --capture`:
// DIR/sys, DIR/proc and DIR/dev.
func Capture(dir string) Root {
	return Root{Sys: filepath.Join(dir, "sys"), Proc: filepath.Join(dir, "proc"), Dev: filepath.Join(dir, "dev")}
}

// WithDefaults fills the empty fields with the running system's.
func (r Root) WithDefaults() Root {
	h := Host()
	if r.Sys == "" {
		r.Sys = h.Sys
	}
	if r.Proc == "" {
		r.Proc = h.Proc
	}
	if r.Dev == "" {
		r.Dev = h.Dev
	}
	return r
}

// SysPath joins parts under the sysfs root; ProcPath and DevPath likewise.
func (r Root) SysPath(parts ...string) string {
	return filepath.Join(append([]string{r.Sys}, parts...)...)
}
func (r Root) ProcPath(parts ...string) string {
	return filepath.Join(append([]string{r.Proc}, parts...)...)
}
func (r Root) DevPath(parts ...string) string {
	return filepath.Join(append([]string{r.Dev}, parts...)...)
}
