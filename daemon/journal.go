package daemon

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

// Under systemd the agent's standard error is a stream into the journal
// (systemd says so in JOURNAL_STREAM). journald reads a "<N>" at the start of
// a line as the line's syslog priority, so each record is prefixed with its
// level's, and `journalctl -p warning` shows warnings and errors only; the
// journal stamps every line itself, so the record's own time is left out.

// journalPriority is the syslog priority of a level.
func journalPriority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}

// journalWriter writes each record, which slog's handlers write in one call,
// behind the prefix of the record being handled.
type journalWriter struct {
	mu     sync.Mutex
	out    io.Writer
	prefix string
}

func (w *journalWriter) Write(p []byte) (int, error) {
	// One write per line: a record and its priority never split.
	if _, err := w.out.Write(append([]byte(w.prefix), p...)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// journalHandler is a handler writing through a journalWriter.
type journalHandler struct {
	inner slog.Handler
	w     *journalWriter
}

// newJournalHandler wraps the handler newInner makes over the writer.
func newJournalHandler(out io.Writer, newInner func(io.Writer, *slog.HandlerOptions) slog.Handler, opts slog.HandlerOptions) slog.Handler {
	w := &journalWriter{out: out}
	opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{} // the journal has the time
		}
		return a
	}
	return journalHandler{inner: newInner(w, &opts), w: w}
}

func (h journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	h.w.prefix = journalPriority(r.Level)
	return h.inner.Handle(ctx, r)
}

func (h journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return journalHandler{inner: h.inner.WithAttrs(attrs), w: h.w}
}

func (h journalHandler) WithGroup(name string) slog.Handler {
	return journalHandler{inner: h.inner.WithGroup(name), w: h.w}
}
