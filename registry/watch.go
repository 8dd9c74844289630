package registry

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// Watch streams the changes of objects of kind k in namespace ns ("" for all)
// that match the selector. Without a resourceVersion it starts with an ADDED
// event for every existing object; with one it replays the changes applied
// after it. An object that stops (starts) matching the selector is sent as
// DELETED (ADDED). The channel closes when ctx ends or the store closes, and
// after an ERROR event (its object a *WatchError, a 410 Expired Status) when
// the watcher fell behind: the watcher lists again and watches anew.
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
	}
	sub, snap, err := o.st.Subscribe([]string{specPrefix + tail, statusPrefix + tail}, since, since == 0)
	if errors.Is(err, gossip.ErrStampTooOld) {
		return nil, api.NewGone("too old resource version: " + opts.ResourceVersion + "; list again and watch from the list's resourceVersion")
	}
	if err != nil {
		return nil, api.NewInternal(err)
	}
	w := &watcher{o: o, k: k, sel: opts.LabelSelector, out: make(chan api.WatchEvent), matched: map[string]bool{}}
	go w.run(ctx, sub, snap)
	return w.out, nil
}

type watcher struct {
	o       *Registry
	k       *api.Kind
	sel     api.Selector
	out     chan api.WatchEvent
	matched map[string]bool // object key -> whether the last state sent matched the selector
}

func (w *watcher) run(ctx context.Context, sub *gossip.Subscription, snap []*gossip.Record) {
	defer close(w.out)
	defer sub.Cancel()
	for _, r := range snap {
		if !strings.HasPrefix(r.Key, specPrefix) {
			continue
		}
		obj, err := decode(w.k, r, w.o.st.Get(statusPrefix+r.Key[len(specPrefix):]))
		if err != nil {
			continue
		}
		if !w.emit(ctx, r.Key[len(specPrefix):], obj, false, false) {
			return
		}
	}
	for {
		changes, err := sub.Next(ctx)
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

// handle turns one record change into at most one watch event.
func (w *watcher) handle(ctx context.Context, ch gossip.Change) bool {
	key := ch.New.Key
	var id string
	var spec, status *gossip.Record
	switch {
	case strings.HasPrefix(key, specPrefix):
		id = key[len(specPrefix):]
		spec, status = ch.New, w.o.st.Get(statusPrefix+id)
		if spec.Deleted {
			if ch.Old == nil || ch.Old.Deleted {
				return true
			}
			obj, err := decode(w.k, ch.Old, status)
			if err != nil {
				return true
			}
			obj.GetObjectMeta().ResourceVersion = strconv.FormatUint(ch.New.Version.Time, 10)
			return w.emit(ctx, id, obj, true, w.sel.Matches(obj.GetObjectMeta().Labels))
		}
	case strings.HasPrefix(key, statusPrefix):
		id = key[len(statusPrefix):]
		spec, status = w.o.st.Get(specPrefix+id), ch.New
		if spec == nil || spec.Deleted || status.Deleted {
			return true
		}
		// A status record for another incarnation changes nothing visible.
		if obj, err := decode(w.k, spec, status); err != nil || !w.statusApplies(obj, status) {
			return true
		}
	default:
		return true
	}
	obj, err := decode(w.k, spec, status)
	if err != nil {
		return true
	}
	// What the watcher saw before, for objects it has not seen yet (a watch
	// resumed from a resourceVersion): the previous spec's labels.
	wasHint := false
	if ch.New == spec {
		if ch.Old != nil && !ch.Old.Deleted {
			if old, err := decode(w.k, ch.Old, nil); err == nil {
				wasHint = w.sel.Matches(old.GetObjectMeta().Labels)
			}
		}
	} else {
		wasHint = w.sel.Matches(obj.GetObjectMeta().Labels)
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
	was, known := w.matched[id]
	if !known {
		was = wasHint
	}
	now := !deleted && w.sel.Matches(obj.GetObjectMeta().Labels)
	var typ string
	switch {
	case deleted && was, was && !now:
		typ = api.Deleted
		delete(w.matched, id)
	case !was && now:
		typ = api.Added
		w.matched[id] = true
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
