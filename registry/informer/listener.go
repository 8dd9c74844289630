package informer

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// Synced is the type of the Event a Watch sends once the objects present
// when it started (and, if the cache was not synced yet, those of its first
// list) have all been sent.
const Synced = "SYNCED"

// Event is one change as a consumer sees it.
type Event struct {
	// Type is api.Added, api.Modified, api.Deleted or Synced.
	Type string
	// Object is the object's state now; for Deleted, its last state. Nil
	// for Synced.
	Object api.Object
	// Old is, for Modified, the state this consumer was told before.
	Old api.Object
}

// Handler receives a consumer's changes. The functions run on the
// consumer's own goroutine, one call at a time; they should only enqueue
// work (a slow handler delays only its own later changes, which are
// merged meanwhile). Nil functions are skipped.
type Handler struct {
	OnAdd    func(obj api.Object)
	OnUpdate func(old, obj api.Object)
	OnDelete func(obj api.Object)
	// OnSynced is called once, after the adds of every object that was
	// cached when the handler was added or came with the cache's first list.
	OnSynced func()
}

// Filter narrows what a consumer is told of to the objects filed under one
// index value. An object that enters the filter is an add for the
// consumer, one that leaves it a delete. The zero Filter passes
// everything.
type Filter struct {
	ix    index
	value string
	on    bool
	ns    string       // "" for every namespace
	sel   api.Selector // nil for every object
}

// Everything passes every object.
func Everything() Filter { return Filter{} }

// OnNode passes the pods bound to node.
func OnNode(node string) Filter { return Filter{ix: byNode, value: node, on: true} }

// InNamespace passes the objects of namespace ns.
func InNamespace(ns string) Filter { return Filter{ix: byNamespace, value: ns, on: true} }

// OwnedBy passes the objects with an ownerReference naming uid.
func OwnedBy(uid string) Filter { return Filter{ix: byOwner, value: uid, on: true} }

// Within narrows f to the objects of namespace ns ("" for all) that sel
// matches.
func (f Filter) Within(ns string, sel api.Selector) Filter {
	f.ns, f.sel = ns, sel
	return f
}

func (f Filter) matches(it *item) bool {
	if it == nil {
		return false
	}
	if f.on && !slices.Contains(it.vals[f.ix], f.value) {
		return false
	}
	m := it.obj.GetObjectMeta()
	return (f.ns == "" || m.Namespace == f.ns) && f.sel.Matches(m.Labels)
}

// AddHandler tells h of every object the filter passes, as adds, then of
// every change, until ctx ends. The channel it returns closes when the
// consumer's goroutine, which calls h, has returned after ctx ended.
func (c *Cache) AddHandler(ctx context.Context, f Filter, h Handler) <-chan struct{} {
	l, _ := c.listen(f, h, true)
	return c.runListener(ctx, l)
}

// listen registers a listener; with tell, the objects the filter passes are
// its first adds, else they are returned (the consumer's starting view) and
// the listener tells only of changes after them.
func (c *Cache) listen(f Filter, h Handler, tell bool) (*listener, []api.Object) {
	l := &listener{filter: f, h: h, pending: map[objectID]*pending{}, wake: make(chan struct{}, 1)}
	c.mu.Lock()
	defer c.mu.Unlock()
	var snap []*item
	if f.on {
		for _, it := range c.index[f.ix][f.value] {
			snap = append(snap, it)
		}
	} else {
		snap = make([]*item, 0, len(c.items))
		for _, it := range c.items {
			snap = append(snap, it)
		}
	}
	slices.SortFunc(snap, func(a, b *item) int { return strings.Compare(a.key, b.key) })
	var start []api.Object
	for _, it := range snap {
		if !f.matches(it) {
			continue
		}
		if tell {
			l.push(it.key, nil, it.obj, true)
		} else {
			start = append(start, it.obj)
		}
	}
	if c.synced {
		l.pushSynced()
	}
	c.listeners[l] = struct{}{}
	return l, start
}

// runListener runs l's deliveries until ctx ends, then unregisters it;
// the channel closes after that.
func (c *Cache) runListener(ctx context.Context, l *listener) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.unlisten(l)
		l.run(ctx)
	}()
	return done
}

func (c *Cache) unlisten(l *listener) {
	c.mu.Lock()
	delete(c.listeners, l)
	c.mu.Unlock()
}

