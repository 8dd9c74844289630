package registry

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// Watch streams the changes of objects of kind k in namespace ns ("" for all)
// that match the selectors (labels and fields). Without a resourceVersion it
// starts with an ADDED event for every existing object (unless
// opts.NoInitialEvents); with one it replays the changes applied after it
// (or, with opts.InitialEvents, starts from the current state). With
// opts.InitialEventsBookmark the initial events end with a BOOKMARK saying
// so; with opts.Bookmarks an idle watch sends a BOOKMARK at its position
// now and then. A version newer than the store has reached is a 504
// ResourceVersionTooLarge. An object that stops (starts) matching the
// selectors is sent as DELETED (ADDED). The channel closes when ctx ends or the store closes, and
// after an ERROR event (its object a *WatchError, a 410 Expired Status) when
// the watcher fell behind: the watcher lists again and watches anew. The
// objects sent are shared with the other watches (each state is decoded
// once for all of them): read them, never change them.
func (o *Registry) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	ns = nsFor(k, ns)
	tail := k.Resource + "/"
	if k.Namespaced && ns != "" {
		tail += ns + "/"
	}
	var since uint64
	if rv := opts.ResourceVersion; rv != "" && rv != "0" {
		t, _, _ := strings.Cut(rv, ".")
		v, err := strconv.ParseUint(t, 10, 64)
		if err != nil {
			return nil, api.NewBadRequest("resourceVersion: " + strconv.Quote(rv) + " is not a resource version from this API")
		}
		since = v
		if cur := o.st.Stamp(); since > cur {
			return nil, api.NewTooLargeResourceVersion(rv, strconv.FormatUint(cur, 10))
		}
	}
	// A watch asked for the initial state gets the current one whatever
	// version it names: shoal keeps no older states, and the current one
	// is not older than any version it handed out.
	if opts.InitialEvents {
		since = 0
	}
	sub, snap, err := o.st.Subscribe([]string{specPrefix + tail, statusPrefix + tail}, since, since == 0 && !opts.NoInitialEvents)
	if errors.Is(err, gossip.ErrStampTooOld) {
		return nil, api.NewGone("too old resource version: " + opts.ResourceVersion + "; list again and watch from the list's resourceVersion")
	}
	if err != nil {
		return nil, api.NewInternal(err)
	}
	w := &watcher{o: o, k: k, sel: opts, out: make(chan api.WatchEvent), matched: map[string]bool{},
		stats: o.watchStatsOf(k), initialBookmark: opts.InitialEventsBookmark, bookmarks: opts.Bookmarks,
		knowsAll: since == 0 && !opts.NoInitialEvents, idle: bookmarkIdle}
	w.stats.open.Add(1)
	go w.run(ctx, sub, snap)
	return w.out, nil
}

type watcher struct {
	o       *Registry
	k       *api.Kind
	sel     api.ListOptions // its label and field selectors
	out     chan api.WatchEvent
	matched map[string]bool // with a selector: the objects whose last state sent matched it
	// knowsAll: the watch began with the whole state (initial events), so
	// with a selector an object not in matched was never sent; a watch
	// resumed from a version guesses what its client holds (the hint).
	knowsAll bool
	// idle is bookmarkIdle when the watch began (tests shorten it).
	idle  time.Duration
	stats *kindWatchStats
	// initialBookmark: end the initial events with a BOOKMARK saying so.
	initialBookmark bool
	// bookmarks: send a BOOKMARK with the current position when idle.
	bookmarks bool
}

// bookmarkIdle is how long a watch that asked for bookmarks waits without
// a change before it sends one (Kubernetes sends them about once a minute;
// sooner keeps a client's resume point fresh on a busy store whose other
// kinds change).
var bookmarkIdle = 10 * time.Second

// bookmark sends a BOOKMARK at stamp: an object of the kind holding only
// the resourceVersion (and, ending the initial events, the annotation
// that says so).
func (w *watcher) bookmark(ctx context.Context, stamp uint64, initialEnd bool) bool {
	obj := w.k.NewObject()
	setTypeMeta(w.k, obj)
	m := obj.GetObjectMeta()
	m.ResourceVersion = strconv.FormatUint(stamp, 10)
	if initialEnd {
		m.Annotations = map[string]string{api.InitialEventsEndAnnotation: "true"}
	}
	select {
	case w.out <- api.WatchEvent{Type: api.Bookmark, Object: obj}:
		return true
	case <-ctx.Done():
		return false
	}
}

// decode decodes an object for the watcher, counted; the result is
// private to it.
func (w *watcher) decode(spec, status *gossip.Record) (api.Object, error) {
	w.stats.decodes.Add(1)
	return decode(w.k, spec, status)
}

