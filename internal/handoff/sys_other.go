//go:build !(linux && (amd64 || arm64 || riscv64 || ppc64 || ppc64le || s390x || loong64 || arm))

package handoff

import "errors"

var errNoKexec = errors.New("kexec_file_load is not available on this platform")

// SysLinux returns a kernel interface whose every call fails: this
// platform has no kexec_file_load.
func SysLinux(string) Sys {
	fail := func() error { return errNoKexec }
	return Sys{
		KexecFileLoad: func(int, int, string, int) error { return fail() },
		Reboot:        func(int) error { return fail() },
		Mounts:        func() ([]string, error) { return nil, fail() },
		Unmount:       func(string) error { return fail() },
		Sync:          func() {},
	}
}
