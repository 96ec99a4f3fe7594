package qemu

import (
	"strings"
	"testing"
)

func TestArgv(t *testing.T) {
	c := Config{
		Kernel: "vmlinuz", Initrd: "initrd", Append: "quiet",
		Disks:  []Disk{{File: "a.img", Serial: "S1"}, {File: "b.img", Device: "scsi-hd,drive=%s,bus=r0.0"}},
		NICs:   []NIC{{MAC: "52:54:00:12:34:56"}},
		SMBIOS: []string{"type=1,manufacturer=Dell Inc.,product=PowerEdge C5220"},
	}
	got := strings.Join(c.Argv("tcg"), " ")
	for _, want := range []string{
		"-accel tcg -cpu max -m 1024",
		"-nodefaults",
		"-kernel vmlinuz -initrd initrd -append console=ttyS0 panic=-1 no_timer_check quiet",
		"-drive file=a.img,if=none,id=d0,format=raw -device virtio-blk-pci,drive=d0,serial=S1",
		"-drive file=b.img,if=none,id=d1,format=raw -device scsi-hd,drive=d1,bus=r0.0",
		"-netdev user,id=n0 -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56",
		"-smbios type=1,manufacturer=Dell Inc.,product=PowerEdge C5220",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Argv() = %q\nlacks %q", got, want)
		}
	}
}
