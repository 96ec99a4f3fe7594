package report

import (
	"fmt"
	"strings"
)

// Timeline reads console output in Console's format ("[   4.21s]
// inventory/scan: started") and returns the seconds each stage took, from
// the first start line of a stage to the first of the next; "boot" is the
// time before the first stage. The last stage's share is not known from
// start lines alone and is left out.
func Timeline(console string) map[string]float64 {
	out := map[string]float64{}
	var last string
	var lastT float64
	for _, l := range strings.Split(console, "\n") {
		var t float64
		var name string
		if n, _ := fmt.Sscanf(strings.TrimSpace(l), "[%fs] %s started", &t, &name); n != 2 || !strings.HasSuffix(name, ":") {
			continue
		}
		st, _, _ := strings.Cut(strings.TrimSuffix(name, ":"), "/")
		switch {
		case last == "":
			out["boot"] = t
			lastT = t
		case st != last:
			out[last] += t - lastT
			lastT = t
		}
		last = st
	}
	return out
}
