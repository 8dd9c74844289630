package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry"
)

// bindingStore wraps the registry's Bind: it fails the bindings hook
// says to, and counts the bindings being written at once.
type bindingStore struct {
	*registry.Registry
	hook func(name string) error // runs before each binding; an error fails it

	mu             sync.Mutex
	inFlight, most int
	calls          map[string]int
}

func (s *bindingStore) Bind(ctx context.Context, ns, name string, b *api.Binding) (*api.Pod, error) {
	s.mu.Lock()
	s.inFlight++
	s.most = max(s.most, s.inFlight)
	s.calls[name]++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if s.hook != nil {
		if err := s.hook(name); err != nil {
			return nil, err
		}
	}
	return s.Registry.Bind(ctx, ns, name, b)
}

func (s *bindingStore) counts() (inFlight, most int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight, s.most
}

func newBindingStore(t *testing.T, hook func(string) error) *bindingStore {
	return &bindingStore{Registry: newTestStore(t), hook: hook, calls: map[string]int{}}
}

func runScheduler(t *testing.T, store Store, opts Options) {
	t.Helper()
	s := New(store, nil, testLogger(), opts)
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
}

// A binding that fails drops the pod's assumption and the pod is decided
// again: on a node with room for one pod, the retry finds the room free
// (were the failed pod still assumed there, the node would look full until
// the assumption's TTL, a minute here).
func TestSchedulerBindFailureUnassumesAndRetries(t *testing.T) {
	var failed sync.Once
	fail := errors.New("disk says no")
	store := newBindingStore(t, func(string) error {
		var err error
		failed.Do(func() { err = fail })
		return err
	})
	create(t, store, testNode("a", "1", "1Gi", func(n *api.Node) { n.Status.Allocatable[api.ResourcePods] = q("1") }))
	create(t, store, testPod("p", "", ""))
	runScheduler(t, store, Options{BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, AssumeTTL: time.Minute})
	if where := waitBound(t, store, "p"); len(where["a"]) != 1 {
		t.Fatalf("placed on %v", where)
	}
	store.mu.Lock()
	calls := store.calls["p"]
	store.mu.Unlock()
	if calls != 2 {
		t.Fatalf("%d bindings of p, want the failed one and its retry", calls)
	}
}

// No more than MaxBindsInFlight bindings are written at once, and the
// scheduler keeps that many going while they are slow.
func TestSchedulerBoundsBindingsInFlight(t *testing.T) {
	release := make(chan struct{})
	store := newBindingStore(t, func(string) error { <-release; return nil })
	create(t, store, testNode("a", "8", "8Gi"))
	var names []string
	for i := range 10 {
		names = append(names, fmt.Sprintf("p-%d", i))
		create(t, store, testPod(names[i], "", ""))
	}
	runScheduler(t, store, Options{MaxBindsInFlight: 3})
	poll.True(t, 5*time.Second, "3 bindings in flight", func() (bool, string) {
		n, _ := store.counts()
		return n == 3, fmt.Sprint(n)
	})
	time.Sleep(100 * time.Millisecond) // room for a fourth, were it let in
	if _, most := store.counts(); most != 3 {
		t.Fatalf("%d bindings in flight at once, want at most 3", most)
	}
	close(release)
	waitBound(t, store, names...)
	if _, most := store.counts(); most > 3 {
		t.Fatalf("%d bindings in flight at once, want at most 3", most)
	}
}

// With many slow bindings in flight, every decision still counts the pods
// placed before it: no node gets more than it holds, and the pods left
// over are reported unschedulable.
func TestSchedulerNeverOvercommitsWithBindingsInFlight(t *testing.T) {
	store := newBindingStore(t, func(string) error { time.Sleep(20 * time.Millisecond); return nil })
	for _, name := range []string{"a", "b", "c"} {
		create(t, store, testNode(name, "1", "1Gi"))
	}
	var names []string
	for i := range 12 {
		names = append(names, fmt.Sprintf("p-%02d", i))
		create(t, store, testPod(names[i], "300m", "100Mi", ownedBy(fmt.Sprintf("rs-%d", i%2))))
	}
	runScheduler(t, store, Options{MaxBindsInFlight: 16, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	poll.True(t, 10*time.Second, "9 bound, 3 unschedulable", func() (bool, string) {
		where, bound := placement(t, store, names...)
		unschedulable := 0
		for _, n := range names {
			c := api.FindCondition(getPod(t, store, n).Status.Conditions, api.PodScheduled)
			if c != nil && c.Status == api.ConditionFalse && c.Reason == ReasonUnschedulable {
				unschedulable++
			}
		}
		return bound == 9 && unschedulable == 3, fmt.Sprintf("%v, %d unschedulable", where, unschedulable)
	})
	time.Sleep(200 * time.Millisecond) // retries of the left-over pods
	where, bound := placement(t, store, names...)
	for node, pods := range where {
		if len(pods) > 3 {
			t.Fatalf("node %s holds %d pods of 300m, more than its one core: %v", node, len(pods), where)
		}
	}
	if bound != 9 {
		t.Fatalf("%d bound, want 9: %v", bound, where)
	}
	if _, most := store.counts(); most < 2 {
		t.Fatalf("at most %d binding in flight: the test did not bind concurrently", most)
	}
}
