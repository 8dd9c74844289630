package engine

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// Attach joins the streams of a running container's main process. Stdin
// is attached only when the container keeps its stdin open (a pod
// container with stdin: true); the session's TTY is the container's own.
func (d *Docker) Attach(ctx context.Context, id string, cfg AttachConfig) (AttachSession, error) {
	inspect, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", id, mapErr(err, ErrNotFound))
	}
	if inspect.State == nil || !inspect.State.Running {
		return nil, fmt.Errorf("attach to %s: the container is not running: %w", id, ErrConflict)
	}
	tty := inspect.Config != nil && inspect.Config.Tty
	stdin := cfg.Stdin && inspect.Config != nil && inspect.Config.OpenStdin
	conn, err := d.cli.ContainerAttach(ctx, id, container.AttachOptions{Stream: true,
		Stdin: stdin, Stdout: cfg.Stdout, Stderr: cfg.Stderr})
	if err != nil {
		return nil, fmt.Errorf("attach to %s: %w", id, mapErr(err, ErrNotFound))
	}
	return &dockerAttach{docker: d, id: id, tty: tty, stdin: stdin, conn: conn}, nil
}

type dockerAttach struct {
	docker   *Docker
	id       string
	tty      bool
	stdin    bool
	conn     types.HijackedResponse
	streamed atomic.Bool
}

func (a *dockerAttach) TTY() bool { return a.tty }

// Stream copies stdin to the process and its output to stdout and stderr
// until the process ends or ctx is done. The end of stdin is not passed
// on: the container's stdin belongs to the container, and stays open for
// the next attach.
func (a *dockerAttach) Stream(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	if a.streamed.Swap(true) {
		return fmt.Errorf("attach to %s: already streamed", a.id)
	}
	defer a.conn.Close()
	stop := context.AfterFunc(ctx, a.conn.Close)
	defer stop()
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	if a.stdin && stdin != nil {
		go func() {
			// Ends when stdin does, or when the connection closes under it.
			_, _ = io.Copy(a.conn.Conn, stdin)
		}()
	}
	var err error
	if a.tty {
		_, err = io.Copy(stdout, a.conn.Reader)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, a.conn.Reader)
	}
	if ctx.Err() != nil {
		return nil // the client left: a detach
	}
	if err != nil {
		return fmt.Errorf("attach to %s: output: %w", a.id, err)
	}
	return nil
}

// Resize sets the container's TTY size.
func (a *dockerAttach) Resize(ctx context.Context, width, height uint) error {
	if err := a.docker.cli.ContainerResize(ctx, a.id, container.ResizeOptions{Width: width, Height: height}); err != nil {
		return fmt.Errorf("resize %s: %w", a.id, mapErr(err, ErrNotFound))
	}
	return nil
}
