package controller

import (
	"context"
	"fmt"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// Store is what the controllers need of the replicated object store;
// *registry.Registry satisfies it.
type Store interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
	UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error)
	Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
}

// Recorder records Events about objects; the agent provides one that writes
// Event objects.
type Recorder interface {
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
	_ Recorder = NopRecorder{}
	_ Recorder = (*FakeRecorder)(nil)
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
