package controller

import (
	"context"
	"log/slog"
	"sync"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/leader/workqueue"
)

// ReasonFailedBinding is the Event reason for a claim that waits for a
// declared PersistentVolume, as Kubernetes' volume controller gives it.
const ReasonFailedBinding = "FailedBinding"

// volumeBindingController tells, by an Event on the claim, why a claim that
// waits for a declared PersistentVolume is not bound. The binding itself is
// the store's (registry/volumes.go), in the transaction that makes it
// possible; this controller only reports, once per reason.
type volumeBindingController struct {
	cache cache
	rec   Recorder
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue

	mu   sync.Mutex
	told map[string]string // claim uid -> the reason last reported
}

func newVolumeBindingController(ctx context.Context, cache cache, rec Recorder, log *slog.Logger, opts Options) *volumeBindingController {
	return &volumeBindingController{cache: cache, rec: rec, log: log.With("component", "volumebinding"), opts: opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax), told: map[string]string{}}
}

func (c *volumeBindingController) loop() *loop {
	return &loop{
		name: "volumebinding", cache: c.cache, log: c.log, queue: c.queue,
		workers: 1, period: c.opts.ResyncPeriod,
		watches: []watchSpec{{kind: api.KindClaim, handle: func(_ context.Context, ev api.WatchEvent) {
			m := ev.Object.GetObjectMeta()
			if ev.Type == api.Deleted {
				c.mu.Lock()
				delete(c.told, m.UID)
				c.mu.Unlock()
				return
			}
			c.queue.Add(m.Namespace + "/" + m.Name)
		}}},
		sync: c.sync,
		resync: func(context.Context) error {
			for _, o := range c.cache.list(api.KindClaim, "", nil) {
				m := o.GetObjectMeta()
				c.queue.Add(m.Namespace + "/" + m.Name)
			}
			return nil
		},
	}
}

func (c *volumeBindingController) sync(_ context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindClaim, ns, name)
	if !ok {
		return nil
	}
	claim := obj.(*api.PersistentVolumeClaim)
	why, waits := claim.Annotations[api.AnnotationWaitsForVolume]
	c.mu.Lock()
	defer c.mu.Unlock()
	if !waits {
		delete(c.told, claim.UID)
		return nil
	}
	if c.told[claim.UID] == why {
		return nil
	}
	c.told[claim.UID] = why
	c.rec.Eventf(claim, api.EventWarning, ReasonFailedBinding, "%s", why)
	return nil
}
