package engine

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// Events streams the engine's container events until ctx is done or the
// stream breaks. Either way the event channel is closed and the error channel
// receives exactly one value (ctx.Err() after a cancel).
func (d *Docker) Events(ctx context.Context) (<-chan Event, <-chan error) {
	out := make(chan Event)
	errc := make(chan error, 1)
	opts := events.ListOptions{Filters: filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)))}
	msgs, sdkErrs := d.cli.Events(ctx, opts)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			case err := <-sdkErrs:
				errc <- d.eventStreamErr(ctx, err)
				return
			case m := <-msgs:
				select {
				case out <- eventFromMessage(m):
				case <-ctx.Done():
					errc <- ctx.Err()
					return
				}
			}
		}
	}()
	return out, errc
}

func (d *Docker) eventStreamErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	d.log.Debug("event stream ended", "error", err)
	if err == nil || errors.Is(err, io.EOF) {
		// The engine closed the stream: it is stopping or restarting.
		return fmt.Errorf("engine events: %w", &sdkError{sentinel: ErrUnavailable, cause: io.ErrUnexpectedEOF})
	}
	return fmt.Errorf("engine events: %w", mapErr(err, ErrNotFound))
}
