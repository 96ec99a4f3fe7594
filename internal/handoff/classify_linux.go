package handoff

import (
	"errors"
	"fmt"
	"syscall"
)

// classify explains a kexec errno. The causes are those of
// kernel/kexec_file.c (6.1): kimage_validate_signature returns the
// verification error under KEXEC_SIG_FORCE and EPERM under lockdown;
// kexec_load_disabled and a missing CAP_SYS_BOOT give EPERM too; an arch
// without kexec_file gives ENOSYS; no loader for the image format gives
// ENOEXEC; a bad argument or command line gives EINVAL; a file open for
// writing gives ETXTBSY (kernel_read_file → deny_write_access).
func classify(op string, err error, lockdownPath, disabledPath string) *KexecError {
	e := &KexecError{Op: op, Err: err, Kind: RefusedOther, Detail: "the kernel gave an unexpected error"}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return e
	}
	switch errno {
	case syscall.EPERM:
		switch mode := lockdownState(lockdownPath); {
		case mode != "" && mode != "none":
			e.Kind = RefusedLockdown
			e.Detail = fmt.Sprintf("the running kernel is in lockdown=%s (Secure Boot) and only kexecs kernels whose signature it can verify; sign the installed kernel with a key the ramdisk kernel trusts, or use boot: reboot", mode)
		case sysctlOn(disabledPath):
			e.Kind = RefusedDisabled
			e.Detail = "kernel.kexec_load_disabled is 1 and cannot be reset until reboot"
		case mode == "":
			e.Kind = RefusedPermission
			e.Detail = "EPERM with the lockdown state unknown (securityfs not mounted at " + lockdownPath + "): lockdown, or a missing CAP_SYS_BOOT"
		default:
			e.Kind = RefusedPermission
			e.Detail = "needle lacks CAP_SYS_BOOT"
		}
	case syscall.ENOSYS:
		e.Kind = RefusedUnsupported
		e.Detail = "the running kernel has no kexec_file_load (CONFIG_KEXEC_FILE is off, or the architecture lacks it)"
	case syscall.EINVAL:
		e.Kind = RefusedUnsupported
		e.Detail = "the running kernel rejected the request: kexec_file_load is unsupported for this image, or the command line is too long or malformed"
	case syscall.ENOEXEC:
		e.Kind = RefusedUnsupported
		e.Detail = "the running kernel has no loader for this kernel image format (x86 needs a bzImage, arm64 an uncompressed Image or a zboot EFI image)"
	case syscall.EKEYREJECTED, syscall.ENOKEY, syscall.EBADMSG, syscall.ENODATA, syscall.ENOPKG, syscall.EKEYEXPIRED, syscall.EKEYREVOKED:
		e.Kind = RefusedSignature
		e.Detail = "the running kernel enforces kexec signatures (KEXEC_SIG_FORCE or module.sig_enforce-style policy) and the installed kernel's signature is missing or not trusted"
	case syscall.ETXTBSY:
		e.Kind = RefusedBusy
		e.Detail = "the kernel or initrd is open for writing somewhere; the kernel only reads files nobody writes"
	case syscall.EBUSY:
		e.Detail = "another kexec load is in progress"
	case syscall.ENOMEM, syscall.EFBIG:
		e.Detail = "not enough memory to stage the kernel and initrd"
	}
	return e
}
