package bootmedia

import "golang.org/x/sys/unix"

// HostMount fills the mount leaves with the real syscalls.
func (f *Finder) HostMount() {
	f.Mount = unix.Mount
	f.Unmount = func(target string) error { return unix.Unmount(target, 0) }
}
