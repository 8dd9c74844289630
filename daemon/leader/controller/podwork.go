package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/leader/workqueue"
)

// ownedPods follows, for the controller of one owner kind, what its pod
// watch last saw of each pod, so that a MODIFIED event can be compared with
// the state before it. Only that pod watch goroutine uses it.
type ownedPods struct {
	kind *api.Kind
	seen map[string]seenPod
}

func newOwnedPods(kind *api.Kind) *ownedPods {
	return &ownedPods{kind: kind, seen: map[string]seenPod{}}
}

// podEvent is what one pod watch event means to the owners of one kind.
type podEvent struct {
	pod       *api.Pod
	key       string // the pod's key
	owner     string // key of the controlling owner of the kind, or ""
	prevOwner string // key of the owner before, when that changed
	created   bool   // first sight of an owned pod: a creation its owner may expect
	deleted   bool   // removed, or marked for deletion just now
	adoptable bool   // an orphan that is new or was relabelled: owners selecting it may adopt it
}

// ownerKey is the key of the owner of kind k controlling pod, or "".
func ownerKey(pod *api.Pod, k *api.Kind) string {
	ref := pod.ControllerRef()
	if ref == nil || ref.Kind != k.Kind {
		return ""
	}
	return keyFor(pod.Namespace, ref.Name)
}

// observe records ev and says what it means; ok is false for a non-pod.
func (o *ownedPods) observe(ev api.WatchEvent) (podEvent, bool) {
	pod, ok := ev.Object.(*api.Pod)
	if !ok {
		return podEvent{}, false
	}
	pk := keyOf(pod)
	prev, seen := o.seen[pk]
	cur := seenPod{owner: ownerKey(pod, o.kind), deleting: pod.DeletionTimestamp != nil, labels: pod.Labels}
	e := podEvent{pod: pod, key: pk, owner: cur.owner}
	if ev.Type == api.Deleted {
		delete(o.seen, pk)
		e.deleted = true
		// One that came and went before it was seen was a creation too.
		e.created = !seen && e.owner != ""
		return e, true
	}
	o.seen[pk] = cur
	if seen && prev.owner != cur.owner {
		e.prevOwner = prev.owner
	}
	if cur.owner == "" {
		e.adoptable = !seen || prev.owner != "" || !jsonEqual(prev.labels, cur.labels)
		return e, true
	}
	e.created = !seen
	e.deleted = cur.deleting && !prev.deleting
	return e, true
}

// podHandler turns the pod events of one owner kind into expectations met
// and owners queued: the part of a pod watch handler every controller of
// pods shares.
type podHandler struct {
	pods    *ownedPods
	creates *expectations // creations observed
	deletes *expectations // deletions observed (may be creates)
	queue   *workqueue.Queue
	// selecting queues the owners whose selector matches an orphan.
	selecting func(ctx context.Context, pod *api.Pod)
}

func (h podHandler) onPod(ctx context.Context, ev api.WatchEvent) {
	e, ok := h.pods.observe(ev)
	if !ok {
		return
	}
	if e.owner != "" {
		if e.created {
			h.creates.creationObserved(e.owner)
		}
		if e.deleted {
			h.deletes.deletionObserved(e.owner, e.key)
		}
		h.queue.Add(e.owner)
	}
	if e.prevOwner != "" {
		h.queue.Add(e.prevOwner)
	}
	if e.adoptable {
		h.selecting(ctx, e.pod)
	}
}

// podWriter creates and deletes the pods of one owner, keeping its
// controller's expectations and recording events on the owner.
type podWriter struct {
	store   Store
	rec     Recorder
	creates *expectations
	deletes *expectations
	key     string     // the owner's queue key
	owner   api.Object // for events and errors
}

// create makes n pods with mk(i), i from 0 to n-1, in slow-start batches,
// recording the creations as expected first so that no later sync makes them
// again. It returns the pods created.
func (w *podWriter) create(ctx context.Context, n int, mk func(i int) (*api.Pod, error)) ([]*api.Pod, error) {
	if n <= 0 {
		return nil, nil
	}
	w.creates.expectCreations(w.key, n)
	var next atomic.Int32
	created, err := slowStartBatch(n, 1, func() (*api.Pod, error) {
		pod, err := mk(int(next.Add(1) - 1))
		if err != nil {
			return nil, err
		}
		obj, err := w.store.Create(ctx, pod)
		if err != nil {
			return nil, err
		}
		return obj.(*api.Pod), nil
	})
	// The creations that failed or never ran will not show in the watch.
	for range n - len(created) {
		w.creates.creationObserved(w.key)
	}
	for _, p := range created {
		w.rec.Eventf(w.owner, api.EventNormal, ReasonSuccessfulCreate, "Created pod: %s", p.Name)
	}
	if err != nil {
		w.rec.Eventf(w.owner, api.EventWarning, ReasonFailedCreate, "Error creating: %v", err)
		return created, fmt.Errorf("create pods for %s %s: %w", api.KindOf(w.owner).Singular, w.key, err)
	}
	return created, nil
}

