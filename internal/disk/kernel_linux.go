package disk

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LinuxKernel returns the real ioctls (include/uapi/linux/fs.h,
// include/uapi/linux/blkpg.h).
func LinuxKernel() Kernel {
	return Kernel{
		RereadTable:  blkrrpart,
		AddPartition: blkpgAdd,
		Discard: func(f *os.File, start, length int64) error {
			return rangeIoctl(f, unix.BLKDISCARD, "BLKDISCARD", start, length)
		},
		ZeroOut: func(f *os.File, start, length int64) error {
			return rangeIoctl(f, unix.BLKZEROOUT, "BLKZEROOUT", start, length)
		},
	}
}

func blkrrpart(f *os.File) error {
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); err != nil {
		return fmt.Errorf("BLKRRPART %s: %w", f.Name(), err)
	}
	return nil
}

func blkpgAdd(f *os.File, number int, start, length int64) error {
	p := unix.BlkpgPartition{Start: start, Length: length, Pno: int32(number)}
	arg := unix.BlkpgIoctlArg{
		Op:      unix.BLKPG_ADD_PARTITION,
		Datalen: int32(unsafe.Sizeof(p)),
		Data:    (*byte)(unsafe.Pointer(&p)),
	}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg)))
	if errno != 0 {
		return fmt.Errorf("BLKPG add partition %d (start %d, length %d) on %s: %w", number, start, length, f.Name(), errno)
	}
	return nil
}

// rangeIoctl passes {start, length} in bytes, as BLKDISCARD and BLKZEROOUT
// take them (block/ioctl.c blk_ioctl_discard, blk_ioctl_zeroout).
func rangeIoctl(f *os.File, req uint, name string, start, length int64) error {
	r := [2]uint64{uint64(start), uint64(length)}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), uintptr(req), uintptr(unsafe.Pointer(&r[0])))
	if errno != 0 {
		return fmt.Errorf("%s %s [%d, +%d): %w", name, f.Name(), start, length, errno)
	}
	return nil
}
