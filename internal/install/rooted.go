package install

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// The installed tree is the installed system's, not the ramdisk's: its
// absolute symlinks (Debian's /var/run -> /run, /etc/resolv.conf ->
// /run/systemd/...) and any ".." point into the installed root when that
// system runs, so needle resolves them the same way, with openat2's
// RESOLVE_IN_ROOT (openat2(2); fs/namei.c, LOOKUP_IN_ROOT): "/" and ".."
// stop at the root directory, so neither a symlink nor a path can reach
// the ramdisk. Paths are interpreted relative to the root whether they
// start with "/" or not.

// inRoot opens name resolved inside the directory rootfd.
func inRoot(rootfd int, name string, flags int, mode uint32) (int, error) {
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	if flags&unix.O_CREAT != 0 {
		how.Mode = uint64(mode)
	}
	for {
		fd, err := unix.Openat2(rootfd, name, how)
		// EAGAIN: a rename raced the lookup (openat2(2)); try again.
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		return fd, err
	}
}

// openRoot opens dir as the root paths are resolved in.
func openRoot(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fd, nil
}

// mkdirAllIn creates the directory dir inside rootfd with its parents and
// returns it opened (O_PATH).
func mkdirAllIn(rootfd int, dir string) (int, error) {
	fd, err := inRoot(rootfd, "/", unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, err
	}
	cur := "/"
	for _, c := range splitPath(dir) {
		next := path.Join(cur, c)
		nfd, err := inRoot(rootfd, next, unix.O_PATH|unix.O_DIRECTORY, 0)
		if errors.Is(err, unix.ENOENT) {
			// fd is cur, resolved in the root; c is one name, and mkdirat
			// never follows it.
			if err := unix.Mkdirat(fd, c, 0o755); err != nil && !errors.Is(err, unix.EEXIST) {
				unix.Close(fd)
				return -1, &os.PathError{Op: "mkdir", Path: next, Err: err}
			}
			nfd, err = inRoot(rootfd, next, unix.O_PATH|unix.O_DIRECTORY, 0)
		}
		unix.Close(fd)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: next, Err: err}
		}
		fd, cur = nfd, next
	}
	return fd, nil
}

// splitPath cleans p as a path from the root and returns its components.
func splitPath(p string) []string {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil
	}
	var out []string
	for p != "/" {
		out = append([]string{path.Base(p)}, out...)
		p = path.Dir(p)
	}
	return out
}

// writeFile writes name under root atomically (temporary file, fsync,
// rename), creating parent directories, every step resolved inside root.
// A symlink at name itself is replaced, as rename(2) does.
func writeFile(root, name string, data []byte, mode os.FileMode, uid, gid int) error {
	rootfd, err := openRoot(root)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	comps := splitPath(name)
	if len(comps) == 0 {
		return fmt.Errorf("write %s: not a file name", name)
	}
	dir := "/" + path.Join(comps[:len(comps)-1]...)
	base := comps[len(comps)-1]
	dirfd, err := mkdirAllIn(rootfd, dir)
	if err != nil {
		return err
	}
	defer unix.Close(dirfd)
	var rnd [8]byte
	rand.Read(rnd[:])
	tmp := ".needle-" + hex.EncodeToString(rnd[:])
	fd, err := unix.Openat(dirfd, tmp, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: path.Join(dir, tmp), Err: err}
	}
	f := os.NewFile(uintptr(fd), path.Join(dir, tmp))
	defer unix.Unlinkat(dirfd, tmp, 0) // fails harmlessly once renamed
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	// vfat has no owners: chown fails there, and that is fine at 0:0.
	if err := f.Chown(uid, gid); err != nil && (uid != 0 || gid != 0) {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, base); err != nil {
		return &os.PathError{Op: "rename", Path: path.Join(dir, base), Err: err}
	}
	return nil
}

// appendFile appends s to name under root, creating it and its parent
// directories; a symlink at name is followed inside root.
func appendFile(root, name, s string) error {
	rootfd, err := openRoot(root)
	if err != nil {
		return err
	}
	defer unix.Close(rootfd)
	comps := splitPath(name)
	if len(comps) == 0 {
		return fmt.Errorf("append %s: not a file name", name)
	}
	dirfd, err := mkdirAllIn(rootfd, "/"+path.Join(comps[:len(comps)-1]...))
	if err != nil {
		return err
	}
	unix.Close(dirfd)
	fd, err := inRoot(rootfd, name, unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND, 0o644)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// openInRoot opens name under root for reading, resolved inside root.
func openInRoot(root, name string) (*os.File, error) {
	rootfd, err := openRoot(root)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootfd)
	fd, err := inRoot(rootfd, name, unix.O_RDONLY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}
