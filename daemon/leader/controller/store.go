package controller

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/registry/informer"
)

// Store is what the controllers write to, and read fresh from where a
// decision must be checked against the store itself (an owner before an
// adoption, a name that turned out taken); *registry.Registry satisfies
// it. Everything else is read from the agent's shared informer.
type Store interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
	UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error)
	Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error)
}

// Recorder records Events about objects (events.Recorder).
type Recorder = events.Sink

// cache reads the agent's informer. The objects it returns are shared with
// every other consumer: a controller copies one (informer.Copy) before it
// changes it, and never passes a shared one to a write, which changes its
// argument.
//
// The informer shows a write a moment after it is made. So that a sync
// right after a write does not act on the state before it (count a Job's
// failures again, record an event twice), the cache puts what the
// controllers wrote over the informer's view until the informer shows it
// (read-your-writes).
type cache struct {
	inf     *informer.Informer
	written *written
}

func newCache(inf *informer.Informer) cache { return cache{inf: inf, written: newWritten()} }

func (c cache) get(k *api.Kind, ns, name string) (api.Object, bool) {
	obj, ok := c.inf.Cache(k).Get(ns, name)
	if !k.Namespaced {
		ns = ""
	}
	return c.written.over(k, ns+"/"+name, obj, ok)
}

func (c cache) list(k *api.Kind, ns string, sel api.Selector) []api.Object {
	return c.written.overList(k, c.inf.Cache(k).List(ns, sel))
}

// candidates returns the objects of kind k an owner may claim: those that
// name it as an owner, and those of its namespace its selector matches
// (the orphans it may adopt among them), each once, sorted. Both come from
// indexes: the namespace's other objects are never looked at.
func (c cache) candidates(k *api.Kind, owner api.Object, sel api.Selector) []api.Object {
	m := owner.GetObjectMeta()
	kc := c.inf.Cache(k)
	owned := kc.ByOwner(m.UID)
	matching := kc.List(m.Namespace, sel)
	seen := make(map[string]bool, len(owned))
	out := make([]api.Object, 0, len(owned)+len(matching))
	for _, o := range owned {
		if o.GetObjectMeta().Namespace == m.Namespace { // an owner is never in another namespace
			seen[o.GetObjectMeta().Name] = true
			out = append(out, o)
		}
	}
	for _, o := range matching {
		if !seen[o.GetObjectMeta().Name] {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetObjectMeta().Name < out[j].GetObjectMeta().Name })
	return c.written.overList(k, out)
}

// written holds the results of the controllers' own writes that the
// informer may not show yet, by kind and key.
type written struct {
	mu      sync.Mutex
	entries map[writtenKey]writtenEntry
}

type writtenKey struct {
	kind *api.Kind
	key  string // namespace/name
}

type writtenEntry struct {
	obj     api.Object // the object as written (a private copy), or the last state of a deleted one
	deleted bool
	at      time.Time
}

// writtenTTL bounds how long a write is put over the informer's view: the
// informer shows a local write within milliseconds.
const writtenTTL = time.Minute

func newWritten() *written { return &written{entries: map[writtenKey]writtenEntry{}} }

// resourceVersion reads the version time of an object's resourceVersion
// (a merged object's carries a content sum after a dot).
func resourceVersion(obj api.Object) uint64 {
	t, _, _ := strings.Cut(obj.GetObjectMeta().ResourceVersion, ".")
	v, _ := strconv.ParseUint(t, 10, 64)
	return v
}

// record remembers the result of a write.
func (w *written) record(obj api.Object, deleted bool) {
	if obj == nil {
		return
	}
	k := api.KindOf(obj)
	m := obj.GetObjectMeta()
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.entries) > 4096 {
		for key, e := range w.entries {
			if now.Sub(e.at) > writtenTTL {
				delete(w.entries, key)
			}
		}
	}
	key := writtenKey{k, m.Namespace + "/" + m.Name}
	// Two controllers writing one object (a rollout its spec, the
	// ReplicaSet controller its status) record their results in whatever
	// order their calls return: keep the newer.
	if e, ok := w.entries[key]; ok && e.obj.GetObjectMeta().UID == m.UID && resourceVersion(e.obj) > resourceVersion(obj) {
		return
	}
	w.entries[key] = writtenEntry{obj: informer.Copy(obj), deleted: deleted, at: now}
}

// over returns what a read of one object gives: the informer's object, or
// the controllers' own later write of it.
func (w *written) over(k *api.Kind, key string, cached api.Object, ok bool) (api.Object, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.entries) == 0 {
		return cached, ok
	}
	wk := writtenKey{k, key}
	e, has := w.entries[wk]
	if !has {
		return cached, ok
	}
	if !ok || time.Since(e.at) > writtenTTL || cached.GetObjectMeta().UID != e.obj.GetObjectMeta().UID {
		delete(w.entries, wk) // gone, re-created, or long shown
		return cached, ok
	}
	if e.deleted {
		return nil, false
	}
	if resourceVersion(cached) >= resourceVersion(e.obj) {
		delete(w.entries, wk) // the informer caught up
		return cached, ok
	}
	return e.obj, true
}

func (w *written) overList(k *api.Kind, objs []api.Object) []api.Object {
	w.mu.Lock()
	empty := len(w.entries) == 0
	w.mu.Unlock()
	if empty {
		return objs
	}
	out := objs[:0:0]
	for _, o := range objs {
		if got, ok := w.over(k, keyOf(o), o, true); ok {
			out = append(out, got)
		}
	}
	return out
}

// recordingStore remembers the controllers' writes in the cache.
type recordingStore struct {
	Store
	written *written
}

func (s recordingStore) Update(ctx context.Context, obj api.Object) (api.Object, error) {
	got, err := s.Store.Update(ctx, obj)
	if err == nil {
		s.written.record(got, false)
	}
	return got, err
}

func (s recordingStore) UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error) {
	got, err := s.Store.UpdateStatus(ctx, obj)
	if err == nil {
		s.written.record(got, false)
	}
	return got, err
}

// Delete remembers a removal (a pod deleted gracefully stays, marked).
func (s recordingStore) Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error) {
	got, err := s.Store.Delete(ctx, k, ns, name, opts)
	if err == nil && got != nil {
		s.written.record(got, got.GetObjectMeta().DeletionTimestamp == nil)
	}
	return got, err
}

// readKinds are the kinds the controllers read from the informer: their
// caches must be filled before any sync decides anything.
func readKinds() []*api.Kind { return gcKinds() }
