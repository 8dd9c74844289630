package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// ErrWatchEnded: a watch closed while the proxier was running; it lists
// again and watches from there.
var ErrWatchEnded = errors.New("proxy: watch ended")

// Source is where the proxier reads Services and Endpoints; *registry.Registry
// satisfies it.
type Source interface {
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
}

// feedKinds are the kinds the rules are made of.
var feedKinds = []*api.Kind{api.KindService, api.KindEndpoints}

// update is what a feed tells the sync loop: the whole set of one kind
// (reset), or one change.
type update struct {
	kind  *api.Kind
	reset bool
	list  []api.Object
	event api.WatchEvent
}

// Retry pauses of a feed whose list or watch failed.
const (
	feedPauseMin = 100 * time.Millisecond
	feedPauseMax = 5 * time.Second
	// feedHealthy: a watch that lasted this long resets the pause.
	feedHealthy = time.Minute
)

// feed lists one kind, then watches it from the list's version, sending
// everything to out, until ctx ends. When the watch ends it starts over with
// a list, so the loop's view is always whole.
func (p *Proxier) feed(ctx context.Context, src Source, k *api.Kind, out chan<- update) {
	pause := feedPauseMin
	for ctx.Err() == nil {
		start := time.Now()
		err := p.listWatch(ctx, src, k, out)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > feedHealthy {
			pause = feedPauseMin
		}
		p.log.Warn("list or watch failed; starting over", "kind", k.Kind, "in", pause, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, feedPauseMax)
	}
}

func (p *Proxier) listWatch(ctx context.Context, src Source, k *api.Kind, out chan<- update) error {
	objs, rv, err := src.List(ctx, k, "", nil)
	if err != nil {
		return fmt.Errorf("proxy: list %s: %w", k.Resource, err)
	}
	if !send(ctx, out, update{kind: k, reset: true, list: objs}) {
		return ctx.Err()
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the source's watch when we give up on it
	ch, err := src.Watch(wctx, k, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("proxy: watch %s: %w", k.Resource, err)
	}
	for ev := range ch {
		switch {
		case ev.Type == api.Bookmark:
			continue
		case ev.Type == api.Error || ev.Object == nil:
			return fmt.Errorf("proxy: watch %s: error event %v: %w", k.Resource, ev.Object, ErrWatchEnded)
		}
		if !send(ctx, out, update{kind: k, event: ev}) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("proxy: watch %s: %w", k.Resource, ErrWatchEnded)
}

func send(ctx context.Context, out chan<- update, u update) bool {
	select {
	case out <- u:
		return true
	case <-ctx.Done():
		return false
	}
}

// cache is the loop's view of the cluster, owned by the loop goroutine.
type cache struct {
	services  map[string]*api.Service
	endpoints map[string]*api.Endpoints
	primed    map[*api.Kind]bool
}

func newCache() *cache {
	return &cache{services: map[string]*api.Service{}, endpoints: map[string]*api.Endpoints{}, primed: map[*api.Kind]bool{}}
}

// ready: both kinds were listed, so a sync will not take a half-known
// cluster for the truth (and reject services whose endpoints are not read
// yet).
func (c *cache) ready() bool { return c.primed[api.KindService] && c.primed[api.KindEndpoints] }

// apply takes an update in and reports whether it may change the rules.
func (c *cache) apply(u update) bool {
	if u.reset {
		c.primed[u.kind] = true
		switch u.kind {
		case api.KindService:
			clear(c.services)
		case api.KindEndpoints:
			clear(c.endpoints)
		}
		for _, o := range u.list {
			c.set(o, false)
		}
		return true
	}
	return c.set(u.event.Object, u.event.Type == api.Deleted)
}

func (c *cache) set(o api.Object, deleted bool) bool {
	m := o.GetObjectMeta()
	key := m.Namespace + "/" + m.Name
	switch o := o.(type) {
	case *api.Service:
		if deleted {
			delete(c.services, key)
		} else {
			c.services[key] = o
		}
	case *api.Endpoints:
		if deleted {
			delete(c.endpoints, key)
		} else {
			c.endpoints[key] = o
		}
	default:
		return false
	}
	return true
}

func (c *cache) lists() ([]*api.Service, []*api.Endpoints) {
	ss := make([]*api.Service, 0, len(c.services))
	for _, s := range c.services {
		ss = append(ss, s)
	}
	es := make([]*api.Endpoints, 0, len(c.endpoints))
	for _, e := range c.endpoints {
		es = append(es, e)
	}
	return ss, es
}