// Watch is AddHandler with a channel: the events of the objects the filter
// passes, first an add for each present one, then Synced, then the changes.
// The channel closes when ctx ends. A consumer that does not read holds
// up only itself, and its pending changes merge (one per object).
func (c *Cache) Watch(ctx context.Context, f Filter) <-chan Event {
	out := make(chan Event)
	send := func(ev Event) {
		select {
		case out <- ev:
		case <-ctx.Done():
		}
	}
	done := c.AddHandler(ctx, f, Handler{
		OnAdd:    func(obj api.Object) { send(Event{Type: api.Added, Object: obj}) },
		OnUpdate: func(old, obj api.Object) { send(Event{Type: api.Modified, Object: obj, Old: old}) },
		OnDelete: func(obj api.Object) { send(Event{Type: api.Deleted, Object: obj}) },
		OnSynced: func() { send(Event{Type: Synced}) },
	})
	go func() {
		<-done
		close(out)
	}()
	return out
}

// listener is one consumer's queue: at most one pending entry per object
// (by key and uid), delivered in the order of the first change that made
// it pending.
type listener struct {
	filter Filter
	h      Handler

	mu      sync.Mutex
	pending map[objectID]*pending
	order   []objectID // syncMarker for the Synced event
	wake    chan struct{}
}

// objectID names one object of a listener's queue: its key (shared with
// the cache's item, so naming costs nothing) and uid.
type objectID struct{ key, uid string }

// syncMarker stands for the Synced event in a listener's order; no object
// has an empty key.
var syncMarker = objectID{}

// pending is what a consumer has not been told yet about one object.
type pending struct {
	seen api.Object // the state the consumer was last told; nil if it knows none
	obj  api.Object // the state now
	in   bool       // the object is in the consumer's view now
}

// change tells of an object that was old (nil: absent) and is now cur.
func (l *listener) change(old, cur *item) {
	was, is := old != nil && l.filter.matches(old), l.filter.matches(cur)
	if !was && !is {
		return
	}
	var prev api.Object
	if was {
		prev = old.obj
	}
	l.push(cur.key, prev, cur.obj, is)
}

// remove tells of the deletion of it, whose last state is gone.
func (l *listener) remove(it, gone *item) {
	if l.filter.matches(it) {
		l.push(it.key, it.obj, gone.obj, false)
	}
}

// push merges a change into the queue; prev is the state the consumer has
// if nothing is pending for the object.
func (l *listener) push(key string, prev, obj api.Object, in bool) {
	id := objectID{key, obj.GetObjectMeta().UID}
	l.mu.Lock()
	p := l.pending[id]
	if p == nil {
		p = &pending{seen: prev}
		l.pending[id] = p
		l.order = append(l.order, id)
	}
	// An object that came and went before the consumer looked is told
	// as a delete (with its last state): one counting what it made (a
	// controller's expectations) sees every object.
	p.obj, p.in = obj, in
	if len(l.order) > 2*len(l.pending)+64 {
		l.compact()
	}
	l.mu.Unlock()
	l.signal()
}

func (l *listener) pushSynced() {
	l.mu.Lock()
	l.order = append(l.order, syncMarker)
	l.mu.Unlock()
	l.signal()
}

// compact drops the ids of entries no longer pending; l.mu is held.
func (l *listener) compact() {
	kept := make([]objectID, 0, len(l.pending)+1)
	seen := make(map[objectID]bool, len(l.pending))
	for _, id := range l.order {
		if id == syncMarker {
			kept = append(kept, id)
			continue
		}
		if _, ok := l.pending[id]; ok && !seen[id] {
			seen[id] = true
			kept = append(kept, id)
		}
	}
	l.order = kept
}

func (l *listener) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *listener) pendingLen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// next takes the first pending event; ok is false when none is.
func (l *listener) next() (ev Event, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.order) > 0 {
		id := l.order[0]
		l.order = l.order[1:]
		if id == syncMarker {
			return Event{Type: Synced}, true
		}
		p := l.pending[id]
		if p == nil {
			continue
		}
		delete(l.pending, id)
		switch {
		case p.seen == nil && p.in:
			return Event{Type: api.Added, Object: p.obj}, true
		case p.in:
			return Event{Type: api.Modified, Object: p.obj, Old: p.seen}, true
		default:
			return Event{Type: api.Deleted, Object: p.obj}, true
		}
	}
	l.order = nil
	return Event{}, false
}

func (l *listener) run(ctx context.Context) {
	for {
		for ctx.Err() == nil {
			ev, ok := l.next()
			if !ok {
				break
			}
			l.deliver(ev)
		}
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		}
	}
}

func (l *listener) deliver(ev Event) {
	switch ev.Type {
	case api.Added:
		if l.h.OnAdd != nil {
			l.h.OnAdd(ev.Object)
		}
	case api.Modified:
		if l.h.OnUpdate != nil {
			l.h.OnUpdate(ev.Old, ev.Object)
		}
	case api.Deleted:
		if l.h.OnDelete != nil {
			l.h.OnDelete(ev.Object)
		}
	case Synced:
		if l.h.OnSynced != nil {
			l.h.OnSynced()
		}
	}
}