// remove deletes the victims in parallel, recording the deletions as
// expected first. grace gives each pod's grace period (nil: the pod's own).
// It returns the pods it deleted (or found gone).
func (w *podWriter) remove(ctx context.Context, victims []*api.Pod, grace func(*api.Pod) *int64) ([]*api.Pod, error) {
	if len(victims) == 0 {
		return nil, nil
	}
	keys := make([]string, len(victims))
	for i, p := range victims {
		keys[i] = keyOf(p)
	}
	w.deletes.expectDeletions(w.key, keys)
	errs := make([]error, len(victims))
	var wg sync.WaitGroup
	for i, p := range victims {
		wg.Go(func() {
			opts := api.DeleteOptions{UID: p.UID}
			if grace != nil {
				opts.GracePeriodSeconds = grace(p)
			}
			_, err := w.store.Delete(ctx, api.KindPod, p.Namespace, p.Name, opts)
			if err != nil && !api.IsNotFound(err) {
				// The watch will not show a deletion that did not happen.
				w.deletes.deletionObserved(w.key, keys[i])
				errs[i] = fmt.Errorf("delete pod %s: %w", keys[i], err)
				w.rec.Eventf(w.owner, api.EventWarning, ReasonFailedDelete, "Error deleting: %v", err)
				return
			}
			w.rec.Eventf(w.owner, api.EventNormal, ReasonSuccessfulDelete, "Deleted pod: %s", p.Name)
		})
	}
	wg.Wait()
	var gone []*api.Pod
	for i, p := range victims {
		if errs[i] == nil {
			gone = append(gone, p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return gone, fmt.Errorf("delete pods of %s %s: %w", api.KindOf(w.owner).Singular, w.key, err)
	}
	return gone, nil
}

// without returns pods minus those in gone (by uid).
func without(pods, gone []*api.Pod) []*api.Pod {
	if len(gone) == 0 {
		return pods
	}
	skip := make(map[string]bool, len(gone))
	for _, p := range gone {
		skip[p.UID] = true
	}
	out := make([]*api.Pod, 0, len(pods))
	for _, p := range pods {
		if !skip[p.UID] {
			out = append(out, p)
		}
	}
	return out
}

// Defaults of Options.FailedPodBackoff and FailedPodBackoffMax: Kubernetes'
// Job controller waits 10 s before replacing a failed pod, doubling with
// every failure, up to 6 minutes.
const (
	DefaultFailedPodBackoff    = 10 * time.Second
	DefaultFailedPodBackoffMax = 6 * time.Minute
)

// failureBackoff delays the replacement of failed pods, per key: base after
// the first failure, doubling with each further one, up to max. A delay runs
// from when this controller saw the failure, not from the finish time a
// node wrote with its own clock. It is kept in memory: a new leader starts
// the wait again, which errs on the side of waiting.
type failureBackoff struct {
	base, max time.Duration

	mu sync.Mutex
	m  map[string]failureMark
}

type failureMark struct {
	failures int32
	at       time.Time
}

func newFailureBackoff(base, maxDelay time.Duration) *failureBackoff {
	return &failureBackoff{base: base, max: maxDelay, m: map[string]failureMark{}}
}

func (b *failureBackoff) delay(failures int32) time.Duration {
	d := b.base
	for i := int32(1); i < failures && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// observe records that key has seen failures so far and returns how long a
// replacement must still wait (<= 0: none).
func (b *failureBackoff) observe(key string, failures int32, now time.Time) time.Duration {
	if failures <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.m[key]
	if !ok || failures > m.failures {
		m = failureMark{failures: failures, at: now}
		b.m[key] = m
	}
	return m.at.Add(b.delay(m.failures)).Sub(now)
}

// step is for callers that count failures themselves, one per call: while
// the delay of the last failure runs it returns what is left; otherwise it
// records a new failure and returns 0.
func (b *failureBackoff) step(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.m[key]
	if ok {
		if left := m.at.Add(b.delay(m.failures)).Sub(now); left > 0 {
			return left
		}
	}
	b.m[key] = failureMark{failures: m.failures + 1, at: now}
	return 0
}

// forget drops key and every key under it ("key/...").
func (b *failureBackoff) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.m {
		if k == key || strings.HasPrefix(k, key+"/") {
			delete(b.m, k)
		}
	}
}
