//go:build linux && amd64

// Command bisect-probe is a TEST PROBE for needle's bisection QEMU test,
// not a tool: a real client of megaraid_sas's management ioctl, as storcli
// is, that crashes with SIGSEGV when the ioctl fails, as sas2ircu did on
// the seed's box with its stock driver.
//
// It sends MEGASAS_IOC_FIRMWARE with an MFI DCMD frame, MR_DCMD_CTRL_GET_INFO,
// reading struct megasas_ctrl_info, to the megaraid_sas adapter's SCSI host,
// through /dev/megaraid_sas_ioctl_node (made from /proc/devices when missing
// or stale: the module registers a dynamic major at each load). On success
// it prints the product name and exits 0; a firmware status other than
// MFI_STAT_OK exits 1; a failed ioctl is printed and then the probe dies of
// SIGSEGV on purpose.
//
// Layouts and numbers are those of drivers/scsi/megaraid/megaraid_sas.h and
// megaraid_sas_base.c in linux-source-6.1 (6.1.192): struct megasas_iocpacket
// (packed, 404 bytes on x86-64), struct megasas_dcmd_frame, struct
// megasas_ctrl_info (2384 bytes), megasas_mgmt_ioctl_fw (which finds the
// adapter by host_no with megasas_lookup_instance) and megasas_mgmt_fw_ioctl
// (which copies the frame, points the frame's SGL at sgl_off to kernel
// copies of the iovecs, and copies cmd_status back). QEMU's megasas-gen2
// answers the DCMD in hw/scsi/megasas.c, megasas_ctrl_get_info, when the
// buffer holds at least its struct mfi_ctrl_info, with the product name of
// the emulated card.
//
// Build: CGO_ENABLED=0 go build ./qemu-test/testdata/bisect/probe
// (qemutest.BuildBisectProbe).
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// From megaraid_sas.h.
const (
	mfiCmdDCMD        = 0x05       // MFI_CMD_DCMD
	mfiFrameDirRead   = 0x0010     // MFI_FRAME_DIR_READ
	mfiStatInvalid    = 0xff       // MFI_STAT_INVALID_STATUS: what the firmware overwrites
	mrDcmdCtrlGetInfo = 0x01010000 // MR_DCMD_CTRL_GET_INFO
	maxIoctlSGE       = 16         // MAX_IOCTL_SGE

	// struct megasas_iocpacket: u16 host_no, u16 __pad1, u32 sgl_off,
	// u32 sge_count, u32 sense_off, u32 sense_len, union { u8 raw[128]; }
	// frame, struct iovec sgl[MAX_IOCTL_SGE] (16 bytes each on x86-64).
	iocHostNo   = 0
	iocSglOff   = 4
	iocSgeCount = 8
	iocFrame    = 20
	iocSgl      = iocFrame + 128
	iocSize     = iocSgl + maxIoctlSGE*16 // 404

	// struct megasas_dcmd_frame, from the frame's start.
	dcmdCmd       = 0x00
	dcmdCmdStatus = 0x02
	dcmdSgeCount  = 0x07
	dcmdFlags     = 0x10
	dcmdXferLen   = 0x14
	dcmdOpcode    = 0x18
	dcmdSgl       = 0x28 // where the driver writes the kernel buffer's SGE

	// struct megasas_ctrl_info.
	ctrlInfoSize   = 2384
	ctrlProduct    = 0x540 // char product_name[80]
	ctrlSerial     = 0x590 // char serial_no[32]
	ctrlPackageVer = 0x640 // char package_version[0x60]

	// MEGASAS_IOC_FIRMWARE = _IOWR('M', 1, struct megasas_iocpacket).
	iocFirmware = 3<<30 | iocSize<<16 | 'M'<<8 | 1
)

