package controller

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/leader/workqueue"

	"github.com/shoal-dev/shoal/api"
)

// garbageCollector deletes objects whose owners are gone, with background
// propagation: the owner goes first, then its dependents, then theirs (a
// deleted Deployment takes its ReplicaSets, which take their pods).
//
// An owner is looked up by kind, namespace and name, and must have the uid
// the reference names: a re-created owner does not own the dependents of the
// one before. Because replication may deliver a dependent before its owner,
// an owner must be missing for GCGracePeriod before anything is deleted,
// unless this collector saw the owner's deletion itself.
//
// It also finishes deletions (finish): an object being deleted in the
// foreground (finalizer foregroundDeletion) loses that finalizer once no
// dependent that blocks it (blockOwnerDeletion) is left, pods still
// terminating included, and an object being deleted that has no finalizer
// left (two agents' writes merged so) is removed.
type garbageCollector struct {
	store Store
	cache cache
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue

	mu      sync.Mutex
	missing map[string]map[string]time.Time
	deleted map[string]time.Time // owner uid -> when its deletion was seen
}

func newGarbageCollector(ctx context.Context, store Store, cache cache, log *slog.Logger, opts Options) *garbageCollector {
	return &garbageCollector{
		store:   store,
		cache:   cache,
		log:     log.With("component", "garbagecollector"),
		opts:    opts,
		queue:   workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax),
		missing: map[string]map[string]time.Time{},
		deleted: map[string]time.Time{},
	}
}

// gcKinds are the kinds that can own or be owned: all but Events.
func gcKinds() []*api.Kind {
	var out []*api.Kind
	for _, k := range api.Kinds {
		if k != api.KindEvent {
			out = append(out, k)
		}
	}
	return out
}

func (c *garbageCollector) loop() *loop {
	var watches []watchSpec
	for _, k := range gcKinds() {
		watches = append(watches, watchSpec{kind: k, handle: c.onObject, update: c.onUpdate})
	}
	return &loop{
		name: "garbagecollector", cache: c.cache, log: c.log, queue: c.queue,
		workers: c.opts.Workers, period: c.opts.ResyncPeriod,
		watches: watches, sync: c.sync, resync: c.resync,
	}
}

// gcKey names an object of any kind: "Kind/namespace/name".
func gcKey(k *api.Kind, ns, name string) string { return k.Kind + "/" + ns + "/" + name }

func parseGCKey(key string) (*api.Kind, string, string, error) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 {
		return nil, "", "", fmt.Errorf("garbage collector: malformed key %q", key)
	}
	k, ok := api.LookupKind(parts[0])
	if !ok {
		return nil, "", "", fmt.Errorf("garbage collector: unknown kind in key %q", key)
	}
	return k, parts[1], parts[2], nil
}

func objectKey(obj api.Object) string {
	m := obj.GetObjectMeta()
	return gcKey(api.KindOf(obj), m.Namespace, m.Name)
}

// onObject checks new dependents and, on an owner's deletion, its
// dependents (found through the informer's owner index).
func (c *garbageCollector) onObject(_ context.Context, ev api.WatchEvent) {
	m := ev.Object.GetObjectMeta()
	key := objectKey(ev.Object)
	if ev.Type == api.Deleted {
		c.mu.Lock()
		c.deleted[m.UID] = c.opts.Now()
		delete(c.missing, key)
		c.mu.Unlock()
		for _, k := range gcKinds() {
			for _, dep := range c.cache.inf.Cache(k).ByOwner(m.UID) {
				c.queue.Add(objectKey(dep))
			}
		}
		c.addOwners(m) // one of them may wait for it
		return
	}
	if len(m.OwnerReferences) > 0 || m.DeletionTimestamp != nil {
		c.queue.Add(key)
	}
}

// onUpdate checks an object whose owners changed (and the owners it
// left, which may wait for it), or that is being deleted.
func (c *garbageCollector) onUpdate(_ context.Context, old, obj api.Object) {
	om, m := old.GetObjectMeta(), obj.GetObjectMeta()
	if !sameOwners(om.OwnerReferences, m.OwnerReferences) || !sameBlocking(om.OwnerReferences, m.OwnerReferences) {
		c.queue.Add(objectKey(obj))
		c.addOwners(om)
	}
	if m.DeletionTimestamp != nil {
		c.queue.Add(objectKey(obj))
		if om.DeletionTimestamp == nil && api.HasFinalizer(m, api.FinalizerForeground) {
			// Dependents it now waits for, made after its delete
			// looked, are this collector's to delete.
			for _, k := range gcKinds() {
				for _, dep := range c.cache.inf.Cache(k).ByOwner(m.UID) {
					c.queue.Add(objectKey(dep))
				}
			}
		}
	}
}

