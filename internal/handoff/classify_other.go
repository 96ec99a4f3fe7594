//go:build !linux

package handoff

// classify wraps a kexec error; outside Linux there is nothing to explain.
func classify(op string, err error, _, _ string) *KexecError {
	return &KexecError{Op: op, Err: err, Kind: RefusedUnsupported, Detail: "kexec exists only on Linux"}
}
