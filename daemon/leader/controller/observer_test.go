package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

type syncCounter struct {
	mu    sync.Mutex
	syncs map[string]int
}

func (c *syncCounter) ObserveSync(controller string, took time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.syncs[controller]++
}

func (c *syncCounter) get(controller string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.syncs[controller]
}

// A ReplicaSet's syncs are reported under its controller's name, and every
// controller's queue depth while the manager runs.
func TestObserverSeesSyncsAndQueueDepths(t *testing.T) {
	store := newTestStore(t)
	obs := &syncCounter{syncs: map[string]int{}}
	opts := fastOptions()
	opts.Observer = obs
	m := NewManager(store, newTestInformer(t, store), nil, testLogger(t), opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	if _, err := store.Create(context.Background(), newReplicaSet("web", 2)); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "replicaset syncs observed", func() error {
		if n := obs.get("replicaset"); n == 0 {
			return fmt.Errorf("no sync of the replicaset controller observed")
		}
		return nil
	})
	names := map[string]bool{}
	m.QueueDepths(func(name string, depth int) { names[name] = depth >= 0 })
	for _, want := range []string{"replicaset", "deployment", "endpoints", "garbagecollector"} {
		if !names[want] {
			t.Errorf("no queue depth for %s in %v", want, names)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m.QueueDepths(func(name string, _ int) { t.Fatalf("queue %s reported after Run ended", name) })
}