// addOwners queues the owners an object names.
func (c *garbageCollector) addOwners(m *api.ObjectMeta) {
	for _, ref := range m.OwnerReferences {
		if k := kindByName(ref.Kind); k != nil {
			ns := m.Namespace
			if !k.Namespaced {
				ns = ""
			}
			c.queue.Add(gcKey(k, ns, ref.Name))
		}
	}
}

func sameBlocking(a, b []api.OwnerReference) bool {
	blocks := func(r api.OwnerReference) bool { return r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion }
	for i := range a {
		if blocks(a[i]) != blocks(b[i]) {
			return false
		}
	}
	return true
}

func sameOwners(a, b []api.OwnerReference) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID {
			return false
		}
	}
	return true
}

// resync checks every object that has owners or is being deleted.
func (c *garbageCollector) resync(ctx context.Context) error {
	for _, k := range gcKinds() {
		for _, o := range c.cache.list(k, "", nil) {
			if m := o.GetObjectMeta(); len(m.OwnerReferences) > 0 || m.DeletionTimestamp != nil {
				c.queue.Add(objectKey(o))
			}
		}
	}
	return nil
}

// sync deletes the object if all its owners have been missing for the grace
// period, or drops the references to the missing ones if some remain.
func (c *garbageCollector) sync(ctx context.Context, key string) error {
	k, ns, name, err := parseGCKey(key)
	if err != nil {
		c.log.Error("dropping a key", "key", key, "err", err)
		return nil
	}
	obj, ok := c.cache.get(k, ns, name)
	if !ok {
		c.clearMissing(key)
		return nil
	}
	m := obj.GetObjectMeta()
	if m.DeletionTimestamp != nil {
		return c.finish(ctx, k, obj)
	}
	dangling := c.danglingOwners(ns, m.OwnerReferences, c.fromCache)
	if c.ownersWaitFor(ns, m.OwnerReferences, dangling) {
		return c.deleteForOwners(ctx, k, obj)
	}
	if len(dangling) == 0 {
		c.clearMissing(key)
		return nil
	}
	if wait := c.graceLeft(key, dangling); wait > 0 {
		c.queue.AddAfter(key, wait)
		return nil
	}
	// Before deleting anything, the store itself has the last word: the
	// cache may be a moment behind it.
	fresh, err := c.store.Get(ctx, k, ns, name)
	if api.IsNotFound(err) {
		c.clearMissing(key)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	m = fresh.GetObjectMeta()
	if dangling = c.danglingOwners(ns, m.OwnerReferences, c.fromStore(ctx)); len(dangling) == 0 {
		c.clearMissing(key)
		return nil
	}
	if len(dangling) == len(m.OwnerReferences) {
		return c.deleteOrphan(ctx, k, fresh)
	}
	return c.dropReferences(ctx, fresh, dangling)
}

// ownersWaitFor reports whether an object's owners are all gone or being
// deleted in the foreground, with one at least in the foreground: such an
// owner waits for its dependents, so a dependent made after the owner's
// delete (by a controller that had not seen it yet) is deleted, as
// Kubernetes' collector does.
func (c *garbageCollector) ownersWaitFor(ns string, refs []api.OwnerReference, dangling map[string]bool) bool {
	waiting := false
	for _, ref := range refs {
		if dangling[ref.UID] {
			continue
		}
		k := kindByName(ref.Kind)
		if k == nil {
			return false // an owner that cannot be checked holds it
		}
		ons := ns
		if !k.Namespaced {
			ons = ""
		}
		owner, ok := c.cache.get(k, ons, ref.Name)
		if !ok {
			return false
		}
		om := owner.GetObjectMeta()
		if om.DeletionTimestamp == nil || !api.HasFinalizer(om, api.FinalizerForeground) {
			return false // a solid owner
		}
		waiting = true
	}
	return waiting
}

// deleteForOwners deletes a dependent its foreground-deleted owners wait
// for, after checking them against the store: in the foreground when it
// has dependents of its own, so they go first, else in the background (a
// pod gracefully).
func (c *garbageCollector) deleteForOwners(ctx context.Context, k *api.Kind, obj api.Object) error {
	m := obj.GetObjectMeta()
	fresh, err := c.store.Get(ctx, k, m.Namespace, m.Name)
	if api.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", objectKey(obj), err)
	}
	fm := fresh.GetObjectMeta()
	if fm.UID != m.UID || fm.DeletionTimestamp != nil {
		return nil
	}
	for _, ref := range fm.OwnerReferences {
		rk := kindByName(ref.Kind)
		if rk == nil {
			return nil
		}
		ons := fm.Namespace
		if !rk.Namespaced {
			ons = ""
		}
		owner, err := c.store.Get(ctx, rk, ons, ref.Name)
		if api.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("get the owner %s of %s: %w", ref.Name, objectKey(obj), err)
		}
		if om := owner.GetObjectMeta(); om.UID == ref.UID && (om.DeletionTimestamp == nil || !api.HasFinalizer(om, api.FinalizerForeground)) {
			return nil // a solid owner after all
		}
	}
	policy := api.DeletePropagationBackground
	if c.hasDependents(fm.UID) {
		policy = api.DeletePropagationForeground
	}
	_, err = c.store.Delete(ctx, k, fm.Namespace, fm.Name, api.DeleteOptions{UID: fm.UID, PropagationPolicy: policy})
	if err != nil && !api.IsNotFound(err) && !api.IsConflict(err) {
		return fmt.Errorf("delete %s, whose owners wait for it: %w", objectKey(obj), err)
	}
	c.log.Debug("deleted a dependent its owners' foreground deletion waits for", "object", objectKey(obj), "policy", policy)
	return nil
}

