package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// board shows the progress of several services at once, one line each,
// as docker compose does. On a terminal the lines are redrawn in place
// (a spinner on those still going, a check mark on those done); to a
// file, a pipe or a CI log each service's new state is printed once, as
// a plain line "service: state". It reuses liveLine's terminal detection,
// spinner and fitting.
type board struct {
	mu     sync.Mutex
	tty    *liveLine // what the terminal is (tty, width)
	w      io.Writer
	keys   []string
	pad    int
	msgs   map[string]string
	done   map[string]bool
	drawn  int // lines drawn by the last redraw
	frame  int
	closed bool
}

func newBoard(w io.Writer, keys []string) *board {
	b := &board{tty: newLiveLine(w), w: w, keys: keys, msgs: map[string]string{}, done: map[string]bool{}}
	for _, k := range keys {
		b.pad = max(b.pad, len(k))
	}
	return b
}

// set shows msg as the state of key.
func (b *board) set(key, msg string, done bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.msgs[key] == msg && b.done[key] == done {
		return
	}
	b.msgs[key], b.done[key] = msg, done
	if !b.tty.tty {
		fmt.Fprintf(b.w, "%s: %s\n", key, msg)
		return
	}
	b.draw()
}

// animate turns the spinners until ctx ends or stop is called.
func (b *board) animate(ctx context.Context) (stop func()) {
	if !b.tty.tty {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(spinnerInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.mu.Lock()
				b.frame++
				b.draw()
				b.mu.Unlock()
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// finish leaves the last state of every line on the screen.
func (b *board) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty.tty {
		b.draw()
	}
	b.closed = true
}

// draw redraws every line in place; the caller holds mu.
func (b *board) draw() {
	if b.closed {
		return
	}
	var s strings.Builder
	if b.drawn > 0 {
		fmt.Fprintf(&s, "\x1b[%dA", b.drawn)
	}
	for _, k := range b.keys {
		mark := spinner[b.frame%len(spinner)]
		if b.done[k] {
			mark = "✔"
		}
		msg := b.msgs[k]
		if msg == "" {
			msg = "…"
		}
		line := fmt.Sprintf("%-*s  %s", b.pad, k, msg)
		fmt.Fprintf(&s, "\r%s %s%s\n", mark, b.tty.fit(line, 2), clearToEOL)
	}
	b.drawn = len(b.keys)
	io.WriteString(b.w, s.String())
}
