package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// Logs returns the container's log, stdout and stderr merged in the order
// the engine recorded them. The engine multiplexes the two streams of a
// container without a TTY; those are demultiplexed here, a TTY's single
// stream is passed through. Closing the reader ends the request.
func (d *Docker) Logs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error) {
	inspect, err := d.cli.ContainerInspect(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", id, mapErr(err, ErrNotFound))
	}
	tty := inspect.Config != nil && inspect.Config.Tty

	tail := opts.Tail
	if tail == "" {
		tail = "all"
	}
	query := container.LogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Follow:     opts.Follow,
		Timestamps: opts.Timestamps,
		Tail:       tail,
	}
	if !opts.Since.IsZero() {
		// Seconds with a fraction, as the engine's API takes them.
		query.Since = fmt.Sprintf("%d.%09d", opts.Since.Unix(), opts.Since.Nanosecond())
	}
	raw, err := d.cli.ContainerLogs(ctx, id, query)
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", id, mapErr(err, ErrNotFound))
	}
	if tty {
		return raw, nil
	}
	return demuxLogs(raw), nil
}

// demuxLogs turns the engine's multiplexed stream into plain bytes. The
// copying goroutine ends when the stream ends or when the reader is closed
// (which closes the stream under it).
func demuxLogs(raw io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, raw)
		pw.CloseWithError(err) // nil closes with io.EOF
	}()
	return &demuxedLogs{PipeReader: pr, raw: raw}
}

type demuxedLogs struct {
	*io.PipeReader
	raw io.ReadCloser
}

func (l *demuxedLogs) Close() error {
	err := l.raw.Close()
	l.PipeReader.Close()
	return err
}
