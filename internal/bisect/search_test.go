package bisect

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

// series is a manifest of n patches (n+1 candidates); skip marks indexes
// the build skipped.
func series(n int, skip ...int) *Manifest {
	m := &Manifest{Module: "megaraid_sas", Kernel: "6.1.0-57-amd64", Probe: "probe"}
	for i := 0; i <= n; i++ {
		c := Candidate{Index: i, Module: &File{Path: fmt.Sprintf("%04d/megaraid_sas.ko", i), SHA256: strings.Repeat("a", 64)}}
		if i > 0 {
			c.Patch, c.Subject = fmt.Sprintf("%04d-p.patch", i), fmt.Sprintf("patch %d", i)
		}
		for _, s := range skip {
			if s == i {
				c.Module, c.Skip = nil, "patch does not apply"
			}
		}
		m.Candidates = append(m.Candidates, c)
	}
	return m
}

// fixedAt is a box where the base is bad and candidate k on is good;
// untestable candidates fail to load.
func fixedAt(k int, untestable ...int) (Tester, *[]int) {
	var tried []int
	return func(_ context.Context, c Candidate) (Result, error) {
		tried = append(tried, c.Index)
		for _, u := range untestable {
			if u == c.Index {
				return Result{}, fmt.Errorf("%w: module did not load", ErrUntestable)
			}
		}
		if c.Index >= k {
			return Result{Good: true, How: "exit status 0"}, nil
		}
		return Result{How: "killed by signal 11 (segmentation fault)"}, nil
	}, &tried
}

func TestSearchFindsEveryIndex(t *testing.T) {
	for _, n := range []int{1, 2, 3, 12, 15, 16, 17} {
		bound := int(math.Ceil(math.Log2(float64(n)))) + 2
		for k := 1; k <= n; k++ {
			test, tried := fixedAt(k)
			a, err := Search(context.Background(), series(n), test, nil)
			if err != nil {
				t.Fatalf("n=%d k=%d: %v", n, k, err)
			}
			if a.First == nil || a.First.Index != k {
				t.Errorf("n=%d k=%d: found %v (tried %v)", n, k, a.First, *tried)
			}
			if len(a.Steps) > bound {
				t.Errorf("n=%d k=%d: %d steps, want at most ⌈log2 n⌉+2 = %d (tried %v)", n, k, len(a.Steps), bound, *tried)
			}
			if a.Base.Good || !a.Full.Good {
				t.Errorf("n=%d k=%d: base %v full %v", n, k, a.Base, a.Full)
			}
		}
	}
}

func TestSearchSkips(t *testing.T) {
	// The build skipped 8, the midpoint; the fix is 12: found around it.
	test, tried := fixedAt(12)
	a, err := Search(context.Background(), series(16, 8), test, nil)
	if err != nil || a.First == nil || a.First.Index != 12 {
		t.Fatalf("fix at 12, 8 skipped: %v %v (tried %v)", a.First, err, *tried)
	}
	for _, i := range *tried {
		if i == 8 {
			t.Errorf("tried the skipped candidate 8: %v", *tried)
		}
	}
	// The fix is 8 itself and 8 cannot be judged (skipped by the build, or
	// untestable on the box): the answer is the range 8..9.
	for name, tc := range map[string]struct {
		m          *Manifest
		untestable []int
	}{
		"build skip": {series(16, 8), nil},
		"box skip":   {series(16), []int{8}},
	} {
		test, tried := fixedAt(8, tc.untestable...)
		a, err := Search(context.Background(), tc.m, test, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.First != nil || len(a.Between) != 2 || a.Between[0].Index != 8 || a.Between[1].Index != 9 {
			t.Errorf("%s: First %v Between %v, want 8..9 (tried %v)", name, a.First, a.Between, *tried)
		}
	}
}

func TestSearchSameEnds(t *testing.T) {
	test, tried := fixedAt(100) // never fixed
	a, err := Search(context.Background(), series(16), test, nil)
	if err != nil || !a.Same || len(*tried) != 2 {
		t.Errorf("same ends: Same=%v err=%v tried %v; want both ends only", a.Same, err, *tried)
	}
}

func TestSearchEndsMustBeJudged(t *testing.T) {
	test, _ := fixedAt(3, 0)
	if _, err := Search(context.Background(), series(16), test, nil); err == nil || !strings.Contains(err.Error(), "the base cannot be judged") {
		t.Errorf("untestable base: %v", err)
	}
	boom := errors.New("fetch failed: 404")
	_, err := Search(context.Background(), series(4), func(context.Context, Candidate) (Result, error) { return Result{}, boom }, nil)
	if !errors.Is(err, boom) {
		t.Errorf("a hard error must stop the search: %v", err)
	}
}

func TestParseManifest(t *testing.T) {
	good := `{"module":"megaraid_sas","recipe":"r","kernel":"6.1.0-57-amd64","probe":"storcli /c0 show",
"candidates":[{"index":0,"module":{"path":"0000/megaraid_sas.ko","sha256":"` + strings.Repeat("a", 64) + `"}},
{"index":1,"patch":"0001-x.patch","subject":"x","skip":"patch does not apply"},
{"index":2,"patch":"0002-y.patch","module":{"path":"0002/megaraid_sas.ko","sha256":"` + strings.Repeat("b", 64) + `"}}]}`
	m, err := ParseManifest("bisect.json", []byte(good))
	if err != nil || len(m.Candidates) != 3 || m.Candidates[2].Name() != "#2 0002-y.patch" {
		t.Fatalf("ParseManifest = %+v, %v", m, err)
	}
	for _, tc := range []struct{ edit, want string }{
		{`"probe":"storcli /c0 show"`, "no probe"},
		{`"path":"0000/megaraid_sas.ko"`, "not inside the bisection set"},
		{`"index":2,`, "index 7"},
		{`"skip":"patch does not apply"`, "either a module or a skip"},
		{`"recipe":"r",`, "unknown field"},
	} {
		bad := good
		switch tc.want {
		case "no probe":
			bad = strings.Replace(bad, tc.edit, `"probe":" "`, 1)
		case "not inside the bisection set":
			bad = strings.Replace(bad, tc.edit, `"path":"../../etc/shadow"`, 1)
		case "index 7":
			bad = strings.Replace(bad, tc.edit, `"index":7,`, 1)
		case "either a module or a skip":
			bad = strings.Replace(bad, tc.edit, `"skip":""`, 1)
		case "unknown field":
			bad = strings.Replace(bad, tc.edit, `"recipe":"r","extra":1,`, 1)
		}
		if _, err := ParseManifest("bisect.json", []byte(bad)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.want, err, tc.want)
		}
	}
}
