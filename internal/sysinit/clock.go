package sysinit

import "time"

// ClockFloor keeps the system clock from running before floor, the image's
// build time: a box whose RTC battery died boots in 2000 or 1970, and then
// TLS refuses every certificate as not yet valid. systemd does the same
// with its own build time. set is settimeofday(2); the result says whether
// the clock moved and from what.
func ClockFloor(floor, now time.Time, set func(time.Time) error) (moved bool, err error) {
	if floor.IsZero() || !now.Before(floor) {
		return false, nil
	}
	if err := set(floor); err != nil {
		return false, err
	}
	return true, nil
}
