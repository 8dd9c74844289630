package controller

import (
	"sync"
	"time"
)

// DefaultExpectationsTimeout is how long a controller waits for the watch to
// show the pods it created or deleted before it trusts the store's list again.
const DefaultExpectationsTimeout = time.Minute

// expectations remember, per controller key, the creations and deletions a
// sync made that the watch has not shown yet, as Kubernetes'
// ControllerExpectations do. While some are outstanding a later sync of the
// same key must not act on the pod list, which may not include them yet, or
// it would create (or delete) the same pods twice.
type expectations struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds int
	dels map[string]struct{} // keys of the pods being deleted
	at   time.Time
}

func newExpectations(ttl time.Duration, now func() time.Time) *expectations {
	return &expectations{ttl: ttl, now: now, m: map[string]*expectation{}}
}

// satisfied reports whether key may act: nothing is outstanding, or what is
// outstanding has waited longer than the timeout (a missed watch event must
// not block the controller forever).
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.dels) == 0 {
		return true
	}
	return e.now().Sub(x.at) > e.ttl
}

// expectCreations records that n pods are about to be created for key.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, dels: map[string]struct{}{}, at: e.now()}
}

// expectDeletions records that the pods are about to be deleted for key.
func (e *expectations) expectDeletions(key string, pods []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{dels: make(map[string]struct{}, len(pods)), at: e.now()}
	for _, p := range pods {
		x.dels[p] = struct{}{}
	}
	e.m[key] = x
}

// creationObserved lowers the creations expected for key by one: the watch
// showed one, or a create failed and will not show.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// deletionObserved marks pod as gone (or going) for key.
func (e *expectations) deletionObserved(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.dels, pod)
	}
}

// pendingCreations is how many creations for key the watch has not shown
// yet (0 once they have waited longer than the timeout).
func (e *expectations) pendingCreations(key string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || x.adds <= 0 || e.now().Sub(x.at) > e.ttl {
		return 0
	}
	return x.adds
}

// forget drops everything recorded for key, when its object is deleted.
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