func (c *garbageCollector) hasDependents(uid string) bool {
	for _, k := range gcKinds() {
		if len(c.cache.inf.Cache(k).ByOwner(uid)) > 0 {
			return true
		}
	}
	return false
}

// ownerLookup finds an owner: it returns nil when there is none, or an
// error when that cannot be told.
type ownerLookup func(k *api.Kind, ns, name string) (api.Object, error)

func (c *garbageCollector) fromCache(k *api.Kind, ns, name string) (api.Object, error) {
	o, _ := c.cache.get(k, ns, name)
	return o, nil
}

func (c *garbageCollector) fromStore(ctx context.Context) ownerLookup {
	return func(k *api.Kind, ns, name string) (api.Object, error) {
		o, err := c.store.Get(ctx, k, ns, name)
		if api.IsNotFound(err) {
			return nil, nil
		}
		return o, err
	}
}

// danglingOwners returns the references whose owner is not there with the
// referenced uid. Owners of a kind shoal does not know, and owners the
// lookup cannot tell about, are assumed to exist: what cannot be checked
// is never deleted.
func (c *garbageCollector) danglingOwners(ns string, refs []api.OwnerReference, lookup ownerLookup) map[string]bool {
	out := map[string]bool{}
	for _, ref := range refs {
		k := kindByName(ref.Kind)
		if k == nil {
			continue
		}
		ons := ns
		if !k.Namespaced {
			ons = ""
		}
		owner, err := lookup(k, ons, ref.Name)
		switch {
		case err != nil:
			c.log.Debug("looking up an owner failed", "kind", ref.Kind, "owner", ons+"/"+ref.Name, "err", err)
		case owner == nil, owner.GetObjectMeta().UID != ref.UID:
			out[ref.UID] = true
		}
	}
	return out
}

func kindByName(name string) *api.Kind {
	for _, k := range api.Kinds {
		if k.Kind == name {
			return k
		}
	}
	return nil
}

// graceLeft records when each owner was first seen missing and returns how
// long the longest-waiting one must still be missing before acting.
func (c *garbageCollector) graceLeft(key string, dangling map[string]bool) time.Duration {
	now := c.opts.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	marks := c.missing[key]
	if marks == nil {
		marks = map[string]time.Time{}
		c.missing[key] = marks
	}
	for uid := range marks {
		if !dangling[uid] {
			delete(marks, uid) // the owner came (back)
		}
	}
	var wait time.Duration
	for uid, at := range c.deleted {
		if now.Sub(at) > 10*time.Minute {
			delete(c.deleted, uid)
		}
	}
	for uid := range dangling {
		if _, seen := c.deleted[uid]; seen {
			continue // the owner's deletion was seen: no doubt, no wait
		}
		since, ok := marks[uid]
		if !ok {
			since = now
			marks[uid] = now
		}
		wait = max(wait, c.opts.GCGracePeriod-now.Sub(since))
	}
	return wait
}

