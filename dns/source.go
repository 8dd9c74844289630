package dns

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Source is the replicated cluster state: the List and Watch methods of
// registry.Registry. Watch with the resourceVersion of a List streams the
// changes after it; the channel closes when ctx ends or the store closes.
type Source interface {
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
}

// Run follows src until ctx ends or the server shuts down: it lists
// Services, Endpoints and Pods, serves their zone, then applies their
// watches. Changes are rebuilt at most once per RebuildInterval; changes
// that name nothing (a pod's restart count) cause no rebuild at all. When a
// watch fails, Run lists again and keeps serving the last zone meanwhile.
func (s *Server) Run(ctx context.Context, src Source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	backoff := 100 * time.Millisecond
	failing := false
	for {
		synced, err := s.follow(ctx, src)
		if ctx.Err() != nil {
			return nil
		}
		if synced {
			backoff = 100 * time.Millisecond
		}
		if !failing || synced {
			s.log.Warn("following the cluster state failed; listing again", "error", err, "retry_in", backoff)
		}
		failing = !synced
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// watchedKinds are the kinds the zone is built from, and the Nodes, whose
// addresses may have names outside the cluster resolved.
var watchedKinds = [...]*api.Kind{api.KindService, api.KindEndpoints, api.KindPod, api.KindNode}

// follow lists, publishes and then applies watch events until one watch
// fails. synced reports that the list succeeded.
func (s *Server) follow(ctx context.Context, src Source) (synced bool, err error) {
	ctx, cancel := context.WithCancel(ctx) // ends the watches when we return
	defer cancel()
	st := newState()
	var rvs [len(watchedKinds)]string
	for i, k := range watchedKinds {
		objs, rv, err := src.List(ctx, k, "", nil)
		if err != nil {
			return false, fmt.Errorf("dns: list %s: %w", k.Resource, err)
		}
		for _, o := range objs {
			st.apply(api.Added, o)
			st.applyNode(api.Added, o)
		}
		rvs[i] = rv
	}
	var chans [len(watchedKinds)]<-chan api.WatchEvent
	for i, k := range watchedKinds {
		ch, err := src.Watch(ctx, k, "", api.ListOptions{ResourceVersion: rvs[i]})
		if err != nil {
			return false, fmt.Errorf("dns: watch %s: %w", k.Resource, err)
		}
		chans[i] = ch
	}
	s.policy.setNodes(st.nodeAddrs())
	s.publish(st.objects())
	last := time.Now()

	timer := time.NewTimer(0)
	timer.Stop()
	defer timer.Stop()
	armed := false
	for {
		var ev api.WatchEvent
		var ok bool
		var k *api.Kind
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-timer.C:
			armed = false
			s.publish(st.objects())
			last = time.Now()
			continue
		case ev, ok = <-chans[0]:
			k = watchedKinds[0]
		case ev, ok = <-chans[1]:
			k = watchedKinds[1]
		case ev, ok = <-chans[2]:
			k = watchedKinds[2]
		case ev, ok = <-chans[3]:
			k = watchedKinds[3]
		}
		if !ok {
			return true, fmt.Errorf("%w: %s", ErrWatchClosed, k.Resource)
		}
		if ev.Type == api.Error {
			return true, fmt.Errorf("dns: watch %s: error event: %v", k.Resource, ev.Object)
		}
		if st.applyNode(ev.Type, ev.Object) {
			s.policy.setNodes(st.nodeAddrs()) // at once: no zone to build
		}
		if st.apply(ev.Type, ev.Object) && !armed {
			// The first change after a quiet spell is built at once; a
			// burst waits for the interval since the last build.
			timer.Reset(max(0, s.cfg.RebuildInterval-time.Since(last)))
			armed = true
		}
	}
}

// state is the reduced objects being followed.
type state struct {
	services  map[string]service
	endpoints map[string]endpoints
	pods      map[string]pod
	nodes     map[string][]netip.Addr // by node name: its addresses, sorted
}

func newState() *state {
	return &state{services: map[string]service{}, endpoints: map[string]endpoints{}, pods: map[string]pod{},
		nodes: map[string][]netip.Addr{}}
}

// applyNode records a Node's addresses and reports whether they changed;
// a Node's heartbeats and conditions change nothing here.
func (st *state) applyNode(typ string, obj api.Object) bool {
	n, ok := obj.(*api.Node)
	if !ok || n == nil {
		return false
	}
	return update(st.nodes, n.Name, nodeAddrs(n), typ != api.Deleted, slices.Equal[[]netip.Addr])
}

func (st *state) nodeAddrs() map[netip.Addr]struct{} {
	out := map[netip.Addr]struct{}{}
	for _, addrs := range st.nodes {
		for _, a := range addrs {
			out[a] = struct{}{}
		}
	}
	return out
}

// apply records one event and reports whether it changed anything the
// zone is built from.
func (st *state) apply(typ string, obj api.Object) bool {
	if obj == nil {
		return false
	}
	m := obj.GetObjectMeta()
	k := key(m.Namespace, m.Name)
	del := typ == api.Deleted
	switch o := obj.(type) {
	case *api.Service:
		r, ok := reduceService(o)
		return update(st.services, k, r, ok && !del, service.equal)
	case *api.Endpoints:
		r, ok := reduceEndpoints(o)
		return update(st.endpoints, k, r, ok && !del, endpoints.equal)
	case *api.Pod:
		r, ok := reducePod(o)
		return update(st.pods, k, r, ok && !del, pod.equal)
	}
	return false
}

// update stores v under k, or removes k when !keep, and reports a change.
func update[V any](m map[string]V, k string, v V, keep bool, eq func(V, V) bool) bool {
	old, had := m[k]
	if !keep {
		delete(m, k)
		return had
	}
	m[k] = v
	return !had || !eq(old, v)
}

func (st *state) objects() objects {
	o := objects{endpoints: st.endpoints}
	o.services = make([]service, 0, len(st.services))
	for _, s := range st.services {
		o.services = append(o.services, s)
	}
	o.pods = make([]pod, 0, len(st.pods))
	for _, p := range st.pods {
		o.pods = append(o.pods, p)
	}
	return o
}
