package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/internal/poll"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

func newTestStore(t *testing.T) *registry.Registry {
	t.Helper()
	st, err := gossip.Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	o := registry.New(st)
	if _, err := o.Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	return o
}

func testLogger() *slog.Logger {
	if os.Getenv("SHOAL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startScheduler runs a Scheduler until the test ends.
func startScheduler(t *testing.T, store controllerStore) *events.FakeRecorder {
	t.Helper()
	rec := &events.FakeRecorder{}
	s := New(store, rec, testLogger(), Options{BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return rec
}

func create(t *testing.T, store controllerStore, obj api.Object) {
	t.Helper()
	if _, err := store.Create(context.Background(), obj); err != nil {
		t.Fatalf("create %s: %v", obj.GetObjectMeta().Name, err)
	}
}

func getPod(t *testing.T, store controllerStore, name string) *api.Pod {
	t.Helper()
	o, err := store.Get(context.Background(), api.KindPod, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.Pod)
}

// placement maps node name to the sorted names of the pods bound to it.
func placement(t *testing.T, store controllerStore, names ...string) (map[string][]string, int) {
	t.Helper()
	out := map[string][]string{}
	bound := 0
	for _, n := range names {
		if node := getPod(t, store, n).Spec.NodeName; node != "" {
			out[node] = append(out[node], n)
			bound++
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out, bound
}

func waitBound(t *testing.T, store controllerStore, names ...string) map[string][]string {
	t.Helper()
	var where map[string][]string
	poll.True(t, 5*time.Second, "pods bound", func() (bool, string) {
		var n int
		where, n = placement(t, store, names...)
		return n == len(names), fmt.Sprint(where)
	})
	return where
}

func threeNodes(t *testing.T, store controllerStore, mods map[string]func(*api.Node)) {
	t.Helper()
	for _, name := range []string{"a", "b", "c"} {
		n := testNode(name, "4", "8Gi")
		if m := mods[name]; m != nil {
			m(n)
		}
		create(t, store, n)
	}
}

func TestSchedulerEndToEnd(t *testing.T) {
	store := newTestStore(t)
	threeNodes(t, store, map[string]func(*api.Node){"b": func(n *api.Node) { n.Labels["disk"] = "ssd" }})
	// Six replicas exist before the scheduler starts: one batch, decided
	// faster than the watch shows the bindings.
	var web []string
	for i := range 6 {
		name := fmt.Sprintf("web-%d", i)
		web = append(web, name)
		create(t, store, testPod(name, "100m", "128Mi", ownedBy("rs-web")))
	}
	rec := startScheduler(t, store)

	where := waitBound(t, store, web...)
	for _, node := range []string{"a", "b", "c"} {
		if len(where[node]) != 2 {
			t.Fatalf("replicas not spread evenly: %v", where)
		}
	}
	// The event follows the binding: wait for it.
	var ev []events.RecordedEvent
	poll.True(t, 5*time.Second, "6 Scheduled events", func() (bool, string) {
		ev = rec.Find(ReasonScheduled)
		return len(ev) >= 6, fmt.Sprint(len(ev))
	})
	if len(ev) != 6 || ev[0].Type != api.EventNormal || ev[0].Kind != "Pod" {
		t.Fatalf("Scheduled events: %+v", ev)
	}
	p0 := getPod(t, store, ev[0].Name)
	if want := fmt.Sprintf("Successfully assigned default/%s to %s", p0.Name, p0.Spec.NodeName); ev[0].Message != want {
		t.Fatalf("event %q, want %q", ev[0].Message, want)
	}

	// nodeSelector.
	create(t, store, testPod("fast", "", "", func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }))
	if where := waitBound(t, store, "fast"); len(where["b"]) != 1 {
		t.Fatalf("nodeSelector disk=ssd placed on %v", where)
	}

	// A pod that fits nowhere: condition, one event, and a retry when a
	// node that fits joins.
	create(t, store, testPod("huge", "", "10Gi", func(p *api.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }))
	want := "0/3 nodes are available: 1 Insufficient memory, 2 node(s) didn't match Pod's node affinity/selector."
	poll.True(t, 5*time.Second, "PodScheduled=False", func() (bool, string) {
		p := getPod(t, store, "huge")
		c := api.FindCondition(p.Status.Conditions, api.PodScheduled)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == ReasonUnschedulable && c.Message == want &&
			p.Status.Phase == api.PodPending, fmt.Sprintf("%+v", p.Status)
	})
	time.Sleep(300 * time.Millisecond) // several retries with back-off
	failed := rec.Find(ReasonFailedScheduling)
	if len(failed) != 1 || failed[0].Message != want || failed[0].Type != api.EventWarning || failed[0].Name != "huge" {
		t.Fatalf("FailedScheduling events (want exactly one within a minute): %+v", failed)
	}
	if getPod(t, store, "huge").Spec.NodeName != "" {
		t.Fatal("an unschedulable pod was bound")
	}
	create(t, store, testNode("d", "4", "32Gi", func(n *api.Node) { n.Labels["disk"] = "ssd" }))
	if where := waitBound(t, store, "huge"); len(where["d"]) != 1 {
		t.Fatalf("placed on %v, want the new node d", where)
	}
}

func TestSchedulerAccountsForPodsItJustBound(t *testing.T) {
	store := newTestStore(t)
	for _, name := range []string{"a", "b", "c"} {
		create(t, store, testNode(name, "1", "8Gi"))
	}
	var names []string
	for i := range 4 {
		name := fmt.Sprintf("job-%d", i)
		names = append(names, name)
		create(t, store, testPod(name, "600m", "", ownedBy(fmt.Sprintf("owner-%d", i))))
	}
	startScheduler(t, store)
	poll.True(t, 5*time.Second, "three bound and one waiting", func() (bool, string) {
		where, n := placement(t, store, names...)
		return n == 3 && len(where) == 3, fmt.Sprint(where)
	})
	var waiting string
	for _, n := range names {
		if getPod(t, store, n).Spec.NodeName == "" {
			waiting = n
		}
	}
	poll.True(t, 5*time.Second, "Insufficient cpu", func() (bool, string) {
		c := api.FindCondition(getPod(t, store, waiting).Status.Conditions, api.PodScheduled)
		return c != nil && c.Message == "0/3 nodes are available: 3 Insufficient cpu.", fmt.Sprintf("%+v", c)
	})
	// Freeing a node's CPU lets the waiting pod in.
	var victim *api.Pod
	for _, n := range names {
		if p := getPod(t, store, n); p.Spec.NodeName != "" {
			victim = p
			break
		}
	}
	if _, err := store.Delete(t.Context(), api.KindPod, "default", victim.Name, api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatal(err)
	}
	poll.True(t, 5*time.Second, "the waiting pod bound where room was made", func() (bool, string) {
		p := getPod(t, store, waiting)
		return p.Spec.NodeName == victim.Spec.NodeName, p.Spec.NodeName
	})
}

func TestSchedulerRespectsTaints(t *testing.T) {
	store := newTestStore(t)
	threeNodes(t, store, map[string]func(*api.Node){"c": tainted(api.Taint{Key: "dedicated", Value: "db", Effect: api.TaintNoSchedule})})
	var web []string
	for i := range 4 {
		name := fmt.Sprintf("web-%d", i)
		web = append(web, name)
		create(t, store, testPod(name, "", "", ownedBy("rs-web")))
	}
	rec := startScheduler(t, store)
	where := waitBound(t, store, web...)
	if len(where["c"]) != 0 || len(where["a"]) != 2 || len(where["b"]) != 2 {
		t.Fatalf("pods without a toleration on the tainted node, or not spread: %v", where)
	}
	// The tolerating pod may go there, and the empty node is least allocated.
	create(t, store, testPod("db", "", "", tolerating(api.Toleration{Key: "dedicated", Operator: "Equal", Value: "db", Effect: api.TaintNoSchedule})))
	if where := waitBound(t, store, "db"); len(where["c"]) != 1 {
		t.Fatalf("the tolerating pod went to %v", where)
	}
	if failed := rec.Find(ReasonFailedScheduling); len(failed) != 0 {
		t.Fatalf("failures reported though every pod fits somewhere: %+v", failed)
	}
}

// breakingStore ends the pod watches it handed out with an ERROR event
// (as the store does for a watcher that fell behind) when told to, and
// holds new pod watches until released.
type breakingStore struct {
	*registry.Registry
	broken chan struct{} // closed: end every current pod watch
	gate   chan struct{} // closed: let new pod watches start
	mu     sync.Mutex
	n      int
}

func (b *breakingStore) Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error) {
	if k != api.KindPod {
		return b.Registry.Watch(ctx, k, ns, opts)
	}
	b.mu.Lock()
	b.n++
	first := b.n == 1
	b.mu.Unlock()
	if !first {
		<-b.gate
	}
	in, err := b.Registry.Watch(ctx, k, ns, opts)
	if err != nil || !first {
		return in, err
	}
	out := make(chan api.WatchEvent)
	go func() {
		defer close(out)
		for {
			select {
			case ev, ok := <-in:
				if !ok {
					return
				}
				out <- ev
			case <-b.broken:
				out <- api.WatchEvent{Type: api.Error, Object: &registry.WatchError{Status: api.NewGone("fell behind").ErrStatus}}
				return
			}
		}
	}()
	return out, nil
}

// After a pod watch ends with an ERROR event, the scheduler lists again:
// a pod deleted while it was not watching stops counting against its node.
func TestSchedulerRelistsAfterTheWatchEnds(t *testing.T) {
	inner := newTestStore(t)
	store := &breakingStore{Registry: inner, broken: make(chan struct{}), gate: make(chan struct{})}
	create(t, store, testNode("a", "1", "8Gi"))
	create(t, store, testPod("first", "1", ""))
	startScheduler(t, store)
	waitBound(t, store, "first")
	close(store.broken) // the watch ends; the next one waits at the gate
	zero := int64(0)
	if _, err := store.Delete(context.Background(), api.KindPod, "default", "first", api.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	close(store.gate)
	create(t, store, testPod("second", "1", ""))
	waitBound(t, store, "second") // fits only if "first" no longer counts
}

// controllerStore is what the tests write through: the scheduler's Store
// plus Create and Delete.
type controllerStore interface {
	Store
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error)
}
