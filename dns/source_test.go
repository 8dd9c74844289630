package dns

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// fakeSource is a Source over objects in memory: List gives them, Watch
// streams what send changes after that, like registry.Registry does.
type fakeSource struct {
	mu       sync.Mutex
	objs     map[*api.Kind]map[string]api.Object
	rv       int
	watchers map[*api.Kind][]chan api.WatchEvent
	lists    atomic.Int32
	listErr  error
}

var _ Source = (*fakeSource)(nil)

func newFakeSource(snap Snapshot) *fakeSource {
	f := &fakeSource{objs: map[*api.Kind]map[string]api.Object{}, watchers: map[*api.Kind][]chan api.WatchEvent{}}
	for _, k := range watchedKinds {
		f.objs[k] = map[string]api.Object{}
	}
	for _, o := range snap.Services {
		f.objs[api.KindService][key(o.Namespace, o.Name)] = o
	}
	for _, o := range snap.Endpoints {
		f.objs[api.KindEndpoints][key(o.Namespace, o.Name)] = o
	}
	for _, o := range snap.Pods {
		f.objs[api.KindPod][key(o.Namespace, o.Name)] = o
	}
	return f
}

func (f *fakeSource) List(_ context.Context, k *api.Kind, _ string, _ api.Selector) ([]api.Object, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists.Add(1)
	if f.listErr != nil {
		return nil, "", f.listErr
	}
	var out []api.Object
	for _, o := range f.objs[k] {
		out = append(out, o)
	}
	return out, strconv.Itoa(f.rv), nil
}

func (f *fakeSource) Watch(ctx context.Context, k *api.Kind, _ string, _ api.ListOptions) (<-chan api.WatchEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan api.WatchEvent, 10000)
	f.watchers[k] = append(f.watchers[k], ch)
	context.AfterFunc(ctx, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if i := slices.Index(f.watchers[k], ch); i >= 0 {
			f.watchers[k] = slices.Delete(f.watchers[k], i, i+1)
			close(ch)
		}
	})
	return ch, nil
}

// send changes an object and tells the watchers.
func (f *fakeSource) send(typ string, o api.Object) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := api.KindOf(o)
	m := o.GetObjectMeta()
	if typ == api.Deleted {
		delete(f.objs[k], key(m.Namespace, m.Name))
	} else {
		f.objs[k][key(m.Namespace, m.Name)] = o
	}
	f.rv++
	for _, ch := range f.watchers[k] {
		ch <- api.WatchEvent{Type: typ, Object: o}
	}
}

// closeWatches ends every watch, as a store that closes does.
func (f *fakeSource) closeWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, chs := range f.watchers {
		for _, ch := range chs {
			close(ch)
		}
		delete(f.watchers, k)
	}
}

func (f *fakeSource) watching() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, chs := range f.watchers {
		n += len(chs)
	}
	return n
}

// runServer follows src until the test ends.
func runServer(t *testing.T, src Source) *Server {
	t.Helper()
	s := newTestServer(t, testConfig())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, src) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	poll.Cond(t, 10*time.Second, "the first zone", s.Ready)
	return s
}

