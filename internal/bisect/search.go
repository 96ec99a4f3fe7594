package bisect

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Result is how one candidate did on the box.
type Result struct {
	Good bool
	// How says it in words: "exit status 0", "exit status 3", "killed by
	// signal 11 (segmentation fault)", "timed out after 2m0s".
	How string
	// Timings of the step's phases.
	Fetch, Unload, Load, Settle, Probe time.Duration
}

// Verdict is "good" or "bad".
func (r Result) Verdict() string {
	if r.Good {
		return "good"
	}
	return "bad"
}

// ErrUntestable wraps why a candidate could not be judged on the box (its
// module did not load, its devices did not come back): the search skips it
// as git bisect skip does.
var ErrUntestable = errors.New("untestable")

// Tester runs one candidate on the box. An error wrapping ErrUntestable
// skips the candidate; any other error stops the bisection.
type Tester func(ctx context.Context, c Candidate) (Result, error)

// Step is one candidate tried.
type Step struct {
	N         int // 1-based
	Candidate Candidate
	Result    Result
	Skipped   error // the candidate could not be judged
}

// Answer is what a bisection found.
type Answer struct {
	Base, Full Result
	// Same: the base and the full series give the same verdict; there is
	// nothing to find between them.
	Same bool
	// First is the first candidate whose verdict differs from the base's
	// (the fixing patch when the base is bad). Nil when Same, or when
	// skipped candidates leave several possibilities (Between).
	First *Candidate
	// Between lists the candidates one of which is First when untestable
	// ones hide it.
	Between  []Candidate
	Steps    []Step
	Duration time.Duration
}

// Search tests both ends of m's candidates and then binary-searches for
// the first candidate whose verdict differs from the base's, skipping the
// ones the build marked skip and those the box cannot judge. Each step is
// passed to onStep as it completes. Without skips it takes at most
// ⌈log2 N⌉ + 2 steps for N patches.
func Search(ctx context.Context, m *Manifest, test Tester, onStep func(Step)) (*Answer, error) {
	start := time.Now()
	a := &Answer{}
	defer func() { a.Duration = time.Since(start) }()
	n := 0
	try := func(i int) (Result, error) {
		c := m.Candidates[i]
		n++
		r, err := test(ctx, c)
		st := Step{N: n, Candidate: c, Result: r}
		if err != nil {
			if !errors.Is(err, ErrUntestable) {
				return r, fmt.Errorf("candidate %s: %w", c.Name(), err)
			}
			st.Skipped = err
		}
		a.Steps = append(a.Steps, st)
		if onStep != nil {
			onStep(st)
		}
		return r, err
	}
	last := len(m.Candidates) - 1
	var err error
	if a.Base, err = try(0); err != nil {
		return a, fmt.Errorf("the base cannot be judged, so nothing can: %w", err)
	}
	if a.Full, err = try(last); err != nil {
		return a, fmt.Errorf("the full series cannot be judged: %w", err)
	}
	if a.Base.Good == a.Full.Good {
		a.Same = true
		return a, nil
	}
	skipped := map[int]bool{}
	for i, c := range m.Candidates {
		if c.Skip != "" {
			skipped[i] = true
		}
	}
	// Invariant: lo's verdict is the base's, hi's differs.
	lo, hi := 0, last
	for hi-lo > 1 {
		mid := pick(lo, hi, skipped)
		if mid < 0 {
			a.Between = append(a.Between, m.Candidates[lo+1:hi+1]...)
			return a, nil
		}
		r, err := try(mid)
		switch {
		case errors.Is(err, ErrUntestable):
			skipped[mid] = true
		case err != nil:
			return a, err
		case r.Good == a.Base.Good:
			lo = mid
		default:
			hi = mid
		}
	}
	a.First = &m.Candidates[hi]
	return a, nil
}

// pick is the testable candidate strictly between lo and hi nearest their
// midpoint, -1 when every one is skipped.
func pick(lo, hi int, skipped map[int]bool) int {
	mid := lo + (hi-lo)/2
	for d := 0; d < hi-lo; d++ {
		for _, i := range []int{mid - d, mid + d} {
			if i > lo && i < hi && !skipped[i] {
				return i
			}
		}
	}
	return -1
}
