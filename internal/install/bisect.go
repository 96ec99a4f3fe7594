package install

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/needle-boot/needle/internal/bisect"
	"github.com/needle-boot/needle/internal/cmdline"
	"github.com/needle-boot/needle/internal/report"
	"github.com/needle-boot/needle/internal/stage"
	"github.com/needle-boot/needle/modules"
)

// BisectSequence is what a box booted with needle.bisect=URL runs: the
// looking stages (inventory, modules, network) and then the bisection,
// never the plan or anything that writes a disk.
func BisectSequence(m *Machine, source string) stage.Sequence {
	var seq stage.Sequence
	for _, s := range Sequence(m) {
		switch s.Stage {
		case cmdline.Inventory, cmdline.Modules, cmdline.Network:
			seq = append(seq, s)
		}
	}
	return append(seq, stage.Step{Stage: cmdline.Bisect, Name: "run", Fatal: true, Uses: []string{"network?"},
		Run: func(ctx context.Context) error { return m.Bisect(ctx, source) }})
}

// Bisect runs the bisection set at source (a URL, or a directory such as
// a stick's) on this box: each step is reported as an event and on the
// console; the last line names the first candidate whose result differs
// from the base's. The stock driver is loaded again at the end.
func (m *Machine) Bisect(ctx context.Context, source string) error {
	ix, err := m.moduleIndex()
	if err != nil {
		return err
	}
	log := m.Report.Slog("bisect", m.Config.Debug)
	loader := modules.NewLoader(ix, m.Root.Proc, "/lib/firmware", log)
	defer loader.Close()
	box := &bisect.Box{Root: m.Root, Source: source, Get: m.fetcher().Get, Dir: m.run("bisect"),
		Modules: loader, Hold: m.Hold, Log: log}
	man, err := box.Open(ctx)
	if err != nil {
		return err
	}
	if man.Kernel != m.KernelRelease {
		return fmt.Errorf("%s: the candidates were built for kernel %s, this is %s: rebuild with needle bisect build --kver %s",
			source, man.Kernel, m.KernelRelease, m.KernelRelease)
	}
	skips := 0
	for _, c := range man.Candidates {
		if c.Skip != "" {
			skips++
		}
	}
	m.Report.Infof("bisect", "%s: %d candidates of %s for %s (%d skipped by the build), probe %q",
		source, len(man.Candidates), man.Module, man.Kernel, skips, man.Probe)
	a, err := bisect.Search(ctx, man, box.Test, func(st bisect.Step) { m.reportStep(st) })
	if err == nil {
		m.reportAnswer(man, a)
	}
	// Leave the box as it booted: the stock driver, for the shell.
	restore := box.Stock(ctx, m.loadModule)
	if restore != nil {
		m.Report.Warnf("bisect", "stock %s not restored: %v", man.Module, restore)
	} else {
		m.Report.Infof("bisect", "the stock %s is loaded again", man.Module)
	}
	return err
}

func (m *Machine) reportStep(st bisect.Step) {
	r := st.Result
	data := map[string]any{"step": st.N, "index": st.Candidate.Index, "patch": st.Candidate.Patch,
		"fetch_s": r.Fetch.Seconds(), "unload_s": r.Unload.Seconds(), "load_s": r.Load.Seconds(),
		"settle_s": r.Settle.Seconds(), "probe_s": r.Probe.Seconds()}
	msg := fmt.Sprintf("step %d: %s: ", st.N, st.Candidate.Name())
	if st.Skipped != nil {
		msg += "skip: " + st.Skipped.Error()
		data["skip"] = st.Skipped.Error()
	} else {
		msg += fmt.Sprintf("%s (%s)", r.Verdict(), r.How)
		data["verdict"], data["how"] = r.Verdict(), r.How
	}
	msg += fmt.Sprintf("; fetch %s, unload %s, load %s, settle %s, probe %s", sec(r.Fetch), sec(r.Unload), sec(r.Load), sec(r.Settle), sec(r.Probe))
	m.Report.Emit(report.Event{Stage: "bisect", Kind: report.Info, Message: msg, Data: data})
}

func sec(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

// reportAnswer prints the one line an operator (or a script) reads.
func (m *Machine) reportAnswer(man *bisect.Manifest, a *bisect.Answer) {
	took := fmt.Sprintf("%d steps in %s", len(a.Steps), a.Duration.Round(time.Second))
	base := fmt.Sprintf("base %s (%s)", a.Base.Verdict(), a.Base.How)
	var msg string
	data := map[string]any{"steps": len(a.Steps), "seconds": a.Duration.Seconds(), "module": man.Module}
	switch {
	case a.Same:
		msg = fmt.Sprintf("bisect: nothing to find: the base and the full series are both %s (%s, %s); %s",
			a.Base.Verdict(), a.Base.How, a.Full.How, took)
	case a.First != nil:
		what := "fixes"
		if a.Base.Good {
			what = "breaks"
		}
		msg = fmt.Sprintf("bisect: first differing candidate: %s; it %s: the %s, the full series %s; %s",
			a.First.Name(), what, base, a.Full.Verdict(), took)
		data["first"], data["patch"], data["subject"] = a.First.Index, a.First.Patch, a.First.Subject
	default:
		var names []string
		for _, c := range a.Between {
			names = append(names, c.Name())
		}
		msg = fmt.Sprintf("bisect: the first differing candidate is one of %s (the others could not be tested); %s, %s",
			strings.Join(names, ", "), base, took)
	}
	m.Report.Emit(report.Event{Stage: "bisect", Kind: report.Result, Message: msg, Data: data})
}
