package informer

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// follow keeps the cache in step with the source until ctx ends: a list,
// then the watch from the list's version; when the watch ends (the source
// closed it, or sent an ERROR event such as a 410 for falling behind), a
// fresh list whose difference with the cache is told to the listeners.
func (c *Cache) follow(ctx context.Context) {
	log := c.inf.opts.Log.With("kind", c.kind.Kind)
	pause := c.inf.opts.RetryMin
	first := true
	for ctx.Err() == nil {
		start := time.Now()
		err := c.listWatch(ctx, first)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			first = false
		}
		if time.Since(start) > c.inf.opts.RetryMax {
			pause = c.inf.opts.RetryMin // it ran well for a while
		}
		if err != nil {
			log.Warn("informer: list or watch failed; retrying", "in", pause, "err", err)
		} else {
			log.Info("informer: watch ended; listing again", "in", pause)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, c.inf.opts.RetryMax)
	}
}

// listWatch lists, fills the cache, and applies the watch until it ends.
// It returns nil when the watch ended after the list succeeded.
func (c *Cache) listWatch(ctx context.Context, first bool) error {
	ctx, cancel := context.WithCancel(ctx) // ends the source's watch when we give it up
	defer cancel()
	objs, rv, err := c.inf.src.List(ctx, c.kind, "", nil)
	if err != nil {
		return fmt.Errorf("list %s: %w", c.kind.Resource, err)
	}
	ch, err := c.inf.src.Watch(ctx, c.kind, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watch %s: %w", c.kind.Resource, err)
	}
	c.replace(objs, first)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			switch ev.Type {
			case api.Added, api.Modified, api.Deleted:
				if ev.Object != nil && api.KindOf(ev.Object) == c.kind {
					c.apply(ev)
				}
			case api.Error:
				return nil // a 410: the watch fell behind; list again
			}
		}
	}
}
