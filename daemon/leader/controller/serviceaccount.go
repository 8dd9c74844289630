package controller

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/leader/workqueue"
)

// serviceAccountController gives every active namespace its "default"
// ServiceAccount, as Kubernetes' service account controller does: charts
// and manifests expect it to be there.
type serviceAccountController struct {
	store Store
	cache cache
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue
}

func newServiceAccountController(ctx context.Context, store Store, cache cache, log *slog.Logger, opts Options) *serviceAccountController {
	return &serviceAccountController{store: store, cache: cache, log: log.With("component", "serviceaccount"), opts: opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax)}
}

func (c *serviceAccountController) loop() *loop {
	return &loop{
		name: "serviceaccount", cache: c.cache, log: c.log, queue: c.queue,
		workers: 1, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: api.KindNamespace, handle: func(_ context.Context, ev api.WatchEvent) {
				if ev.Type != api.Deleted {
					c.queue.Add(ev.Object.GetObjectMeta().Name)
				}
			}},
			// A deleted default account comes back.
			{kind: api.KindServiceAccount, handle: func(_ context.Context, ev api.WatchEvent) {
				if ev.Type == api.Deleted && ev.Object.GetObjectMeta().Name == api.DefaultServiceAccount {
					c.queue.Add(ev.Object.GetObjectMeta().Namespace)
				}
			}},
		},
		sync: c.sync,
		resync: func(context.Context) error {
			for _, o := range c.cache.list(api.KindNamespace, "", nil) {
				c.queue.Add(o.GetObjectMeta().Name)
			}
			return nil
		},
	}
}

func (c *serviceAccountController) sync(ctx context.Context, ns string) error {
	obj, ok := c.cache.get(api.KindNamespace, "", ns)
	if !ok {
		return nil
	}
	n := obj.(*api.Namespace)
	if n.DeletionTimestamp != nil || n.Status.Phase == api.NamespaceTerminating {
		return nil
	}
	if _, ok := c.cache.get(api.KindServiceAccount, ns, api.DefaultServiceAccount); ok {
		return nil
	}
	_, err := c.store.Create(ctx, &api.ServiceAccount{ObjectMeta: api.ObjectMeta{Name: api.DefaultServiceAccount, Namespace: ns}})
	if err != nil && !api.IsAlreadyExists(err) && !api.IsNotFound(err) {
		return fmt.Errorf("create the default service account of %s: %w", ns, err)
	}
	return nil
}
