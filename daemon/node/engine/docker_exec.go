package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// execExitWait bounds how long Stream waits, once the output has ended, for
// the engine to record the process's exit.
const execExitWait = 3 * time.Second

// Exec creates the exec and starts it attached, so that the process runs and
// can be resized when Exec returns. The caller must call Stream, which owns
// the attached connection from then on.
func (d *Docker) Exec(ctx context.Context, id string, cfg ExecConfig) (ExecSession, error) {
	created, err := d.cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		User:         cfg.User,
		Tty:          cfg.TTY,
		AttachStdin:  cfg.Stdin,
		AttachStdout: cfg.Stdout,
		AttachStderr: cfg.Stderr,
		Env:          cfg.Env,
		Cmd:          cfg.Cmd,
	})
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", id, mapErr(err, ErrNotFound))
	}
	conn, err := d.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: cfg.TTY})
	if err != nil {
		return nil, fmt.Errorf("exec in %s: attach: %w", id, mapErr(err, ErrNotFound))
	}
	return &dockerExec{docker: d, id: created.ID, cfg: cfg, conn: conn}, nil
}

type dockerExec struct {
	docker   *Docker
	id       string
	cfg      ExecConfig
	conn     types.HijackedResponse
	streamed atomic.Bool
}

// Stream copies stdin to the process and its output to stdout and stderr
// (with a TTY, everything arrives on stdout), then returns the exit code.
// Without a TTY the end of stdin is passed on as a half-close, so the
// process reads EOF; a terminal has no end of input, so with a TTY the
// session ends only with the process or ctx. A stdin that never returns from
// Read keeps its copying goroutine until its next Read returns.
func (e *dockerExec) Stream(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if e.streamed.Swap(true) {
		return -1, fmt.Errorf("exec %s: already streamed", e.id)
	}
	defer e.conn.Close()
	// Closing the connection is the only way to interrupt its reads.
	stop := context.AfterFunc(ctx, e.conn.Close)
	defer stop()

	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if e.cfg.Stdin {
		if stdin == nil {
			stdin = eofReader{}
		}
		go e.copyStdin(stdin)
	}

	var err error
	if e.cfg.TTY {
		_, err = io.Copy(stdout, e.conn.Reader)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, e.conn.Reader)
	}
	if ctx.Err() != nil {
		return -1, fmt.Errorf("exec %s: %w", e.id, ctx.Err())
	}
	if err != nil {
		return -1, fmt.Errorf("exec %s: output: %w", e.id, err)
	}
	return e.exitCode(ctx)
}

func (e *dockerExec) copyStdin(stdin io.Reader) {
	if _, err := io.Copy(e.conn.Conn, stdin); err != nil {
		// The connection closed under us: the session is over.
		return
	}
	if !e.cfg.TTY {
		if err := e.conn.CloseWrite(); err != nil {
			e.docker.log.Debug("exec half-close", "exec", e.id, "error", err)
		}
	}
}

// exitCode polls the exec until the engine has recorded its end; the
// output may close a moment before that.
func (e *dockerExec) exitCode(ctx context.Context) (int, error) {
	deadline := time.Now().Add(execExitWait)
	delay := 5 * time.Millisecond
	for {
		inspect, err := e.docker.cli.ContainerExecInspect(ctx, e.id)
		if err != nil {
			return -1, fmt.Errorf("exec %s: inspect: %w", e.id, mapErr(err, ErrNotFound))
		}
		if !inspect.Running {
			return inspect.ExitCode, nil
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("exec %s: %w", e.id, errExecStillRunning)
		}
		select {
		case <-ctx.Done():
			return -1, fmt.Errorf("exec %s: %w", e.id, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}

var errExecStillRunning = errors.New("output ended but the process still runs")

// Resize sets the exec's TTY size.
func (e *dockerExec) Resize(ctx context.Context, width, height uint) error {
	if err := e.docker.cli.ContainerExecResize(ctx, e.id, container.ResizeOptions{Width: width, Height: height}); err != nil {
		return fmt.Errorf("resize exec %s: %w", e.id, mapErr(err, ErrNotFound))
	}
	return nil
}

// eofReader is the stdin of a session that asked for stdin but got none.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