func main() {
	host := flag.Int("host", -1, "SCSI host number of the adapter (default: the first megaraid_sas host in /sys/class/scsi_host)")
	node := flag.String("node", "/dev/megaraid_sas_ioctl_node", "the management character device")
	flag.Parse()
	if *host < 0 {
		h, err := findHost("/sys/class/scsi_host")
		if err != nil {
			fmt.Fprintf(os.Stderr, "bisect-probe: %v\n", err)
			os.Exit(1)
		}
		*host = h
	}
	if err := ensureNode(*node, "/proc/devices"); err != nil {
		fmt.Fprintf(os.Stderr, "bisect-probe: %v\n", err)
		os.Exit(1)
	}
	fd, err := syscall.Open(*node, syscall.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bisect-probe: open %s: %v\n", *node, err)
		os.Exit(1)
	}
	info := make([]byte, ctrlInfoSize)
	pkt := make([]byte, iocSize)
	le := binary.LittleEndian
	le.PutUint16(pkt[iocHostNo:], uint16(*host))
	le.PutUint32(pkt[iocSglOff:], dcmdSgl)
	le.PutUint32(pkt[iocSgeCount:], 1)
	f := pkt[iocFrame:iocSgl]
	f[dcmdCmd] = mfiCmdDCMD
	f[dcmdCmdStatus] = mfiStatInvalid
	f[dcmdSgeCount] = 1
	le.PutUint16(f[dcmdFlags:], mfiFrameDirRead)
	le.PutUint32(f[dcmdXferLen:], ctrlInfoSize)
	le.PutUint32(f[dcmdOpcode:], mrDcmdCtrlGetInfo)
	le.PutUint64(pkt[iocSgl:], uint64(uintptr(unsafe.Pointer(&info[0]))))
	le.PutUint64(pkt[iocSgl+8:], ctrlInfoSize)

	fmt.Printf("bisect-probe: MEGASAS_IOC_FIRMWARE MR_DCMD_CTRL_GET_INFO to megaraid_sas host %d\n", *host)
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), iocFirmware, uintptr(unsafe.Pointer(&pkt[0])))
	runtime.KeepAlive(info)
	runtime.KeepAlive(pkt)
	if errno != 0 {
		fmt.Printf("bisect-probe: ioctl failed: %v (errno %d); crashing as sas2ircu did\n", errno, int(errno))
		os.Stdout.Sync()
		segfault()
	}
	if st := f[dcmdCmdStatus]; st != 0 {
		fmt.Printf("bisect-probe: firmware status 0x%02x (MFI_STAT_OK is 0)\n", st)
		os.Exit(1)
	}
	fmt.Printf("bisect-probe: OK product %q serial %q package %q\n",
		cstr(info[ctrlProduct:ctrlProduct+80]), cstr(info[ctrlSerial:ctrlSerial+32]), cstr(info[ctrlPackageVer:ctrlPackageVer+0x60]))
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(b))
}

// findHost is the number of the first SCSI host whose proc_name is
// megaraid_sas.
func findHost(dir string) (int, error) {
	hosts, _ := filepath.Glob(filepath.Join(dir, "host*"))
	best := -1
	for _, h := range hosts {
		name, err := os.ReadFile(filepath.Join(h, "proc_name"))
		if err != nil || strings.TrimSpace(string(name)) != "megaraid_sas" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(h), "host"))
		if err == nil && (best < 0 || n < best) {
			best = n
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("no SCSI host in %s has proc_name megaraid_sas (is the driver loaded and bound?)", dir)
	}
	return best, nil
}

// ensureNode makes node the character device of the megaraid_sas_ioctl
// major in /proc/devices, replacing a node of another (stale) major.
func ensureNode(node, procDevices string) error {
	data, err := os.ReadFile(procDevices)
	if err != nil {
		return err
	}
	major := -1
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[1] == "megaraid_sas_ioctl" {
			major, _ = strconv.Atoi(f[0])
			break
		}
	}
	if major < 0 {
		return fmt.Errorf("%s names no megaraid_sas_ioctl device (is megaraid_sas loaded?)", procDevices)
	}
	want := uint64(major) << 8 // makedev(major, 0) for majors below 4096
	var st syscall.Stat_t
	if err := syscall.Stat(node, &st); err == nil {
		if st.Mode&syscall.S_IFMT == syscall.S_IFCHR && st.Rdev == want {
			return nil
		}
		if err := os.Remove(node); err != nil {
			return err
		}
	}
	if err := syscall.Mknod(node, syscall.S_IFCHR|0o600, int(want)); err != nil {
		return fmt.Errorf("mknod %s c %d 0: %w", node, major, err)
	}
	return nil
}

// segfault ends the process by SIGSEGV, as a C tool dereferencing a NULL
// result would: Go turns a nil dereference into a panic (exit status 2),
// so the signal's default action is restored with rt_sigaction and the
// signal raised.
func segfault() {
	// struct kernel_sigaction on x86-64: handler, flags, restorer, mask.
	var act [4]uint64 // handler SIG_DFL (0)
	syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGSEGV), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	// To this thread, so it is delivered before tgkill returns.
	runtime.LockOSThread()
	for {
		syscall.Tgkill(os.Getpid(), syscall.Gettid(), syscall.SIGSEGV)
		time.Sleep(100 * time.Millisecond)
	}
}
