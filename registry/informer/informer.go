package informer

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Source is where the informer lists and watches: the registry, as the
// agent wraps it (Nodes with their Ready condition from membership).
type Source interface {
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
}

// Options tune an Informer. Zero values take the defaults.
type Options struct {
	Log *slog.Logger
	// RetryMin and RetryMax bound the pause before a failed list or watch
	// is tried again.
	RetryMin, RetryMax time.Duration
	// CheckMutations keeps the encoding of every cached object and
	// compares it when the object is replaced, removed, or Verify is
	// called: a consumer that changed a shared object is reported (tests).
	CheckMutations bool
}

// Default retry pauses.
const (
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 5 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	return o
}

// Informer is the set of caches of one agent, one per kind, started on
// first use.
type Informer struct {
	src  Source
	opts Options

	mu      sync.Mutex
	caches  map[*api.Kind]*Cache
	ctx     context.Context // set by Run; nil before, and after it returned
	wg      sync.WaitGroup
	mutated *mutations
}

// New makes an informer over src; Run starts it.
func New(src Source, opts Options) *Informer {
	opts = opts.withDefaults()
	inf := &Informer{src: src, opts: opts, caches: map[*api.Kind]*Cache{}}
	if opts.CheckMutations {
		inf.mutated = &mutations{}
	}
	return inf
}

// Cache returns the cache of kind k, creating it on first use. A cache
// made while the informer runs starts at once; one made before starts with
// Run.
func (inf *Informer) Cache(k *api.Kind) *Cache {
	inf.mu.Lock()
	defer inf.mu.Unlock()
	c := inf.caches[k]
	if c == nil {
		c = newCache(inf, k)
		inf.caches[k] = c
		if inf.ctx != nil {
			inf.start(c)
		}
	}
	return c
}

func (inf *Informer) start(c *Cache) {
	ctx := inf.ctx
	inf.wg.Go(func() { c.follow(ctx) })
}

// Run keeps every cache in step with the source until ctx ends, then
// waits for their goroutines.
func (inf *Informer) Run(ctx context.Context) {
	inf.mu.Lock()
	if inf.ctx != nil {
		inf.mu.Unlock()
		panic("informer: Run called twice")
	}
	inf.ctx = ctx
	for _, c := range inf.caches {
		inf.start(c)
	}
	inf.mu.Unlock()
	<-ctx.Done()
	inf.wg.Wait()
}

// WaitForSync waits until the caches of the kinds have been filled by a
// first list, or ctx ends.
func (inf *Informer) WaitForSync(ctx context.Context, kinds ...*api.Kind) error {
	for _, k := range kinds {
		if err := inf.Cache(k).WaitForSync(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Verify reports the cached objects a consumer changed, when the informer
// checks mutations (Options.CheckMutations); nil otherwise.
func (inf *Informer) Verify() error {
	if inf.mutated == nil {
		return nil
	}
	inf.mu.Lock()
	caches := make([]*Cache, 0, len(inf.caches))
	for _, c := range inf.caches {
		caches = append(caches, c)
	}
	inf.mu.Unlock()
	for _, c := range caches {
		c.verifyAll()
	}
	return inf.mutated.err()
}

// Stats are counters of one kind's cache.
type Stats struct {
	Objects   int    `json:"objects"`   // cached now
	Events    uint64 `json:"events"`    // watch events taken in
	Relists   uint64 `json:"relists"`   // lists after the first (a watch ended)
	Listeners int    `json:"listeners"` // consumers following the kind
	Pending   int    `json:"pending"`   // changes waiting in the consumers' queues
}

// Stats returns the counters of every kind cached, by resource name.
func (inf *Informer) Stats() map[string]Stats {
	inf.mu.Lock()
	caches := make([]*Cache, 0, len(inf.caches))
	for _, c := range inf.caches {
		caches = append(caches, c)
	}
	inf.mu.Unlock()
	out := make(map[string]Stats, len(caches))
	for _, c := range caches {
		out[c.kind.Resource] = c.stats()
	}
	return out
}

// mutations collects the changes consumers made to shared objects.
type mutations struct {
	mu   sync.Mutex
	seen []string
}

func (m *mutations) add(what string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seen) < 100 {
		m.seen = append(m.seen, what)
	}
}

func (m *mutations) err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seen) == 0 {
		return nil
	}
	return fmt.Errorf("informer: %d shared object(s) changed by a consumer: %v", len(m.seen), m.seen)
}
