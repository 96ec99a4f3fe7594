package sysroot

import "testing"

func TestRoot(t *testing.T) {
	r := Root{Sys: "/t/sys"}.WithDefaults()
	if r != (Root{Sys: "/t/sys", Proc: "/proc", Dev: "/dev"}) {
		t.Errorf("WithDefaults = %+v", r)
	}
	c := Capture("/cap")
	if c.SysPath("class", "block") != "/cap/sys/class/block" || c.ProcPath("mdstat") != "/cap/proc/mdstat" || c.DevPath("sda") != "/cap/dev/sda" {
		t.Errorf("Capture paths: %+v", c)
	}
}
