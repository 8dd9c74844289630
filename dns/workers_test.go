package dns

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"
)

// The pool runs at most its workers at once, holds at most its queue,
// refuses the rest, and leaves no goroutine behind once idle.
func TestWorkPoolBounds(t *testing.T) {
	before := runtime.NumGoroutine()
	const workers, queue = 4, 8
	p := newWorkPool(workers, queue)
	release := make(chan struct{})
	var running, peak, done atomic.Int32
	job := func() {
		n := running.Add(1)
		for {
			m := peak.Load()
			if n <= m || peak.CompareAndSwap(m, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		done.Add(1)
	}
	taken := 0
	for range 100 {
		if p.submit(job) {
			taken++
		}
	}
	// Four run, eight wait; the queue may have freed a slot or four as
	// the workers took their first jobs.
	if taken < queue || taken > workers+queue {
		t.Fatalf("%d of 100 jobs taken, want %d to %d", taken, queue, workers+queue)
	}
	poll.Cond(t, 10*time.Second, "4 jobs running", func() bool { return running.Load() == workers })
	if n := runtime.NumGoroutine() - before; n > workers {
		t.Errorf("%d goroutines for %d workers", n, workers)
	}
	close(release)
	poll.Cond(t, 10*time.Second, "every job done", func() bool { return int(done.Load()) == taken })
	if peak.Load() != workers {
		t.Errorf("peak %d jobs at once, want %d", peak.Load(), workers)
	}
	p.wait()
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after the pool went idle, %d before", n, before)
	}
}

// Jobs submitted from many goroutines while workers come and go are all
// run: none is left in the queue by a worker that just ended.
func TestWorkPoolRunsEveryJob(t *testing.T) {
	p := newWorkPool(3, 1000)
	var ran atomic.Int64
	var submitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 2000 {
				if p.submit(func() { ran.Add(1) }) {
					submitted.Add(1)
				}
				if i%100 == 0 {
					time.Sleep(time.Millisecond) // let the workers run dry and end
				}
			}
		})
	}
	wg.Wait()
	poll.Cond(t, 5*time.Second, "every job run", func() bool { return ran.Load() == submitted.Load() })
	p.wait()
	if ran.Load() < 1000 {
		t.Errorf("only %d jobs ran", ran.Load())
	}
}