func (c *garbageCollector) clearMissing(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.missing, key)
}

// deleteOrphan deletes an object all of whose owners are gone; a pod is
// deleted gracefully, so its node stops its containers first.
func (c *garbageCollector) deleteOrphan(ctx context.Context, k *api.Kind, obj api.Object) error {
	m := obj.GetObjectMeta()
	if m.DeletionTimestamp != nil {
		return nil // already going
	}
	_, err := c.store.Delete(ctx, k, m.Namespace, m.Name, api.DeleteOptions{UID: m.UID})
	if err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("delete %s %s whose owner is gone: %w", k.Singular, keyOf(obj), err)
	}
	c.clearMissing(objectKey(obj))
	c.log.Debug("deleted an object whose owner is gone", "kind", k.Kind, "object", keyOf(obj))
	return nil
}

// dropReferences removes the references to missing owners from an object
// that still has others.
func (c *garbageCollector) dropReferences(ctx context.Context, obj api.Object, dangling map[string]bool) error {
	m := obj.GetObjectMeta()
	keep := m.OwnerReferences[:0:0]
	for _, r := range m.OwnerReferences {
		if !dangling[r.UID] {
			keep = append(keep, r)
		}
	}
	m.OwnerReferences = keep
	if _, err := c.store.Update(ctx, obj); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("drop missing owners of %s: %w", objectKey(obj), err)
	}
	c.clearMissing(objectKey(obj))
	return nil
}

// finish moves on the deletion of an object being deleted: its finalizer
// foregroundDeletion goes once no dependent blocks it, and an object with
// no finalizer left goes (a pod's grace period is its node's).
func (c *garbageCollector) finish(ctx context.Context, k *api.Kind, obj api.Object) error {
	m := obj.GetObjectMeta()
	switch {
	case api.HasFinalizer(m, api.FinalizerForeground):
		if dep := c.blockingDependent(m.UID); dep != nil {
			c.log.Debug("a foreground deletion waits for a dependent", "object", objectKey(obj), "dependent", objectKey(dep))
			return nil // its deletion queues this owner again
		}
		fresh, err := c.store.Get(ctx, k, m.Namespace, m.Name)
		if api.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", objectKey(obj), err)
		}
		fm := fresh.GetObjectMeta()
		if fm.UID != m.UID || !api.HasFinalizer(fm, api.FinalizerForeground) {
			return nil
		}
		fm.Finalizers = slices.DeleteFunc(slices.Clone(fm.Finalizers), func(f string) bool { return f == api.FinalizerForeground })
		// The store refuses the removal while a blocking dependent is
		// stored (one this cache has not seen yet): its deletion, or
		// the retry, brings the owner back here.
		_, err = c.store.Update(api.WithFinishForeground(ctx), fresh)
		if api.IsConflict(err) {
			c.log.Debug("a foreground deletion still waits", "object", objectKey(obj), "err", err)
			c.queue.AddAfter(objectKey(obj), foregroundRecheck)
			return nil
		}
		if err != nil && !api.IsNotFound(err) {
			return fmt.Errorf("remove the finalizer %s of %s: %w", api.FinalizerForeground, objectKey(obj), err)
		}
		c.log.Debug("finished a foreground deletion", "object", objectKey(obj), "finalizers left", len(fm.Finalizers))
	case len(m.Finalizers) == 0 && (m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds == 0):
		_, err := c.store.Delete(ctx, k, m.Namespace, m.Name, api.DeleteOptions{UID: m.UID})
		if err != nil && !api.IsNotFound(err) && !api.IsConflict(err) {
			return fmt.Errorf("remove %s, being deleted with no finalizer left: %w", objectKey(obj), err)
		}
	}
	return nil
}

// foregroundRecheck is how soon a foreground deletion the store held back
// (a dependent the cache had not seen) is looked at again.
const foregroundRecheck = time.Second

// blockingDependent returns a dependent, in the cache, whose reference to
// the owner with the uid blocks the owner's deletion, or nil.
func (c *garbageCollector) blockingDependent(uid string) api.Object {
	for _, k := range gcKinds() {
		for _, dep := range c.cache.inf.Cache(k).ByOwner(uid) {
			if api.BlocksOwner(dep.GetObjectMeta(), uid) {
				return dep
			}
		}
	}
	return nil
}
