package events

import (
	"fmt"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// Sink records Events about objects: the agent's Recorder writes Event
// objects, NopRecorder drops them, FakeRecorder keeps them for tests.
type Sink interface {
	Eventf(obj api.Object, eventType, reason, format string, args ...any)
}

// NopRecorder drops every event.
type NopRecorder struct{}

// Eventf does nothing.
func (NopRecorder) Eventf(api.Object, string, string, string, ...any) {}

// RecordedEvent is one event a FakeRecorder saw.
type RecordedEvent struct {
	Kind, Namespace, Name string
	Type, Reason, Message string
}

// FakeRecorder keeps the events it is given, for tests.
type FakeRecorder struct {
	mu     sync.Mutex
	events []RecordedEvent
}

var (
	_ Sink = NopRecorder{}
	_ Sink = (*FakeRecorder)(nil)
)

// Eventf records the event.
func (r *FakeRecorder) Eventf(obj api.Object, eventType, reason, format string, args ...any) {
	m := obj.GetObjectMeta()
	ev := RecordedEvent{Kind: obj.GetTypeMeta().Kind, Namespace: m.Namespace, Name: m.Name,
		Type: eventType, Reason: reason, Message: fmt.Sprintf(format, args...)}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// Events returns a copy of the events recorded so far.
func (r *FakeRecorder) Events() []RecordedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RecordedEvent(nil), r.events...)
}

// Find returns the recorded events with the given reason.
func (r *FakeRecorder) Find(reason string) []RecordedEvent {
	var out []RecordedEvent
	for _, e := range r.Events() {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}
