package controller

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func TestManagerIsRestartableAndReconcilesAtStart(t *testing.T) {
	store := newTestStore(t)
	sel := api.SelectorFromSet(map[string]string{"app": "web"})
	inf := newTestInformer(t, store)
	if err := inf.WaitForSync(t.Context(), readKinds()...); err != nil {
		t.Fatal(err)
	}
	m := NewManager(store, inf, nil, testLogger(t), fastOptions())
	before := runtime.NumGoroutine()

	run := func() (context.CancelFunc, chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx) }()
		return cancel, done
	}
	stop := func(cancel context.CancelFunc, done chan error) {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after its context ended")
		}
	}

	cancel, done := run()
	mustCreate(t, store, newReplicaSet("web", 2))
	poll.True(t, 5*time.Second, "2 pods", func() (bool, string) { return len(listPods(t, store, sel)) == 2, "" })
	// A second Run while the first runs is refused.
	if err := m.Run(t.Context()); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run: %v", err)
	}
	stop(cancel, done)

	// Leadership lost: changes pile up with no one acting on them.
	updateReplicaSet(t, store, "web", func(rs *api.ReplicaSet) { rs.Spec.Replicas = api.Int32(4) })
	time.Sleep(100 * time.Millisecond)
	if n := len(listPods(t, store, sel)); n != 2 {
		t.Fatalf("%d pods while stopped", n)
	}

	// Leadership regained: everything is reconciled at start.
	cancel, done = run()
	poll.True(t, 5*time.Second, "4 pods after the restart", func() (bool, string) { return len(listPods(t, store, sel)) == 4, "" })
	stop(cancel, done)

	poll.True(t, 5*time.Second, "every goroutine of Run to end", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= before, ""
	})
}
