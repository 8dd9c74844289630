package informer

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// View serves the informer's caches with the registry's List and Watch, for
// consumers written as list-then-watch loops (the scheduler, the runner,
// the service proxy, ingress, the pod network, cluster DNS): they keep
// their loops and read the one shared cache instead of a watch of their
// own, so nothing is decoded again for them.
//
// The resourceVersion a List returns is a token: a Watch given it starts
// exactly after that list (a change made in between is told, none twice).
// A Watch given anything else starts with an ADDED event for every present
// object, as the registry does without a resourceVersion; one that comes
// more than a minute after its List answers 410 Gone (the consumer lists
// again), as the list's listener was given up. A View's Watch
// never ends on its own before ctx: the informer re-lists for it when its
// own watch ends, and tells the difference as events.
type View struct {
	inf     *Informer
	filters map[*api.Kind]Filter
	copies  bool

	st *viewState // shared by the Views derived from one another
}

type viewState struct {
	mu      sync.Mutex
	seq     uint64
	pending map[string]*pendingWatch // by token
	// expired holds the tokens whose listener waited too long for its
	// Watch (oldest first, bounded): such a Watch answers 410, and the
	// consumer lists again, as with a registry's version too old.
	expired []string
}

// maxExpired bounds the expired tokens remembered.
const maxExpired = 256

// pendingWatch is a listener registered by a List, waiting for the Watch
// that follows it.
type pendingWatch struct {
	kind *api.Kind
	c    *Cache
	l    *listener
	stop func() bool // the timer that drops it if no Watch comes
}

// unclaimedTTL bounds how long a List's listener waits for its Watch. A
// variable for tests.
var unclaimedTTL = time.Minute

// tokenPrefix marks the resourceVersions a View hands out.
const tokenPrefix = "informer-"

// View returns a View of every object of every kind.
func (inf *Informer) View() *View {
	return &View{inf: inf, filters: map[*api.Kind]Filter{}, st: &viewState{pending: map[string]*pendingWatch{}}}
}

// Narrow returns a View that shows of kind k only what f passes (the
// runner: its node's pods, through the spec.nodeName index).
func (v *View) Narrow(k *api.Kind, f Filter) *View {
	out := *v
	out.filters = make(map[*api.Kind]Filter, len(v.filters)+1)
	for kk, ff := range v.filters {
		out.filters[kk] = ff
	}
	out.filters[k] = f
	return &out
}

// Copies returns a View that hands out private copies, for a consumer that
// changes the objects it reads (and passes them to writes, which change
// their argument). A plain View hands out the shared objects: read them,
// never change them.
func (v *View) Copies() *View {
	out := *v
	out.copies = true
	return &out
}

func (v *View) filter(k *api.Kind, ns string, sel api.Selector) Filter {
	if !k.Namespaced {
		ns = ""
	}
	return v.filters[k].Within(ns, sel)
}

func (v *View) out(obj api.Object) api.Object {
	if v.copies {
		return Copy(obj)
	}
	return obj
}

// List returns the objects of kind k in namespace ns ("" for all) that sel
// matches (and the View's filter passes), once the cache is filled, and
// the token a Watch resumes from.
func (v *View) List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error) {
	c := v.inf.Cache(k)
	if err := c.WaitForSync(ctx); err != nil {
		return nil, "", err
	}
	l, objs := c.listen(v.filter(k, ns, sel), Handler{}, false)
	for i, o := range objs {
		objs[i] = v.out(o)
	}
	st := v.st
	st.mu.Lock()
	st.seq++
	token := tokenPrefix + strconv.FormatUint(st.seq, 10)
	t := time.AfterFunc(unclaimedTTL, func() { v.drop(token, true) })
	st.pending[token] = &pendingWatch{kind: k, c: c, l: l, stop: t.Stop}
	st.mu.Unlock()
	context.AfterFunc(ctx, func() { v.drop(token, false) })
	return objs, token, nil
}

// drop unregisters a List's listener no Watch claimed; expired: it
// waited too long, and its Watch, if it comes, answers 410.
func (v *View) drop(token string, expired bool) {
	v.st.mu.Lock()
	p := v.st.pending[token]
	delete(v.st.pending, token)
	if p != nil && expired {
		if len(v.st.expired) >= maxExpired {
			v.st.expired = v.st.expired[1:]
		}
		v.st.expired = append(v.st.expired, token)
	}
	v.st.mu.Unlock()
	if p != nil {
		p.stop()
		p.c.unlisten(p.l)
	}
}

// claim takes the listener a List registered under token for kind k; it
// fails with a 410 if that listener expired.
func (v *View) claim(token string, k *api.Kind) (*listener, error) {
	v.st.mu.Lock()
	defer v.st.mu.Unlock()
	p := v.st.pending[token]
	if p == nil && slices.Contains(v.st.expired, token) {
		return nil, api.NewGone("resourceVersion " + token + " expired: its watch came over " +
			unclaimedTTL.String() + " after its list; list again")
	}
	if p == nil || p.kind != k {
		return nil, nil
	}
	delete(v.st.pending, token)
	p.stop()
	return p.l, nil
}

// Watch streams the changes of kind k in namespace ns that opts'
// selector matches (and the View's filter passes): after the List that
// returned opts.ResourceVersion, or else from an ADDED event for every
// present object. The channel closes when ctx ends.
func (v *View) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	c := v.inf.Cache(k)
	l, err := v.claim(opts.ResourceVersion, k)
	if err != nil {
		return nil, err
	}
	if l == nil {
		if err := c.WaitForSync(ctx); err != nil {
			return nil, err
		}
		l, _ = c.listen(v.filter(k, ns, opts.LabelSelector), Handler{}, true)
	}
	out := make(chan api.WatchEvent)
	send := func(typ string, obj api.Object) {
		select {
		case out <- api.WatchEvent{Type: typ, Object: v.out(obj)}:
		case <-ctx.Done():
		}
	}
	// Set before the listener runs; only its goroutine reads it.
	l.h = Handler{
		OnAdd:    func(obj api.Object) { send(api.Added, obj) },
		OnUpdate: func(_, obj api.Object) { send(api.Modified, obj) },
		OnDelete: func(obj api.Object) { send(api.Deleted, obj) },
	}
	done := c.runListener(ctx, l)
	go func() {
		<-done
		close(out)
	}()
	return out, nil
}