// decodeShared decodes an object once for every watcher that sends this
// state of it (the decoded object is shared: nobody may change it).
func (w *watcher) decodeShared(spec, status *gossip.Record) (api.Object, error) {
	key := memoKey{w.k, spec, status}
	if obj, ok := w.o.decodes.get(key); ok {
		return obj, nil
	}
	obj, err := w.decode(spec, status)
	if err == nil {
		w.o.decodes.put(key, obj)
	}
	return obj, err
}

// memoKey names one state of an object: records are never changed in
// place, so the pair of pointers names one encoding.
type memoKey struct {
	k            *api.Kind
	spec, status *gossip.Record
}

// decodeMemo keeps the objects decoded for watches most recently, so that
// many watchers of a kind decode each change once between them.
type decodeMemo struct {
	mu    sync.Mutex
	objs  map[memoKey]api.Object
	order []memoKey // oldest first
}

// memoSize bounds the objects kept: enough for watchers a little apart.
const memoSize = 1024

func (m *decodeMemo) get(key memoKey) (api.Object, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	obj, ok := m.objs[key]
	return obj, ok
}

func (m *decodeMemo) put(key memoKey, obj api.Object) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.objs == nil {
		m.objs = make(map[memoKey]api.Object, memoSize)
	}
	if _, ok := m.objs[key]; ok {
		return
	}
	if len(m.order) >= memoSize {
		delete(m.objs, m.order[0])
		m.order = m.order[1:]
	}
	m.objs[key] = obj
	m.order = append(m.order, key)
}

// kindWatchStats are the counters of one kind's watches.
type kindWatchStats struct {
	open    atomic.Int64
	decodes atomic.Uint64
}

func (o *Registry) watchStatsOf(k *api.Kind) *kindWatchStats {
	if s, ok := o.watchStats.Load(k.Resource); ok {
		return s.(*kindWatchStats)
	}
	s, _ := o.watchStats.LoadOrStore(k.Resource, &kindWatchStats{})
	return s.(*kindWatchStats)
}

// WatchStats counts one kind's watches.
type WatchStats struct {
	Open    int64  `json:"open"`    // watches open now
	Decodes uint64 `json:"decodes"` // objects decoded for watches, since the start
}

// WatchStats returns the counters of the watches of every kind watched
// since the start, by resource name: with the agent's one informer, each
// change of a kind nobody else watches is decoded once.
func (o *Registry) WatchStats() map[string]WatchStats {
	out := map[string]WatchStats{}
	o.watchStats.Range(func(k, v any) bool {
		s := v.(*kindWatchStats)
		out[k.(string)] = WatchStats{Open: s.open.Load(), Decodes: s.decodes.Load()}
		return true
	})
	return out
}

func (w *watcher) run(ctx context.Context, sub *gossip.Subscription, snap []*gossip.Record) {
	defer close(w.out)
	defer sub.Cancel()
	defer w.stats.open.Add(-1)
	for _, r := range snap {
		if !strings.HasPrefix(r.Key, specPrefix) {
			continue
		}
		obj, err := w.decodeShared(r, w.o.st.Get(statusPrefix+r.Key[len(specPrefix):]))
		if err != nil {
			continue
		}
		if !w.emit(ctx, r.Key[len(specPrefix):], obj, false, false) {
			return
		}
	}
	if w.initialBookmark && !w.bookmark(ctx, sub.Start(), true) {
		return
	}
	for {
		changes, err := w.next(ctx, sub)
		if errors.Is(err, errIdle) {
			if !w.bookmark(ctx, sub.Position(), false) {
				return
			}
			continue
		}
		if errors.Is(err, gossip.ErrSubscriptionOverflow) {
			// As Kubernetes does for a position it no longer has: an ERROR
			// event with a 410, after which clients list again.
			w.fail(ctx, api.NewGone("the watch fell behind the changes of "+w.k.Resource+
				" and was closed; list again and watch from the list's resourceVersion"))
			return
		}
		if err != nil {
			return
		}
		for _, ch := range changes {
			if !w.handle(ctx, ch) {
				return
			}
		}
	}
}

// errIdle: no change came within bookmarkIdle.
var errIdle = errors.New("idle")

// next waits for the next changes; a watcher that sends bookmarks waits
// at most bookmarkIdle, then answers errIdle.
func (w *watcher) next(ctx context.Context, sub *gossip.Subscription) ([]gossip.Change, error) {
	if !w.bookmarks {
		return sub.Next(ctx)
	}
	nctx, cancel := context.WithTimeout(ctx, w.idle)
	defer cancel()
	changes, err := sub.Next(nctx)
	if err != nil && ctx.Err() == nil && nctx.Err() != nil {
		return nil, errIdle
	}
	return changes, err
}

