package sysinit

import (
	"time"

	"golang.org/x/sys/unix"
)

// SetClock sets the system clock (settimeofday(2)).
func SetClock(t time.Time) error {
	tv := unix.NsecToTimeval(t.UnixNano())
	return unix.Settimeofday(&tv)
}
