package modules

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// NewLoader returns a Loader with the real syscalls: finit_module(2),
// init_module(2), uname(2), and /dev/kmsg for the kernel's messages. Call
// Close when done to release /dev/kmsg.
func NewLoader(ix *Index, procRoot, firmwareDir string, log *slog.Logger) *Loader {
	l := &Loader{
		Index:       ix,
		ProcRoot:    procRoot,
		FirmwareDir: firmwareDir,
		FinitModule: unix.FinitModule,
		InitModule:  unix.InitModule,
		DeleteModule: func(name string) error {
			return unix.DeleteModule(name, unix.O_NONBLOCK)
		},
		Release: release,
		Log:     log,
	}
	if k, err := OpenKmsg("/dev/kmsg"); err == nil {
		l.Kmsg = k.Messages
		l.closer = k
	} else if log != nil {
		log.Warn("kernel log unavailable: load errors will be less precise", "err", err)
	}
	return l
}

func release() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// Kmsg reads /dev/kmsg without blocking; each Messages call returns the
// records logged since the previous one (the first call: the whole buffer).
type Kmsg struct{ f *os.File }

// OpenKmsg opens a kmsg device (normally /dev/kmsg).
func OpenKmsg(path string) (*Kmsg, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return &Kmsg{f: os.NewFile(uintptr(fd), path)}, nil
}

// Messages returns the new messages. /dev/kmsg returns one record per
// read; EPIPE means records were overwritten before we read them, and the
// next read continues with the oldest one still there.
func (k *Kmsg) Messages() ([]string, error) {
	var out []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(int(k.f.Fd()), buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
			return out, nil
		case errors.Is(err, syscall.EPIPE):
			continue
		case err != nil:
			return out, err
		case n == 0:
			return out, io.EOF
		}
		out = append(out, ParseKmsg(buf[:n])...)
	}
}

// Close releases the device.
func (k *Kmsg) Close() error { return k.f.Close() }
