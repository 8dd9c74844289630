package controller

import (
	"context"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/events"
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

// Recorder records Events about objects (events.Recorder).
type Recorder = events.Sink
