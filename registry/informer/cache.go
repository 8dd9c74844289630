package informer

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"sort"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// index names one way of looking objects up.
type index int

const (
	byNamespace index = iota // metadata.namespace
	byOwner                  // the uid of each ownerReference
	byNode                   // a pod's spec.nodeName ("" while unbound)
	byLabel                  // "namespace/key=value" of each label
	numIndexes
)

// item is one cached object with the index values it was filed under.
type item struct {
	key  string // namespace/name
	obj  api.Object
	vals [numIndexes][]string
	enc  []byte // the object's encoding when cached (Options.CheckMutations)
}

func indexValues(obj api.Object) [numIndexes][]string {
	var v [numIndexes][]string
	m := obj.GetObjectMeta()
	v[byNamespace] = []string{m.Namespace}
	for _, r := range m.OwnerReferences {
		v[byOwner] = append(v[byOwner], r.UID)
	}
	if p, ok := obj.(*api.Pod); ok {
		v[byNode] = []string{p.Spec.NodeName}
	}
	for k, val := range m.Labels {
		v[byLabel] = append(v[byLabel], labelValue(m.Namespace, k, val))
	}
	return v
}

func labelValue(ns, k, v string) string { return ns + "/" + k + "=" + v }

func keyOf(obj api.Object) string {
	m := obj.GetObjectMeta()
	return m.Namespace + "/" + m.Name
}

// Cache holds the objects of one kind. Every object it returns is shared
// with the other consumers: read it, never change it (Copy it first).
type Cache struct {
	inf  *Informer
	kind *api.Kind

	mu        sync.RWMutex
	items     map[string]*item
	index     [numIndexes]map[string]map[string]*item // index -> value -> key -> item
	listeners map[*listener]struct{}
	synced    bool
	syncedCh  chan struct{}
	events    uint64
	relists   uint64
}

func newCache(inf *Informer, k *api.Kind) *Cache {
	c := &Cache{inf: inf, kind: k, items: map[string]*item{}, listeners: map[*listener]struct{}{},
		syncedCh: make(chan struct{})}
	for i := range c.index {
		c.index[i] = map[string]map[string]*item{}
	}
	return c
}

// Kind is the kind of the cached objects.
func (c *Cache) Kind() *api.Kind { return c.kind }

// HasSynced reports whether the cache has been filled by a first list.
func (c *Cache) HasSynced() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.synced
}

