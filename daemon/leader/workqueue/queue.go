package workqueue

import (
	"context"
	"sync"
	"time"
)

// Default back-off of a key that keeps failing: 5 ms, doubling, capped at 30 s.
const (
	DefaultBackoffBase = 5 * time.Millisecond
	DefaultBackoffMax  = 30 * time.Second
)

// Queue is a keyed work queue in the manner of client-go's workqueue: a key
// waits at most once however often it is added, a key is handed to one worker
// at a time (a key added while it is processed is processed again after Done),
// a failing key is retried with a per-key exponential back-off, and the queue
// shuts down with the context it was made with.
type Queue struct {
	baseDelay, maxDelay time.Duration

	mu         sync.Mutex
	cond       *sync.Cond
	items      []string            // keys ready for a worker, in order
	dirty      map[string]struct{} // keys that need processing (queued or re-added while processing)
	processing map[string]struct{} // keys a worker holds
	failures   map[string]int      // consecutive failures per key, for the back-off
	timers     map[string]*delayed // AddAfter keys waiting for their time
	shutdown   bool
}

type delayed struct {
	at    time.Time
	timer *time.Timer
}

// NewQueue makes a queue with the default back-off that shuts down when ctx
// ends.
func New(ctx context.Context) *Queue {
	return NewWithBackoff(ctx, DefaultBackoffBase, DefaultBackoffMax)
}

// NewQueueWithBackoff makes a queue whose failing keys wait base, 2*base, ...
// up to maxDelay before their next try.
func NewWithBackoff(ctx context.Context, base, maxDelay time.Duration) *Queue {
	q := &Queue{
		baseDelay:  base,
		maxDelay:   maxDelay,
		dirty:      map[string]struct{}{},
		processing: map[string]struct{}{},
		failures:   map[string]int{},
		timers:     map[string]*delayed{},
	}
	q.cond = sync.NewCond(&q.mu)
	context.AfterFunc(ctx, q.ShutDown)
	return q
}

// Add queues key unless it is already waiting.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *Queue) addLocked(key string) {
	if q.shutdown {
		return
	}
	if _, ok := q.dirty[key]; ok {
		return
	}
	q.dirty[key] = struct{}{}
	if _, ok := q.processing[key]; ok {
		return // Done queues it again
	}
	q.items = append(q.items, key)
	q.cond.Signal()
}

// AddAfter queues key once d has passed. Of several pending delays for one key
// the earliest wins.
func (q *Queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	at := time.Now().Add(d)
	if w, ok := q.timers[key]; ok {
		if !at.Before(w.at) {
			return
		}
		w.timer.Stop()
	}
	w := &delayed{at: at}
	w.timer = time.AfterFunc(d, func() { q.fire(key, w) })
	q.timers[key] = w
}

// fire moves a delayed key into the queue, unless a newer delay replaced it.
func (q *Queue) fire(key string, w *delayed) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.timers[key] != w {
		return
	}
	delete(q.timers, key)
	q.addLocked(key)
}

// AddRateLimited queues key after its back-off, which doubles with every
// call until Forget.
func (q *Queue) AddRateLimited(key string) {
	q.AddAfter(key, q.nextBackoff(key))
}

func (q *Queue) nextBackoff(key string) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.failures[key]
	q.failures[key] = n + 1
	d := q.baseDelay
	for i := 0; i < n && d < q.maxDelay; i++ {
		d *= 2
	}
	return min(d, q.maxDelay)
}

// Forget resets the back-off of key, after it succeeded.
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// NumRequeues tells how many times key failed in a row.
func (q *Queue) NumRequeues(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failures[key]
}

// Get waits for a key and hands it to the caller, who must call Done with it.
// It returns false once the queue is shut down.
func (q *Queue) Get() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return "", false
	}
	key := q.items[0]
	q.items[0] = ""
	q.items = q.items[1:]
	q.processing[key] = struct{}{}
	delete(q.dirty, key)
	return key, true
}

// Done ends the processing of key; if it was added meanwhile, it is queued
// again.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if _, ok := q.dirty[key]; ok && !q.shutdown {
		q.items = append(q.items, key)
		q.cond.Signal()
	}
}

// Len is the number of keys ready for a worker.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// ShutDown stops the queue: waiting Gets return false, pending delays are
// dropped and later adds are ignored. The queue's context ending calls it.
func (q *Queue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	q.shutdown = true
	for key, w := range q.timers {
		w.timer.Stop()
		delete(q.timers, key)
	}
	q.items = nil
	q.cond.Broadcast()
}

// ShuttingDown reports whether the queue has shut down.
func (q *Queue) ShuttingDown() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.shutdown
}
