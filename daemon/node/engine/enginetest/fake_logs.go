package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// SetLogs replaces the container's log with text.
func (f *Fake) SetLogs(idOrName, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookupLocked(idOrName)
	if c == nil {
		return fmt.Errorf("container %s: %w", idOrName, engine.ErrNotFound)
	}
	c.logs = nil
	c.appendLogs(text)
	return nil
}

// AppendLogs adds text to the container's log; followers receive it.
func (f *Fake) AppendLogs(idOrName, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.lookupLocked(idOrName)
	if c == nil {
		return fmt.Errorf("container %s: %w", idOrName, engine.ErrNotFound)
	}
	c.appendLogs(text)
	return nil
}

func (c *fakeContainer) appendLogs(text string) {
	c.logs = append(c.logs, text...)
	close(c.logsChanged)
	c.logsChanged = make(chan struct{})
}

// Logs returns the container's recorded log (Script.Output of every start,
// SetLogs, AppendLogs), honouring Tail and Follow; Since and Timestamps are
// ignored. A follower gets appended text until the current run ends.
func (f *Fake) Logs(ctx context.Context, id string, opts engine.LogOptions) (io.ReadCloser, error) {
	f.record("Logs", id)
	if err := f.hold(ctx, "Logs"); err != nil {
		return nil, err
	}
	if f.LogsFn != nil {
		return f.LogsFn(ctx, id, opts)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return nil, err
	}
	c := f.lookupLocked(id)
	if c == nil {
		return nil, fmt.Errorf("logs of %s: %w", id, engine.ErrNotFound)
	}
	start, err := tailOffset(c.logs, opts.Tail)
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", id, err)
	}
	return &logReader{
		fake: f, c: c, ctx: ctx, offset: start,
		follow: opts.Follow, exited: c.exited, closed: make(chan struct{}),
	}, nil
}

// tailOffset returns where the last n lines of logs begin.
func tailOffset(logs []byte, tail string) (int, error) {
	if tail == "" || tail == "all" {
		return 0, nil
	}
	n, err := strconv.Atoi(tail)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("tail %q: not a number of lines", tail)
	}
	end := len(logs)
	if end > 0 && logs[end-1] == '\n' {
		end-- // the final newline ends the last line, it does not start one
	}
	for ; n > 0; n-- {
		i := bytes.LastIndexByte(logs[:end], '\n')
		if i < 0 {
			return 0, nil
		}
		end = i
	}
	if end == len(logs) {
		return end, nil
	}
	return end + 1, nil
}

type logReader struct {
	fake   *Fake
	c      *fakeContainer
	ctx    context.Context
	offset int
	follow bool
	exited chan struct{} // the run being followed

	closeOnce sync.Once
	closed    chan struct{}
}

func (r *logReader) Read(p []byte) (int, error) {
	for {
		r.fake.mu.Lock()
		r.offset = min(r.offset, len(r.c.logs)) // SetLogs may have shortened it
		if r.offset < len(r.c.logs) {
			n := copy(p, r.c.logs[r.offset:])
			r.offset += n
			r.fake.mu.Unlock()
			return n, nil
		}
		changed := r.c.logsChanged
		r.fake.mu.Unlock()
		if !r.follow {
			return 0, io.EOF
		}
		select {
		case <-changed:
		case <-r.exited:
			r.follow = false // deliver what is left, then end
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case <-r.closed:
			return 0, io.ErrClosedPipe
		}
	}
}

func (r *logReader) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	return nil
}
