package ingress

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/shoal-dev/shoal/api"
)

// fakeSource is an in-memory Source with resource versions: Watch replays
// the changes after the version List returned, as registry.Registry does.
type fakeSource struct {
	mu       sync.Mutex
	seq      int
	objs     map[*api.Kind]map[string]api.Object
	history  []fakeChange
	watchers map[*fakeWatch]bool
	listErr  map[*api.Kind]error
	lists    map[*api.Kind]int
}

type fakeChange struct {
	seq  int
	kind *api.Kind
	ev   api.WatchEvent
}

type fakeWatch struct {
	kind *api.Kind
	ch   chan api.WatchEvent
}

var _ Source = (*fakeSource)(nil)

func newFakeSource(objs ...api.Object) *fakeSource {
	s := &fakeSource{
		objs:     map[*api.Kind]map[string]api.Object{},
		watchers: map[*fakeWatch]bool{},
		listErr:  map[*api.Kind]error{},
		lists:    map[*api.Kind]int{},
	}
	for _, o := range objs {
		s.put(o)
	}
	return s
}

func (s *fakeSource) List(_ context.Context, k *api.Kind, _ string, _ api.Selector) ([]api.Object, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists[k]++
	if err := s.listErr[k]; err != nil {
		return nil, "", err
	}
	var out []api.Object
	for _, o := range s.objs[k] {
		out = append(out, o)
	}
	return out, strconv.Itoa(s.seq), nil
}

func (s *fakeSource) Watch(ctx context.Context, k *api.Kind, _ string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	since, err := strconv.Atoi(opts.ResourceVersion)
	if err != nil {
		return nil, fmt.Errorf("fake: resourceVersion %q: %w", opts.ResourceVersion, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &fakeWatch{kind: k, ch: make(chan api.WatchEvent, 1024)}
	for _, c := range s.history {
		if c.seq > since && c.kind == k {
			w.ch <- c.ev
		}
	}
	s.watchers[w] = true
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.drop(w)
	}()
	return w.ch, nil
}

// drop ends a watch; the caller holds mu.
func (s *fakeSource) drop(w *fakeWatch) {
	if s.watchers[w] {
		delete(s.watchers, w)
		close(w.ch)
	}
}

// breakWatches ends every watch, as a closing store would.
func (s *fakeSource) breakWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		s.drop(w)
	}
}

func (s *fakeSource) put(o api.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := api.KindOf(o)
	if s.objs[k] == nil {
		s.objs[k] = map[string]api.Object{}
	}
	typ := api.Modified
	if _, ok := s.objs[k][keyOf(o)]; !ok {
		typ = api.Added
	}
	s.objs[k][keyOf(o)] = o
	s.record(k, api.WatchEvent{Type: typ, Object: o})
}

func (s *fakeSource) del(o api.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := api.KindOf(o)
	delete(s.objs[k], keyOf(o))
	s.record(k, api.WatchEvent{Type: api.Deleted, Object: o})
}

// record keeps the change and sends it to the watches; the caller holds mu.
func (s *fakeSource) record(k *api.Kind, ev api.WatchEvent) {
	s.seq++
	s.history = append(s.history, fakeChange{seq: s.seq, kind: k, ev: ev})
	for w := range s.watchers {
		if w.kind != k {
			continue
		}
		select {
		case w.ch <- ev:
		default:
			panic("fake source: watch buffer full")
		}
	}
}

func (s *fakeSource) setListErr(k *api.Kind, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listErr[k] = err
}

func (s *fakeSource) listCount(k *api.Kind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists[k]
}

func (s *fakeSource) watchCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}

// sendError sends an ERROR event to the watches of k.
func (s *fakeSource) sendError(k *api.Kind) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for w := range s.watchers {
		if w.kind == k {
			w.ch <- api.WatchEvent{Type: api.Error}
		}
	}
}
