package fake

import (
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// dieSIGSEGV ends the process the way a crashing C tool ends: killed by
// SIGSEGV, so the parent's wait status says "signal: segmentation fault".
// The Go runtime handles SIGSEGV itself (a fault becomes a panic, exit 2),
// so the disposition is first reset to SIG_DFL with a raw rt_sigaction: a
// zeroed kernel struct sigaction is {SIG_DFL, no flags, empty mask}. The
// core limit is set to 0 so the test leaves no core file behind.
func dieSIGSEGV() {
	syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
	var act [4]uint64
	syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGSEGV), uintptr(unsafe.Pointer(&act[0])), 0, 8, 0, 0)
	runtime.LockOSThread()
	syscall.Tgkill(syscall.Getpid(), syscall.Gettid(), syscall.SIGSEGV)
	// Not reached; if the signal was somehow not fatal, still fail loudly
	// with the shell's code for a SIGSEGV death.
	time.Sleep(time.Second)
	os.Exit(128 + int(syscall.SIGSEGV))
}
