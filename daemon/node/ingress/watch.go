package ingress

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Pauses between attempts to list and watch a kind again.
const (
	minPause = 100 * time.Millisecond
	maxPause = 5 * time.Second
)

// errWatchEvent: the watch sent an ERROR event; the kind is listed again.
var errWatchEvent = errors.New("watch sent an error event")

// follow feeds one kind into out: a list, then the watch from the list's
// version, and a fresh list whenever the watch ends or fails, so that
// nothing missed in between survives.
func (p *Proxy) follow(ctx context.Context, src Source, k *api.Kind, out chan<- update) {
	pause, failing := minPause, false
	for {
		start := time.Now()
		progressed, err := listWatch(ctx, src, k, out)
		if ctx.Err() != nil {
			return
		}
		if progressed || time.Since(start) > maxPause {
			pause = minPause
		}
		switch {
		case err != nil && !failing:
			p.log.Warn("following objects failed; retrying", "kind", k.Kind, "in", pause, "err", err)
		case err != nil:
			p.log.Debug("following objects failed again", "kind", k.Kind, "in", pause, "err", err)
		default:
			p.log.Debug("watch ended; listing again", "kind", k.Kind, "in", pause)
		}
		failing = err != nil
		if !sleep(ctx, pause) {
			return
		}
		pause = min(2*pause, maxPause)
	}
}

// listWatch lists k, sends the list, then sends the watch's events until it
// ends. progressed reports that at least one event came.
func listWatch(ctx context.Context, src Source, k *api.Kind, out chan<- update) (progressed bool, err error) {
	// Ending the watch here, not only with ctx, lets the source stop
	// sending when an ERROR event ends it early.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	objs, rv, err := src.List(ctx, k, "", nil)
	if err != nil {
		return false, fmt.Errorf("list %s: %w", k.Resource, err)
	}
	ch, err := src.Watch(ctx, k, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return false, fmt.Errorf("watch %s: %w", k.Resource, err)
	}
	if !send(ctx, out, update{kind: k, full: true, list: objs}) {
		return false, nil
	}
	for {
		var ev api.WatchEvent
		select {
		case <-ctx.Done():
			return progressed, nil
		case e, ok := <-ch:
			if !ok {
				return progressed, nil
			}
			ev = e
		}
		switch ev.Type {
		case api.Added, api.Modified, api.Deleted:
			if ev.Object == nil {
				continue
			}
			if !send(ctx, out, update{kind: k, ev: ev}) {
				return progressed, nil
			}
			progressed = true
		case api.Error:
			return progressed, fmt.Errorf("watch %s: %w", k.Resource, errWatchEvent)
		}
	}
}

func send(ctx context.Context, out chan<- update, u update) bool {
	select {
	case out <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
