package workqueue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

func getWithin(t *testing.T, q *Queue, d time.Duration) (string, bool) {
	t.Helper()
	type res struct {
		key string
		ok  bool
	}
	ch := make(chan res, 1)
	go func() { k, ok := q.Get(); ch <- res{k, ok} }()
	select {
	case r := <-ch:
		return r.key, r.ok
	case <-time.After(d):
		q.ShutDown() // release the blocked Get
		<-ch
		return "", false
	}
}

func TestQueueDedupsKeys(t *testing.T) {
	q := New(t.Context())
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if n := q.Len(); n != 2 {
		t.Fatalf("Len = %d, want 2", n)
	}
	for _, want := range []string{"a", "b"} {
		k, ok := q.Get()
		if !ok || k != want {
			t.Fatalf("Get = %q %v, want %q", k, ok, want)
		}
		q.Done(k)
	}
	if n := q.Len(); n != 0 {
		t.Fatalf("Len = %d after draining", n)
	}
}

func TestQueueReaddWhileProcessingRunsAgainAfterDone(t *testing.T) {
	q := New(t.Context())
	q.Add("a")
	k, _ := q.Get()
	q.Add("a") // while a worker holds it
	q.Add("a")
	if n := q.Len(); n != 0 {
		t.Fatalf("a key being processed was handed out again: Len = %d", n)
	}
	q.Done(k)
	if n := q.Len(); n != 1 {
		t.Fatalf("Len after Done = %d, want 1 (the re-add, once)", n)
	}
	k, ok := q.Get()
	if !ok || k != "a" {
		t.Fatalf("Get = %q %v", k, ok)
	}
	q.Done(k)
	if _, ok := getWithin(t, q, 50*time.Millisecond); ok {
		t.Fatal("a key processed after its re-add came back a third time")
	}
}

func TestQueueNeverGivesOneKeyToTwoWorkers(t *testing.T) {
	q := New(t.Context())
	var inFlight, maxInFlight, processed atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				k, ok := q.Get()
				if !ok {
					return
				}
				n := inFlight.Add(1)
				for {
					m := maxInFlight.Load()
					if n <= m || maxInFlight.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				inFlight.Add(-1)
				processed.Add(1)
				q.Done(k)
			}
		})
	}
	for range 200 {
		q.Add("same")
		time.Sleep(100 * time.Microsecond)
	}
	poll.True(t, 5*time.Second, "the queue to drain", func() (bool, string) {
		return q.Len() == 0 && inFlight.Load() == 0, ""
	})
	q.ShutDown()
	wg.Wait()
	if m := maxInFlight.Load(); m != 1 {
		t.Fatalf("one key was processed by %d workers at once", m)
	}
	if p := processed.Load(); p < 2 || p > 200 {
		t.Fatalf("processed %d times", p)
	}
}

func TestQueueBackoffDoublesAndForgetResets(t *testing.T) {
	q := NewWithBackoff(t.Context(), 5*time.Millisecond, 40*time.Millisecond)
	want := []time.Duration{5, 10, 20, 40, 40}
	for i, w := range want {
		if got := q.nextBackoff("k"); got != w*time.Millisecond {
			t.Fatalf("back-off %d = %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if n := q.NumRequeues("k"); n != len(want) {
		t.Fatalf("NumRequeues = %d", n)
	}
	q.Forget("k")
	if got := q.nextBackoff("k"); got != 5*time.Millisecond {
		t.Fatalf("after Forget = %v, want 5ms", got)
	}
	if got := q.nextBackoff("other"); got != 5*time.Millisecond {
		t.Fatalf("another key shares the back-off: %v", got)
	}
}

func TestQueueDefaultBackoffCapsAtThirtySeconds(t *testing.T) {
	q := New(t.Context())
	var last time.Duration
	for range 40 {
		last = q.nextBackoff("k")
	}
	if last != 30*time.Second {
		t.Fatalf("cap = %v", last)
	}
}

func TestQueueAddRateLimitedWaits(t *testing.T) {
	q := NewWithBackoff(t.Context(), 40*time.Millisecond, time.Second)
	start := time.Now()
	q.AddRateLimited("k")
	if q.Len() != 0 {
		t.Fatal("a rate-limited key was ready at once")
	}
	k, ok := getWithin(t, q, 2*time.Second)
	if !ok || k != "k" {
		t.Fatalf("Get = %q %v", k, ok)
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Fatalf("ready after %v, before its back-off", el)
	}
}

func TestQueueAddAfterKeepsEarliest(t *testing.T) {
	q := New(t.Context())
	start := time.Now()
	q.AddAfter("k", time.Hour)
	q.AddAfter("k", 20*time.Millisecond)
	q.AddAfter("k", time.Hour) // a later delay does not push it back
	k, ok := getWithin(t, q, 2*time.Second)
	if !ok || k != "k" {
		t.Fatalf("Get = %q %v", k, ok)
	}
	if el := time.Since(start); el < 20*time.Millisecond || el > time.Second {
		t.Fatalf("ready after %v", el)
	}
	q.Done(k)
	if _, ok := getWithin(t, q, 50*time.Millisecond); ok {
		t.Fatal("the replaced delay fired too")
	}
}

func TestQueueShutsDownWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	q := New(ctx)
	q.AddAfter("late", 10*time.Millisecond)
	done := make(chan bool, 1)
	go func() { _, ok := q.Get(); done <- ok }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	select {
	case ok := <-done:
		if ok {
			// "late" may have fired first; then the next Get must stop.
			if _, ok := q.Get(); ok {
				t.Fatal("Get returned a key after shutdown")
			}
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Get blocked after the context ended")
	}
	poll.True(t, time.Second, "shutdown", func() (bool, string) { return q.ShuttingDown(), "" })
	q.Add("x")
	if q.Len() != 0 {
		t.Fatal("Add after shutdown queued a key")
	}
}