// handle turns one record change into at most one watch event, decoding
// the object once (and the previous spec only when a selector needs it).
func (w *watcher) handle(ctx context.Context, ch gossip.Change) bool {
	key := ch.New.Key
	var id string
	var obj api.Object
	var err error
	wasHint := false
	switch {
	case strings.HasPrefix(key, specPrefix):
		id = key[len(specPrefix):]
		status := w.o.st.Get(statusPrefix + id)
		if ch.New.Deleted {
			if ch.Old == nil || ch.Old.Deleted {
				return true
			}
			obj, err := w.decode(ch.Old, status)
			if err != nil {
				return true
			}
			obj.GetObjectMeta().ResourceVersion = strconv.FormatUint(ch.New.Version.Time, 10)
			return w.emit(ctx, id, obj, true, w.sel.Matches(obj))
		}
		if obj, err = w.decodeShared(ch.New, status); err != nil {
			return true
		}
		// What the watcher saw before, for objects it has not seen yet (a
		// watch resumed from a resourceVersion): the previous spec, with
		// today's status (status fields are judged by the current one).
		if ch.Old != nil && !ch.Old.Deleted {
			wasHint = !w.sel.Selects()
			if !wasHint {
				if old, err := w.decode(ch.Old, status); err == nil {
					wasHint = w.sel.Matches(old)
				}
			}
		}
	case strings.HasPrefix(key, statusPrefix):
		id = key[len(statusPrefix):]
		spec, status := w.o.st.Get(specPrefix+id), ch.New
		if spec == nil || spec.Deleted || status.Deleted {
			return true
		}
		// A status a newer one replaced before this watcher got to it has
		// been shown already (a spec change is sent with the status of the
		// moment) or will be (the newer status's own change follows): sent
		// now, it would take the object back in time.
		if w.o.st.Get(statusPrefix+id) != status {
			return true
		}
		// A status record for another incarnation changes nothing visible.
		if obj, err = w.decodeShared(spec, status); err != nil || !w.statusApplies(obj, status) {
			return true
		}
		wasHint = w.sel.Matches(obj)
		if !w.sel.FieldSelector.Empty() {
			// A field selector may look at the status: judge the previous
			// state with the previous status.
			var prev *gossip.Record
			if ch.Old != nil && !ch.Old.Deleted {
				prev = ch.Old
			}
			if old, err := w.decode(spec, prev); err == nil {
				wasHint = w.sel.Matches(old)
			}
		}
	default:
		return true
	}
	return w.emit(ctx, id, obj, false, wasHint)
}

// statusApplies: decode counts the status in the resourceVersion only when
// its uid matches the object's.
func (w *watcher) statusApplies(obj api.Object, status *gossip.Record) bool {
	return status.Version.Time <= parseRV(obj.GetObjectMeta().ResourceVersion)
}

// parseRV reads the version time of a resourceVersion (a merged object's
// carries a content sum after a dot).
func parseRV(rv string) uint64 {
	t, _, _ := strings.Cut(rv, ".")
	v, _ := strconv.ParseUint(t, 10, 64)
	return v
}

// emit sends the event for an object's new state, translating selector
// matches into ADDED/MODIFIED/DELETED as the watcher sees them.
func (w *watcher) emit(ctx context.Context, id string, obj api.Object, deleted, wasHint bool) bool {
	// Without a selector every live object matches: whether the watcher
	// saw it is whether it existed before this change (the hint), and
	// nothing is kept per object (a watcher of 10,000 objects costs no
	// more than one of ten).
	was, known := wasHint, true
	if w.sel.Selects() {
		was, known = w.matched[id]
		if !known && !w.knowsAll {
			was = wasHint
		}
	}
	now := !deleted && w.sel.Matches(obj)
	var typ string
	switch {
	case deleted && was, was && !now:
		typ = api.Deleted
		delete(w.matched, id)
	case !was && now:
		typ = api.Added
		if w.sel.Selects() {
			w.matched[id] = true
		}
	case was && now:
		typ = api.Modified
	default:
		return true
	}
	select {
	case w.out <- api.WatchEvent{Type: typ, Object: obj}:
		return true
	case <-ctx.Done():
		return false
	}
}

// fail sends the ERROR event that ends a watch.
func (w *watcher) fail(ctx context.Context, se *api.StatusError) {
	select {
	case w.out <- api.WatchEvent{Type: api.Error, Object: &WatchError{Status: se.ErrStatus}}:
	case <-ctx.Done():
	}
}

// WatchError is the object of an ERROR watch event: a Status, encoded as
// Kubernetes encodes it in a watch stream ({"kind":"Status",...}).
type WatchError struct {
	api.ObjectMeta `json:"-"`
	api.Status
}

func (e *WatchError) Error() string { return e.Message }

// Unwrap returns the Status as an *api.StatusError (api.IsGone works).
func (e *WatchError) Unwrap() error { return &api.StatusError{ErrStatus: e.Status} }