// WaitForSync waits until the cache has been filled by a first list, or ctx
// ends.
func (c *Cache) WaitForSync(ctx context.Context) error {
	select {
	case <-c.syncedCh:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Get returns the object ns/name (ns is ignored for a cluster-scoped kind).
func (c *Cache) Get(ns, name string) (api.Object, bool) {
	if !c.kind.Namespaced {
		ns = ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	it := c.items[ns+"/"+name]
	if it == nil {
		return nil, false
	}
	return it.obj, true
}

// Len returns how many objects are cached.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}

// List returns the objects in namespace ns ("" for all) that match sel,
// sorted by namespace and name. Within a namespace, a selector with an
// equality or "in" requirement is answered from the label index, looking
// only at the objects that carry the rarest of its labels.
func (c *Cache) List(ns string, sel api.Selector) []api.Object {
	if !c.kind.Namespaced {
		ns = ""
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []api.Object
	add := func(it *item) {
		if (ns == "" || it.obj.GetObjectMeta().Namespace == ns) && sel.Matches(it.obj.GetObjectMeta().Labels) {
			out = append(out, it.obj)
		}
	}
	switch cands, ok := c.labelCandidates(ns, sel); {
	case ok:
		for _, set := range cands {
			for _, it := range set {
				add(it)
			}
		}
	case ns != "":
		for _, it := range c.index[byNamespace][ns] {
			add(it)
		}
	default:
		for _, it := range c.items {
			add(it)
		}
	}
	sortObjects(out)
	return out
}

// labelCandidates returns the index sets holding every object of ns that
// can match sel, if sel has a requirement the label index answers: the one
// whose sets are the smallest.
func (c *Cache) labelCandidates(ns string, sel api.Selector) ([]map[string]*item, bool) {
	if ns == "" && c.kind.Namespaced {
		return nil, false
	}
	var best []map[string]*item
	bestSize, found := 0, false
	for _, r := range sel {
		switch r.Operator {
		case "=", "==", api.OpIn:
		default:
			continue
		}
		var sets []map[string]*item
		size := 0
		for _, v := range r.Values {
			if s := c.index[byLabel][labelValue(ns, r.Key, v)]; len(s) > 0 {
				sets = append(sets, s)
				size += len(s)
			}
		}
		if !found || size < bestSize {
			best, bestSize, found = sets, size, true
		}
	}
	return best, found
}

// ByOwner returns the objects with an ownerReference naming uid, sorted.
func (c *Cache) ByOwner(uid string) []api.Object { return c.byIndex(byOwner, uid) }

// ByNode returns the pods whose spec.nodeName is node ("" for the pods not
// bound yet), sorted.
func (c *Cache) ByNode(node string) []api.Object { return c.byIndex(byNode, node) }

func (c *Cache) byIndex(ix index, v string) []api.Object {
	c.mu.RLock()
	defer c.mu.RUnlock()
	set := c.index[ix][v]
	out := make([]api.Object, 0, len(set))
	for _, it := range set {
		out = append(out, it.obj)
	}
	sortObjects(out)
	return out
}

func sortObjects(objs []api.Object) {
	sort.Slice(objs, func(i, j int) bool {
		a, b := objs[i].GetObjectMeta(), objs[j].GetObjectMeta()
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
}

// apply takes one watch event in.
func (c *Cache) apply(ev api.WatchEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events++
	switch ev.Type {
	case api.Added, api.Modified:
		// A change the list already brought (a watch replays from the
		// list's version) tells nothing new.
		if it := c.items[keyOf(ev.Object)]; it == nil || !sameObject(it.obj, ev.Object) {
			c.setLocked(ev.Object)
		}
	case api.Deleted:
		if it := c.items[keyOf(ev.Object)]; it != nil && it.obj.GetObjectMeta().UID == ev.Object.GetObjectMeta().UID {
			c.removeLocked(it, ev.Object)
		}
	}
}

// replace makes the cache hold exactly objs (a fresh list) and tells the
// listeners the difference: what is gone as deletes, what changed as
// updates.
func (c *Cache) replace(objs []api.Object, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !first {
		c.relists++
	}
	listed := make(map[string]api.Object, len(objs))
	for _, o := range objs {
		listed[keyOf(o)] = o
	}
	for key, it := range c.items {
		if _, ok := listed[key]; !ok {
			c.removeLocked(it, it.obj)
		}
	}
	for _, o := range objs {
		if it := c.items[keyOf(o)]; it != nil && sameObject(it.obj, o) {
			continue
		}
		c.setLocked(o)
	}
	if !c.synced {
		c.synced = true
		close(c.syncedCh)
		for l := range c.listeners {
			l.pushSynced()
		}
	}
}

// sameObject: a relist brought the state already cached.
func sameObject(a, b api.Object) bool {
	ma, mb := a.GetObjectMeta(), b.GetObjectMeta()
	if ma.UID != mb.UID || ma.ResourceVersion != mb.ResourceVersion {
		return false
	}
	// Equal versions, but what the source adds (a Node's Ready condition
	// from membership) may have moved.
	return reflect.DeepEqual(a, b)
}

// setLocked caches obj and tells the listeners; an object of the same name
// with another uid is a delete of the old one first.
func (c *Cache) setLocked(obj api.Object) {
	key := keyOf(obj)
	old := c.items[key]
	if old != nil && old.obj.GetObjectMeta().UID != obj.GetObjectMeta().UID {
		c.removeLocked(old, old.obj)
		old = nil
	}
	it := &item{key: key, obj: obj, vals: indexValues(obj)}
	if c.inf.mutated != nil {
		it.enc, _ = json.Marshal(obj)
	}
	if old != nil {
		c.verify(old)
		c.unindex(old)
	}
	c.items[key] = it
	c.indexItem(it)
	for l := range c.listeners {
		l.change(old, it)
	}
}

// removeLocked drops it; last is the object's final state (a delete event
// carries it), told to the listeners.
func (c *Cache) removeLocked(it *item, last api.Object) {
	c.verify(it)
	c.unindex(it)
	delete(c.items, it.key)
	gone := it
	if last != it.obj {
		gone = &item{key: it.key, obj: last, vals: indexValues(last)}
	}
	for l := range c.listeners {
		l.remove(it, gone)
	}
}

func (c *Cache) indexItem(it *item) {
	for ix, vals := range it.vals {
		for _, v := range vals {
			set := c.index[ix][v]
			if set == nil {
				set = map[string]*item{}
				c.index[ix][v] = set
			}
			set[it.key] = it
		}
	}
}

func (c *Cache) unindex(it *item) {
	for ix, vals := range it.vals {
		for _, v := range vals {
			if set := c.index[ix][v]; set != nil {
				delete(set, it.key)
				if len(set) == 0 {
					delete(c.index[ix], v)
				}
			}
		}
	}
}

// verify compares a cached object with its encoding when it was cached.
func (c *Cache) verify(it *item) {
	if c.inf.mutated == nil || it.enc == nil {
		return
	}
	now, _ := json.Marshal(it.obj)
	if !bytes.Equal(now, it.enc) {
		c.inf.mutated.add(c.kind.Kind + " " + it.key)
		c.inf.opts.Log.Error("a consumer changed a shared object of the informer; copy objects before changing them",
			"kind", c.kind.Kind, "object", it.key)
		it.enc = now // report each change once
	}
}

func (c *Cache) verifyAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range c.items {
		c.verify(it)
	}
}

func (c *Cache) stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := Stats{Objects: len(c.items), Events: c.events, Relists: c.relists, Listeners: len(c.listeners)}
	for l := range c.listeners {
		s.Pending += l.pendingLen()
	}
	return s
}
