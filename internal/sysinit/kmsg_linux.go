package sysinit

import (
	"bytes"
	"os"
	"sync"
)

// Kmsg writes lines to the kernel log (/dev/kmsg) with a priority and a
// "needle: " prefix, so they show in dmesg and on every console the kernel
// logs to. One write is one record: lines are split here.
type Kmsg struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

// OpenKmsg opens /dev/kmsg under devRoot and lifts the kernel's rate limit
// on userspace writes (printk_devkmsg=ratelimit by default allows ten
// lines per five seconds, which would drop most of needle's log).
func OpenKmsg(devRoot, procRoot string) (*Kmsg, error) {
	f, err := os.OpenFile(devRoot+"/kmsg", os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_ = os.WriteFile(procRoot+"/sys/kernel/printk_devkmsg", []byte("on\n"), 0o644)
	return &Kmsg{f: f}, nil
}

// Write sends each complete line as one record at priority 7 (debug), so that a console without "quiet" does not show every line twice.
func (k *Kmsg) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.buf = append(k.buf, p...)
	for {
		i := bytes.IndexByte(k.buf, '\n')
		if i < 0 {
			break
		}
		line := k.buf[:i]
		k.buf = k.buf[i+1:]
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec := append([]byte("<7>needle: "), line...)
		if _, err := k.f.Write(rec); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}
