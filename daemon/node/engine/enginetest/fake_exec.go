package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// ExecSession is a scripted exec. Return one from Fake.ExecFn to decide what
// a command prints and how it ends; the zero value prints nothing and exits 0.
type ExecSession struct {
	Stdout   string
	Stderr   string
	ExitCode int
	// Err, if set, is returned by Stream instead of an exit code.
	Err error
	// EchoStdin copies stdin to stdout after Stdout, as `cat` would.
	EchoStdin bool
	// RunFor keeps the process running that long before it ends; ctx cuts
	// it short.
	RunFor time.Duration

	mu      sync.Mutex
	stdin   bytes.Buffer
	resizes [][2]uint
}

var _ engine.ExecSession = (*ExecSession)(nil)

// Stream writes the scripted output, reads stdin to its end, waits RunFor,
// and returns the scripted result. A stdin that never ends keeps its reading
// goroutine until its next Read returns.
func (s *ExecSession) Stream(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if _, err := io.WriteString(stdout, s.Stdout); err != nil {
		return -1, fmt.Errorf("exec stdout: %w", err)
	}
	if _, err := io.WriteString(stderr, s.Stderr); err != nil {
		return -1, fmt.Errorf("exec stderr: %w", err)
	}
	if stdin != nil {
		if err := s.readStdin(ctx, stdin, stdout); err != nil {
			return -1, err
		}
	}
	if s.RunFor > 0 {
		t := time.NewTimer(s.RunFor)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
	}
	if s.Err != nil {
		return -1, s.Err
	}
	return s.ExitCode, nil
}

func (s *ExecSession) readStdin(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	done := make(chan error, 1)
	go func() {
		data, err := io.ReadAll(stdin)
		s.mu.Lock()
		s.stdin.Write(data)
		s.mu.Unlock()
		if err == nil && s.EchoStdin {
			_, err = stdout.Write(data)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("exec stdin: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Resize records the size.
func (s *ExecSession) Resize(ctx context.Context, width, height uint) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resizes = append(s.resizes, [2]uint{width, height})
	return nil
}

// Stdin returns what the session read from its stdin.
func (s *ExecSession) Stdin() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stdin.String()
}

// Resizes returns the sizes set so far, as [width, height].
func (s *ExecSession) Resizes() [][2]uint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][2]uint, len(s.resizes))
	copy(out, s.resizes)
	return out
}

// Exec checks that the container runs and returns ExecFn's session, or else
// a session that exits 0 without output.
func (f *Fake) Exec(ctx context.Context, id string, cfg engine.ExecConfig) (engine.ExecSession, error) {
	f.record("Exec", id, strings.Join(cfg.Cmd, " "))
	if err := f.hold(ctx, "Exec"); err != nil {
		return nil, err
	}
	if f.ExecFn != nil {
		return f.ExecFn(ctx, id, cfg)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return nil, err
	}
	c := f.lookupLocked(id)
	if c == nil {
		return nil, fmt.Errorf("exec in %s: %w", id, engine.ErrNotFound)
	}
	if !c.state.Running {
		return nil, fmt.Errorf("exec in %s: container is not running: %w", id, engine.ErrConflict)
	}
	return &ExecSession{}, nil
}
