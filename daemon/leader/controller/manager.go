package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/daemon/events"

	"github.com/shoal-dev/shoal/daemon/leader/workqueue"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry/informer"
)

// Defaults of Options.
const (
	DefaultWorkers       = 4
	DefaultResyncPeriod  = 30 * time.Second
	DefaultGCGracePeriod = 5 * time.Second
	DefaultBurstReplicas = 500
)

// ErrAlreadyRunning is returned by Run while another Run of the same
// Manager has not returned.
var ErrAlreadyRunning = errors.New("controller: manager is already running")

// Options tune the controllers. Zero values take the defaults.
type Options struct {
	// Workers is the number of keys each controller syncs in parallel.
	Workers int
	// ResyncPeriod is how often every object is synced again, as a safety
	// net for anything the watches missed.
	ResyncPeriod time.Duration
	// ExpectationsTimeout is how long the ReplicaSet controller waits to
	// see the pods it created or deleted before it trusts the list again.
	ExpectationsTimeout time.Duration
	// GCGracePeriod is how long an owner must stay missing before the
	// garbage collector deletes its dependents: replication may deliver a
	// dependent before its owner.
	GCGracePeriod time.Duration
	// BackoffBase and BackoffMax bound the retry delay of a failing key.
	BackoffBase, BackoffMax time.Duration
	// BurstReplicas caps the pods one sync creates or deletes.
	BurstReplicas int
	// FailedPodBackoff and FailedPodBackoffMax bound the wait before a Job
	// or a DaemonSet replaces a failed pod: the first doubles with every
	// failure up to the second.
	FailedPodBackoff, FailedPodBackoffMax time.Duration
	// Metrics gives the pods' usage to the horizontal pod autoscaler; nil:
	// autoscalers report that no metrics are available.
	Metrics MetricsSource
	// AutoscalerSyncPeriod is how often each autoscaler is evaluated.
	AutoscalerSyncPeriod time.Duration
	// ReservedPorts lists the ports the agents listen on, which no
	// LoadBalancer Service may take on the nodes' addresses; nil: none.
	ReservedPorts func() []int32
	// Observer, when set, is told of every sync of every controller.
	Observer Observer
	// Now is the clock; time.Now by default.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.ResyncPeriod <= 0 {
		o.ResyncPeriod = DefaultResyncPeriod
	}
	if o.ExpectationsTimeout <= 0 {
		o.ExpectationsTimeout = DefaultExpectationsTimeout
	}
	if o.GCGracePeriod <= 0 {
		o.GCGracePeriod = DefaultGCGracePeriod
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = workqueue.DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = workqueue.DefaultBackoffMax
	}
	if o.BurstReplicas <= 0 {
		o.BurstReplicas = DefaultBurstReplicas
	}
	if o.FailedPodBackoff <= 0 {
		o.FailedPodBackoff = DefaultFailedPodBackoff
	}
	if o.FailedPodBackoffMax <= 0 {
		o.FailedPodBackoffMax = DefaultFailedPodBackoffMax
	}
	if o.AutoscalerSyncPeriod <= 0 {
		o.AutoscalerSyncPeriod = DefaultAutoscalerSyncPeriod
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Observer is told of the controllers' work, for the agent's metrics. It
// must not block.
type Observer interface {
	// ObserveSync: controller synced one key in took; err is its failure.
	ObserveSync(controller string, took time.Duration, err error)
}

// Manager runs every controller. The agent calls Run while its node leads and
// cancels the context when it stops leading; each Run starts from nothing
// (fresh queues and expectations) and reconciles everything first.
type Manager struct {
	store   Store
	cache   cache
	rec     Recorder
	log     *slog.Logger
	opts    Options
	running atomic.Bool
	loops   atomic.Pointer[[]*loop] // of the current Run, for QueueDepths
}

// NewManager makes a Manager that reads from inf, the agent's informer,
// and writes to store. A nil recorder drops events; a nil logger discards
// logs.
func NewManager(store Store, inf *informer.Informer, rec Recorder, log *slog.Logger, opts Options) *Manager {
	if rec == nil {
		rec = events.NopRecorder{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := newCache(inf)
	return &Manager{store: recordingStore{Store: store, written: c.written}, cache: c, rec: rec, log: log, opts: opts.withDefaults()}
}

// Run runs the controllers until ctx ends, then waits for every goroutine it
// started and returns nil.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer m.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// No sync may decide on a half-filled cache (a ReplicaSet that sees
	// none of its pods would create them all again).
	if err := m.cache.inf.WaitForSync(ctx, readKinds()...); err != nil {
		return nil // ctx ended
	}
	rsc := newReplicaSetController(ctx, m.store, m.cache, m.rec, m.log, m.opts)
	dc := newDeploymentController(ctx, m.store, m.cache, m.rec, m.log, m.opts)
	// A rollout counts the pods a ReplicaSet is creating but nobody sees yet.
	dc.creating = rsc.exp.pendingCreations
	loops := []*loop{
		rsc.loop(),
		newReplicatedController(ctx, replicationControllerKind, m.store, m.cache, m.rec, m.log, m.opts).loop(),
		dc.loop(),
		newJobController(ctx, m.store, m.cache, m.rec, m.log, m.opts).loop(),
		newCronJobController(ctx, m.store, m.cache, m.rec, m.log, m.opts).loop(),
		newServiceAccountController(ctx, m.store, m.cache, m.log, m.opts).loop(),
		newDisruptionController(ctx, m.store, m.cache, m.log, m.opts).loop(),
		newAutoscalerController(ctx, m.store, m.cache, m.rec, m.log, m.opts).loop(),
		newDaemonSetController(ctx, m.store, m.cache, m.rec, m.log, m.opts).loop(),
		newStatefulSetController(ctx, m.store, m.cache, m.rec, m.log, m.opts).loop(),
		newEndpointsController(ctx, m.store, m.cache, m.log, m.opts).loop(),
		newLoadBalancerController(ctx, m.store, m.cache, m.rec, m.log, m.opts).loop(),
		newGarbageCollector(ctx, m.store, m.cache, m.log, m.opts).loop(),
		newComposeDepsController(ctx, m.store, m.cache, m.rec, m.log, m.opts).loop(),
		newVolumeBindingController(ctx, m.cache, m.rec, m.log, m.opts).loop(),
	}
	var wg sync.WaitGroup
	for _, l := range loops {
		l.observer = m.opts.Observer
	}
	m.loops.Store(&loops)
	defer m.loops.Store(nil)
	for _, l := range loops {
		l.start(ctx, &wg)
	}
	m.log.Info("controllers started", "workers", m.opts.Workers, "resync", m.opts.ResyncPeriod)
	<-ctx.Done()
	wg.Wait()
	m.log.Info("controllers stopped")
	return nil
}

// loop is the machinery every controller shares: informer handlers that
// enqueue keys, workers that sync them, and a periodic resync.
type loop struct {
	name    string
	cache   cache
	log     *slog.Logger
	queue   *workqueue.Queue
	workers int
	period  time.Duration
	watches []watchSpec
	sync    func(ctx context.Context, key string) error
	resync  func(ctx context.Context) error
	// observer, when set, is told of every sync.
	observer Observer
}

// QueueDepths reports the keys waiting in each controller's queue;
// nothing while the controllers do not run (on an agent that does not
// lead).
func (m *Manager) QueueDepths(yield func(name string, depth int)) {
	loops := m.loops.Load()
	if loops == nil {
		return
	}
	for _, l := range *loops {
		yield(l.name, l.queue.Len())
	}
}

// watchSpec names a kind to follow and the handler of its events. Handlers
// run on the informer's goroutine for this consumer, one event at a time,
// and must only enqueue; the objects are shared and must not be changed.
type watchSpec struct {
	kind   *api.Kind
	handle func(ctx context.Context, ev api.WatchEvent)
	// update, if set, takes the updates instead of handle, with the state
	// before.
	update func(ctx context.Context, old, obj api.Object)
}

func (l *loop) start(ctx context.Context, wg *sync.WaitGroup) {
	for _, w := range l.watches {
		// Every object present comes first as an add, so a loop that
		// starts (leadership moved here) reconciles everything.
		h := informer.Handler{
			OnAdd:    func(obj api.Object) { w.handle(ctx, api.WatchEvent{Type: api.Added, Object: obj}) },
			OnUpdate: func(_, obj api.Object) { w.handle(ctx, api.WatchEvent{Type: api.Modified, Object: obj}) },
			OnDelete: func(obj api.Object) { w.handle(ctx, api.WatchEvent{Type: api.Deleted, Object: obj}) },
		}
		if w.update != nil {
			h.OnUpdate = func(old, obj api.Object) { w.update(ctx, old, obj) }
		}
		done := l.cache.inf.Cache(w.kind).AddHandler(ctx, informer.Everything(), h)
		wg.Go(func() { <-done })
	}
	for range l.workers {
		wg.Go(func() { l.work(ctx) })
	}
	if l.resync != nil {
		wg.Go(func() { l.resyncEvery(ctx) })
	}
}

func (l *loop) work(ctx context.Context) {
	for {
		key, ok := l.queue.Get()
		if !ok {
			return
		}
		l.process(ctx, key)
	}
}

func (l *loop) process(ctx context.Context, key string) {
	defer l.queue.Done(key)
	start := time.Now()
	err := l.sync(ctx, key)
	if l.observer != nil && ctx.Err() == nil {
		l.observer.ObserveSync(l.name, time.Since(start), err)
	}
	if err == nil {
		l.queue.Forget(key)
		return
	}
	if ctx.Err() != nil {
		return
	}
	// A key that keeps failing is logged once, then only at debug level.
	if l.queue.NumRequeues(key) == 0 && !api.IsConflict(err) {
		l.log.Warn("sync failed; retrying with back-off", "key", key, "err", err)
	} else {
		l.log.Debug("sync failed again", "key", key, "attempt", l.queue.NumRequeues(key)+1, "err", err)
	}
	l.queue.AddRateLimited(key)
}

func (l *loop) resyncEvery(ctx context.Context) {
	t := time.NewTicker(l.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.resync(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("periodic resync failed", "err", err)
			}
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// enqueueAll adds the key of every object of kind k.
func enqueueAll(c cache, k *api.Kind, q *workqueue.Queue) error {
	for _, o := range c.list(k, "", nil) {
		q.Add(keyOf(o))
	}
	return nil
}
