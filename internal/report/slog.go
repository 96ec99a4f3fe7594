package report

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Slog returns a logger whose records become events of stage: Info and
// above as info lines, Warn and Error as warnings, Debug only when debug
// is set (needle.debug). Packages that take a *slog.Logger log into the
// event stream this way.
func (r *Reporter) Slog(stage string, debug bool) *slog.Logger {
	return slog.New(&slogHandler{r: r, stage: stage, debug: debug})
}

type slogHandler struct {
	r     *Reporter
	stage string
	debug bool
	attrs []slog.Attr
	group string
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.debug
}

func (h *slogHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	// Packages often prefix their messages with their own name, which is
	// the stage's: the console line shows it once.
	b.WriteString(strings.TrimPrefix(rec.Message, h.stage+": "))
	write := func(a slog.Attr) bool {
		if a.Equal(slog.Attr{}) {
			return true
		}
		key := a.Key
		if h.group != "" {
			key = h.group + "." + key
		}
		v := a.Value.Resolve().String()
		if strings.ContainsAny(v, " \t") {
			v = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&b, " %s=%s", key, v)
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	rec.Attrs(write)
	kind := Info
	if rec.Level >= slog.LevelWarn {
		kind = Warn
	}
	h.r.Emit(Event{Stage: h.stage, Kind: kind, Message: b.String()})
	return nil
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &c
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}
