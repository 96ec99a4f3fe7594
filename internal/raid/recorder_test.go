package raid

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/needle-boot/needle/internal/shell"
	"github.com/needle-boot/needle/internal/toolrun"
)

// Recorder is a FAKE Runner for unit tests and dry runs: it runs nothing,
// records every call, and answers from a table of canned replies keyed by
// the quoted argv. A call with no reply fails with a toolrun.Error naming it.
type Recorder struct {
	mu sync.Mutex
	// Replies maps shell.Join(name, args…) to the reply.
	Replies map[string]Reply
	calls   [][]string
}

// Reply is one canned answer.
type Reply struct {
	Stdout []byte
	// Err is returned as is (use a *toolrun.Error to mimic a failed tool).
	Err error
}

// Run implements Runner.
func (r *Recorder) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	argv := append([]string{name}, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, argv)
	rep, ok := r.Replies[shell.Join(argv)]
	if !ok {
		return nil, &toolrun.Error{Argv: argv, ExitCode: 127, Err: fmt.Errorf("FAKE recorder: no reply for %q", shell.Join(argv))}
	}
	return rep.Stdout, rep.Err
}

// Calls returns the recorded command lines, one quoted line each.
func (r *Recorder) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.calls))
	for i, c := range r.calls {
		out[i] = shell.Join(c)
	}
	return out
}

// String lists the calls, one per line.
func (r *Recorder) String() string { return strings.Join(r.Calls(), "\n") }
