package scheduler

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

type attemptCounter struct {
	mu      sync.Mutex
	results map[string]int
}

func (c *attemptCounter) ObserveAttempt(result string, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.results[result]++
}

func (c *attemptCounter) get(result string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.results[result]
}

// A pod placed counts as scheduled, one too large for every node as
// unschedulable; the queue's depth is reported while the scheduler runs
// and not after.
func TestObserverCountsAttemptsByResult(t *testing.T) {
	store := newTestStore(t)
	threeNodes(t, store, nil)
	obs := &attemptCounter{results: map[string]int{}}
	s := New(store, nil, testLogger(), Options{BackoffBase: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Observer: obs})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	create(t, store, testPod("fits", "1", "1Gi"))
	create(t, store, testPod("huge", "64", "1Gi"))
	waitBound(t, store, "fits")
	poll.Until(t, 5*time.Second, "attempts counted", func() error {
		if obs.get("scheduled") != 1 || obs.get("unschedulable") < 1 {
			return fmt.Errorf("scheduled %d, unschedulable %d", obs.get("scheduled"), obs.get("unschedulable"))
		}
		return nil
	})
	queues := 0
	s.QueueDepth(func(name string, depth int) {
		if name == "scheduler" && depth >= 0 {
			queues++
		}
	})
	if queues != 1 {
		t.Fatalf("QueueDepth reported %d queues while running, want 1", queues)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.QueueDepth(func(name string, _ int) { t.Fatalf("queue %s reported after Run ended", name) })
}
