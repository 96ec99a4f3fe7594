package handoff

import (
	"fmt"
	"os"
	"strings"
)

// Refusal is why the kernel would not kexec; errors.Is(err, RefusedLockdown)
// and friends test a handoff error for it.
type Refusal string

// The refusals Run tells apart.
const (
	RefusedLockdown    Refusal = "kexec refused by lockdown"
	RefusedDisabled    Refusal = "kexec disabled by sysctl kernel.kexec_load_disabled"
	RefusedPermission  Refusal = "kexec not permitted"
	RefusedUnsupported Refusal = "kexec_file_load not supported"
	RefusedSignature   Refusal = "kexec requires a kernel signature"
	RefusedBusy        Refusal = "kexec file open for writing"
	RefusedOther       Refusal = "kexec failed"
)

func (r Refusal) Error() string { return string(r) }

// KexecError is a failed kexec_file_load or reboot(LINUX_REBOOT_CMD_KEXEC),
// with the reason classified and explained.
type KexecError struct {
	Op     string // "kexec_file_load" or "reboot(LINUX_REBOOT_CMD_KEXEC)"
	Kind   Refusal
	Detail string // what it means and what to do
	Err    error  // the errno
}

func (e *KexecError) Error() string {
	return fmt.Sprintf("%s: %s: %s (%v)", e.Op, e.Kind, e.Detail, e.Err)
}

// Unwrap gives both the refusal kind and the errno to errors.Is.
func (e *KexecError) Unwrap() []error { return []error{e.Kind, e.Err} }

// lockdownState reads /sys/kernel/security/lockdown ("none [integrity]
// confidentiality": the bracketed word is the active mode;
// security/lockdown/lockdown.c). It returns "" when the file is absent.
func lockdownState(p string) string {
	if p == "" {
		return ""
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.IndexByte(s, '[')
	j := strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

// sysctlOn says whether a /proc/sys boolean file reads 1.
func sysctlOn(p string) bool {
	if p == "" {
		return false
	}
	b, err := os.ReadFile(p)
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