func answers(t *testing.T, s *Server, name string, qtype uint16) []string {
	t.Helper()
	var out []string
	for _, rr := range query(t, s, name, qtype).Answer {
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

func hasAnswer(t *testing.T, s *Server, name string, qtype uint16, want ...string) func() bool {
	return func() bool {
		var w []string
		for _, x := range want {
			w = append(w, rr(x).String())
		}
		slices.Sort(w)
		return slices.Equal(answers(t, s, name, qtype), w)
	}
}

// updateLatency is how soon a change must be visible to queries.
const updateLatency = 100 * time.Millisecond

func TestRunFollowsChanges(t *testing.T) {
	src := newFakeSource(fixture())
	s := runServer(t, src)
	if got := query(t, s, "web.default.svc.cluster.local.", mdns.TypeA); len(got.Answer) != 1 {
		t.Fatalf("listed state not served: %v", got)
	}

	// A backend turns unready: it leaves the headless answer.
	e := eps("default", "db",
		[]api.EndpointAddress{addr("10.244.1.10", "db-0"), addr("10.244.2.11", "db-1")},
		[]api.EndpointAddress{addr("10.244.1.12", ""), addr("10.244.2.13", "db-3")},
		api.EndpointPort{Name: "pg", Port: 5432})
	src.send(api.Modified, e)
	d := poll.Cond(t, updateLatency, "unready backend removed", hasAnswer(t, s, "db.default.svc.cluster.local.", mdns.TypeA,
		"db.default.svc.cluster.local. 5 IN A 10.244.1.10", "db.default.svc.cluster.local. 5 IN A 10.244.2.11"))
	t.Logf("unready backend left DNS after %v", d)

	// A new service appears.
	src.send(api.Added, svc("default", "new", "10.96.0.77"))
	d = poll.Cond(t, updateLatency, "new service", hasAnswer(t, s, "new.default.svc.cluster.local.", mdns.TypeA,
		"new.default.svc.cluster.local. 5 IN A 10.96.0.77"))
	t.Logf("new service answered after %v", d)

	// A service is deleted: NXDOMAIN.
	src.send(api.Deleted, svc("default", "web", "10.96.0.10"))
	poll.Cond(t, updateLatency, "deleted service", func() bool {
		return query(t, s, "web.default.svc.cluster.local.", mdns.TypeA).Rcode == mdns.RcodeNameError
	})
	// A pod's PTR follows the pod.
	src.send(api.Added, testPod("default", "late", "10.244.5.5"))
	poll.Cond(t, updateLatency, "new pod PTR", hasAnswer(t, s, "5.5.244.10.in-addr.arpa.", mdns.TypePTR,
		"5.5.244.10.in-addr.arpa. 5 IN PTR 10-244-5-5.default.pod.cluster.local."))
}

func TestRunDropsChangesThatNameNothing(t *testing.T) {
	src := newFakeSource(fixture())
	s := runServer(t, src)
	builds := s.Stats().Builds

	// Status churn of a pod: restarts, conditions. No rebuild at all.
	for i := range 100 {
		p := testPod("default", "web-1", "10.244.1.5")
		p.Status.Conditions = []api.Condition{{Type: api.PodReady, Status: api.ConditionTrue}}
		p.Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", RestartCount: int32(i)}}
		src.send(api.Modified, p)
	}
	// A change of a not-ready address of a service that does not publish
	// them: rebuilt, but the zone is the same and is not swapped.
	src.send(api.Modified, eps("default", "web",
		[]api.EndpointAddress{addr("10.244.1.5", ""), addr("10.244.2.7", "")},
		[]api.EndpointAddress{addr("10.244.1.9", ""), addr("10.244.1.8", "")},
		api.EndpointPort{Name: "http", Port: 8080, Protocol: "TCP"}))
	poll.Cond(t, time.Second, "the equal zone dropped", func() bool { return s.Stats().Unchanged >= 1 })
	// A change that names something, sent last: once it is served, every
	// change before it has been applied.
	src.send(api.Added, testPod("default", "marker", "10.244.7.7"))
	poll.Cond(t, time.Second, "marker pod", hasAnswer(t, s, "7.7.244.10.in-addr.arpa.", mdns.TypePTR,
		"7.7.244.10.in-addr.arpa. 5 IN PTR 10-244-7-7.default.pod.cluster.local."))
	st := s.Stats()
	if st.Builds != builds+1 || st.Unchanged != 1 {
		t.Errorf("published %d zones and dropped %d; want 1 published (the marker) and 1 dropped", st.Builds-builds, st.Unchanged)
	}
}

func TestRunDebouncesBursts(t *testing.T) {
	src := newFakeSource(fixture())
	s := runServer(t, src)
	builds := s.Stats().Builds
	start := time.Now()
	const n = 500
	for i := range n {
		src.send(api.Added, testPod("burst", "p"+strconv.Itoa(i), "10.244.9."+strconv.Itoa(i%250)))
	}
	poll.Cond(t, time.Second, "the whole burst", func() bool {
		return query(t, s, "249.9.244.10.in-addr.arpa.", mdns.TypePTR).Rcode == mdns.RcodeSuccess
	})
	elapsed := time.Since(start)
	got := s.Stats().Builds - builds
	// At most one build per interval, plus the first one of the burst.
	if limit := uint64(elapsed/(50*time.Millisecond)) + 2; got > limit {
		t.Errorf("%d changes made %d zones in %v, want at most %d", n, got, elapsed, limit)
	}
	t.Logf("%d changes in %v made %d zones", n, elapsed, got)
}

func TestRunListsAgainWhenWatchesEnd(t *testing.T) {
	src := newFakeSource(fixture())
	s := runServer(t, src)
	lists := src.lists.Load()
	src.closeWatches()
	// Changed while nobody watches: only a new list sees it.
	src.send(api.Added, svc("default", "missed", "10.96.0.55"))
	poll.Cond(t, 10*time.Second, "relisted state", hasAnswer(t, s, "missed.default.svc.cluster.local.", mdns.TypeA,
		"missed.default.svc.cluster.local. 5 IN A 10.96.0.55"))
	if src.lists.Load() <= lists {
		t.Error("not listed again")
	}
	poll.Cond(t, time.Second, "watching again", func() bool { return src.watching() == len(watchedKinds) })
}

func TestRunKeepsServingWhileListFails(t *testing.T) {
	src := newFakeSource(fixture())
	s := runServer(t, src)
	src.mu.Lock()
	src.listErr = errors.New("store closed")
	src.mu.Unlock()
	lists := src.lists.Load()
	src.closeWatches()
	poll.Cond(t, 10*time.Second, "a failed list", func() bool { return src.lists.Load() > lists })
	if got := query(t, s, "web.default.svc.cluster.local.", mdns.TypeA); len(got.Answer) != 1 {
		t.Errorf("the last zone is not served while the source fails: %v", got)
	}
	src.mu.Lock()
	src.listErr = nil
	src.mu.Unlock()
	poll.Cond(t, 10*time.Second, "watching again", func() bool { return src.watching() == len(watchedKinds) })
}

func TestRunStopsAtShutdown(t *testing.T) {
	s, err := New(testConfig(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	src := newFakeSource(fixture())
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background(), src) }()
	poll.Cond(t, 10*time.Second, "ready", s.Ready)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
	poll.Cond(t, time.Second, "watches ended", func() bool { return src.watching() == 0 })
}

func TestSetSnapshotDropsEqualZones(t *testing.T) {
	s := newTestServer(t, testConfig())
	s.SetSnapshot(fixture())
	z := s.zone.Load()
	s.SetSnapshot(fixture())
	if s.zone.Load() != z {
		t.Error("an equal zone replaced the served one")
	}
	snap := fixture()
	snap.Pods = append(snap.Pods, testPod("default", "x", "10.244.8.8"))
	s.SetSnapshot(snap)
	nz := s.zone.Load()
	if nz == z || nz.serial <= z.serial {
		t.Errorf("a changed zone was not served with a newer serial (%d -> %d)", z.serial, nz.serial)
	}
	if st := s.Stats(); st.Builds != 2 || st.Unchanged != 1 {
		t.Errorf("Builds %d Unchanged %d, want 2 and 1", st.Builds, st.Unchanged)
	}
}
