package enginetest

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// subscriber is one Events stream. Its queue has no bound, so emitting never
// blocks the fake on a slow reader and no event is dropped.
type subscriber struct {
	mu     sync.Mutex
	queue  []engine.Event
	broken error
	wake   chan struct{} // capacity 1
}

func (s *subscriber) push(ev engine.Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	s.signal()
}

func (s *subscriber) breakWith(err error) {
	s.mu.Lock()
	if s.broken == nil {
		s.broken = err
	}
	s.mu.Unlock()
	s.signal()
}

func (s *subscriber) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next returns the next queued event, or the error that broke the stream.
func (s *subscriber) next() (ev engine.Event, ok bool, broken error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return engine.Event{}, false, s.broken
	}
	if len(s.queue) == 0 {
		return engine.Event{}, false, nil
	}
	ev = s.queue[0]
	s.queue = s.queue[1:]
	return ev, true, nil
}

// Events streams every container event to this subscriber from now on.
// Like the real driver, it closes the event channel and sends one error when
// ctx is done or the stream breaks (BreakEvents, SetUnavailable).
func (f *Fake) Events(ctx context.Context) (<-chan engine.Event, <-chan error) {
	f.record("Events")
	out := make(chan engine.Event)
	errc := make(chan error, 1)
	sub := &subscriber{wake: make(chan struct{}, 1)}

	f.mu.Lock()
	if err := f.downLocked(); err != nil {
		f.mu.Unlock()
		close(out)
		errc <- err
		return out, errc
	}
	f.subscribers[sub] = struct{}{}
	f.mu.Unlock()

	go func() {
		defer close(out)
		defer f.unsubscribe(sub)
		for {
			ev, ok, broken := sub.next()
			switch {
			case broken != nil:
				errc <- broken
				return
			case !ok:
				select {
				case <-sub.wake:
				case <-ctx.Done():
					errc <- ctx.Err()
					return
				}
			default:
				select {
				case out <- ev:
				case <-ctx.Done():
					errc <- ctx.Err()
					return
				}
			}
		}
	}()
	return out, errc
}

func (f *Fake) unsubscribe(sub *subscriber) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.subscribers, sub)
}

// Subscribers returns how many event streams are open, so that a test can
// wait for a component to subscribe before making events happen.
func (f *Fake) Subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subscribers)
}

// BreakEvents ends every open event stream with err (wrapped), as a broken
// connection to the engine would; events still queued are lost.
func (f *Fake) BreakEvents(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.breakStreamsLocked(err)
}

func (f *Fake) breakStreamsLocked(err error) {
	for sub := range f.subscribers {
		sub.breakWith(fmt.Errorf("engine events: %w", err))
		delete(f.subscribers, sub)
	}
}

// Emit sends ev to every subscriber as it is, for events the fake does not
// make itself.
func (f *Fake) Emit(ev engine.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.broadcastLocked(ev)
}

// emitLocked announces an action on c. Like the engine's, the event's labels
// are the container's labels plus the name and image attributes.
func (f *Fake) emitLocked(c *fakeContainer, action string, attrs map[string]string) {
	labels := maps.Clone(c.state.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["name"] = c.state.Name
	labels["image"] = c.state.Image
	maps.Copy(labels, attrs)
	f.broadcastLocked(engine.Event{
		Action:      action,
		ContainerID: c.state.ID,
		Labels:      labels,
		ExitCode:    attrs["exitCode"],
		Time:        time.Now(),
	})
}

func (f *Fake) broadcastLocked(ev engine.Event) {
	for sub := range f.subscribers {
		e := ev
		e.Labels = maps.Clone(ev.Labels)
		sub.push(e)
	}
}
