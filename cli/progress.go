package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"
)

// spinner is the small indicator that shows a live line is still waiting.
var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

const (
	spinnerInterval = 120 * time.Millisecond
	clearToEOL      = "\x1b[K"
)

// liveLine shows the progress of a long operation. On a terminal it keeps
// one line, redrawn in place after a carriage return with a spinner; to a
// file, a pipe or a CI log it prints each new message once, as a plain line,
// so that the output reads as a log.
type liveLine struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	width   int    // columns of the terminal, 0 when unknown
	msg     string // the message on the live line
	frame   int
	printed string // the last plain line
}

func newLiveLine(w io.Writer) *liveLine {
	l := &liveLine{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		l.tty = true
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
			l.width = cols
		}
	}
	return l
}

// animate turns the spinner until ctx ends or the returned stop is called;
// stop returns once nothing more will be drawn.
func (l *liveLine) animate(ctx context.Context) (stop func()) {
	if !l.tty {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(spinnerInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				l.mu.Lock()
				l.frame++
				l.draw()
				l.mu.Unlock()
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// update shows msg as the current state.
func (l *liveLine) update(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.tty {
		l.plain(msg)
		return
	}
	l.msg = msg
	l.draw()
}

// finish ends the live line with msg, or with the last message when msg is
// empty, left on the screen as a plain line.
func (l *liveLine) finish(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.tty {
		if msg != "" {
			l.plain(msg)
		}
		return
	}
	if msg == "" {
		msg = l.msg
	}
	if msg != "" {
		fmt.Fprintf(l.w, "\r%s%s\n", l.fit(msg, 0), clearToEOL)
	}
	l.msg = ""
}

// plain prints msg unless it is the line printed last; the caller holds mu.
func (l *liveLine) plain(msg string) {
	if msg == l.printed {
		return
	}
	fmt.Fprintln(l.w, msg)
	l.printed = msg
}

// draw redraws the live line; the caller holds mu.
func (l *liveLine) draw() {
	if l.msg == "" {
		return
	}
	frame := spinner[l.frame%len(spinner)]
	fmt.Fprintf(l.w, "\r%s %s%s", frame, l.fit(l.msg, 2), clearToEOL)
}

// fit shortens s so that it and reserve more columns stay on one terminal
// line: a line that wraps cannot be redrawn after a carriage return.
func (l *liveLine) fit(s string, reserve int) string {
	room := l.width - reserve - 1
	if l.width == 0 || utf8.RuneCountInString(s) <= room {
		return s
	}
	if room < 1 {
		return ""
	}
	r := []rune(s)
	return string(r[:room-1]) + "…"
}

// clear removes the live line from a terminal, for an operation whose
// result is printed elsewhere (stdout); plain lines stay as printed.
func (l *liveLine) clear() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty && l.msg != "" {
		fmt.Fprintf(l.w, "\r%s", clearToEOL)
	}
	l.msg = ""
}

// above prints msg as a line of its own; on a terminal the live line is
// drawn again under it, so lines and live progress do not garble.
func (l *liveLine) above(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.tty {
		fmt.Fprintln(l.w, msg)
		return
	}
	fmt.Fprintf(l.w, "\r%s%s\n", msg, clearToEOL)
	l.draw()
}
