package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoal-dev/shoal/daemon/events"

	"github.com/shoal-dev/shoal/daemon/leader/workqueue"

	"github.com/shoal-dev/shoal/api"
)

// Event and condition reasons.
const (
	ReasonScheduled        = "Scheduled"
	ReasonFailedScheduling = "FailedScheduling"
	ReasonUnschedulable    = "Unschedulable"
)

// Defaults of Options.
const (
	DefaultBackoffBase   = time.Second
	DefaultBackoffMax    = 10 * time.Second
	DefaultEventInterval = time.Minute
	DefaultAssumeTTL     = 30 * time.Second
	// DefaultMaxBindsInFlight lets enough bindings wait on the disk at once
	// for the store to write them in a few commits, and bounds the
	// goroutines and assumptions a slow disk can pile up.
	DefaultMaxBindsInFlight = 64
)

// ErrAlreadyRunning is returned by Run while another Run has not returned.
var ErrAlreadyRunning = errors.New("scheduler: already running")

// errUnschedulable: no node fits the pod now; it is retried with back-off
// and whenever nodes or pods change.
var errUnschedulable = errors.New("scheduler: no node fits the pod")

// Options tune the scheduler. Zero values take the defaults.
type Options struct {
	// BackoffBase and BackoffMax bound the retry delay of a pod that fits
	// nowhere.
	BackoffBase, BackoffMax time.Duration
	// EventInterval is the least time between two FailedScheduling events
	// of one pod.
	EventInterval time.Duration
	// AssumeTTL is how long a pod this scheduler bound counts on its node
	// before the watch shows the binding.
	AssumeTTL time.Duration
	// MaxBindsInFlight bounds the bindings being written at once.
	MaxBindsInFlight int
	// Now is the clock; time.Now by default.
	Now func() time.Time
	// Observer, when set, is told of every attempt to place a pod.
	Observer Observer
}

// Observer is told of the scheduler's work, for the agent's metrics. It
// must not block.
type Observer interface {
	// ObserveAttempt: one pod was decided ("scheduled", "unschedulable"
	// or "error"), in took.
	ObserveAttempt(result string, took time.Duration)
}

func (o Options) withDefaults() Options {
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.EventInterval <= 0 {
		o.EventInterval = DefaultEventInterval
	}
	if o.AssumeTTL <= 0 {
		o.AssumeTTL = DefaultAssumeTTL
	}
	if o.MaxBindsInFlight <= 0 {
		o.MaxBindsInFlight = DefaultMaxBindsInFlight
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store is what the scheduler reads and writes; *registry.Registry (as
// the agent wraps it) satisfies it.
type Store interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
	UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error)
	// Bind sets a pod's spec.nodeName, once (the pods/binding
	// subresource): the scheduler writes no other field of the spec.
	Bind(ctx context.Context, ns, name string, b *api.Binding) (*api.Pod, error)
}

// Scheduler binds pending pods to nodes. The agent calls Run while its node
// leads and cancels the context when it stops leading.
type Scheduler struct {
	store   Store
	rec     events.Sink
	log     *slog.Logger
	opts    Options
	running atomic.Bool
	queue   atomic.Pointer[workqueue.Queue] // of the current Run, for QueueDepth
}

// New makes a Scheduler. A nil recorder drops events; a nil logger discards
// logs.
func New(store Store, rec events.Sink, log *slog.Logger, opts Options) *Scheduler {
	if rec == nil {
		rec = events.NopRecorder{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{store: store, rec: rec, log: log.With("component", "scheduler"), opts: opts.withDefaults()}
}

// Run schedules pods until ctx ends, then waits for its goroutines and
// returns nil. Each Run starts from a fresh view of the store.
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer s.running.Store(false)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &run{s: s, cache: newCache(s.opts.AssumeTTL, s.opts.Now),
		queue:     workqueue.NewWithBackoff(ctx, s.opts.BackoffBase, s.opts.BackoffMax),
		waiting:   map[string]struct{}{},
		lastEvent: map[string]time.Time{}}
	// Decisions need every node and every bound pod: load them before the
	// first one, so a pod is never placed on a half-known cluster.
	if err := r.prime(ctx); err != nil {
		return err
	}
	s.queue.Store(r.queue)
	defer s.queue.Store(nil)
	var wg sync.WaitGroup
	wg.Go(func() { r.watch(ctx, api.KindNode, r.onNode) })
	wg.Go(func() { r.watch(ctx, api.KindPod, r.onPod) })
	wg.Go(func() { r.watch(ctx, api.KindClaim, r.onClaim) })
	wg.Go(func() { r.watch(ctx, api.KindNamespace, r.onNamespace) })
	wg.Go(func() { r.work(ctx) })
	s.log.Info("scheduler started")
	<-ctx.Done()
	wg.Wait()
	s.log.Info("scheduler stopped")
	return nil
}

// run is the state of one Run.
type run struct {
	s     *Scheduler
	cache *cache
	queue *workqueue.Queue

	mu        sync.Mutex
	waiting   map[string]struct{}  // pods that fit nowhere at their last attempt
	lastEvent map[string]time.Time // last FailedScheduling event per pod
}

func (r *run) prime(ctx context.Context) error {
	nodes, _, err := r.s.store.List(ctx, api.KindNode, "", nil)
	if err != nil {
		return fmt.Errorf("scheduler: list nodes: %w", err)
	}
	for _, o := range nodes {
		r.cache.setNode(o.(*api.Node))
	}
	pods, _, err := r.s.store.List(ctx, api.KindPod, "", nil)
	if err != nil {
		return fmt.Errorf("scheduler: list pods: %w", err)
	}
	for _, o := range pods {
		r.cache.updatePod(o.(*api.Pod))
	}
	namespaces, _, err := r.s.store.List(ctx, api.KindNamespace, "", nil)
	if err != nil {
		return fmt.Errorf("scheduler: list namespaces: %w", err)
	}
	for _, o := range namespaces {
		r.cache.setNamespace(o.(*api.Namespace))
	}
	claims, _, err := r.s.store.List(ctx, api.KindClaim, "", nil)
	if err != nil {
		return fmt.Errorf("scheduler: list persistentvolumeclaims: %w", err)
	}
	for _, o := range claims {
		r.cache.setClaim(o.(*api.PersistentVolumeClaim))
	}
	return nil
}

// watch feeds one kind's events to handle, opening the watch again if it
// ends before ctx does (an ERROR event ends it when it fell behind): then
// it lists again, so that deletions missed meanwhile reach the cache too.
func (r *run) watch(ctx context.Context, k *api.Kind, handle func(api.WatchEvent)) {
	pause := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		var opts api.ListOptions
		var err error
		if !first { // the first watch follows prime's list
			opts.ResourceVersion, err = r.relist(ctx, k, handle)
		}
		var ch <-chan api.WatchEvent
		if err == nil {
			ch, err = r.s.store.Watch(ctx, k, "", opts)
		}
		if err != nil {
			r.s.log.Warn("watch failed; retrying", "kind", k.Kind, "in", pause, "err", err)
		} else {
			for ev := range ch {
				if ev.Object != nil && ev.Type != api.Error {
					handle(ev)
				}
			}
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// relist lists k and hands every object to handle as ADDED, and every
// cached one no longer listed as DELETED; it returns the list's version.
func (r *run) relist(ctx context.Context, k *api.Kind, handle func(api.WatchEvent)) (string, error) {
	objs, rv, err := r.s.store.List(ctx, k, "", nil)
	if err != nil {
		return "", err
	}
	for _, gone := range r.cache.absent(k, objs) {
		handle(api.WatchEvent{Type: api.Deleted, Object: gone})
	}
	for _, o := range objs {
		handle(api.WatchEvent{Type: api.Added, Object: o})
	}
	return rv, nil
}

func (r *run) onNode(ev api.WatchEvent) {
	n, ok := ev.Object.(*api.Node)
	if !ok {
		return
	}
	if ev.Type == api.Deleted {
		r.cache.deleteNode(n.Name)
	} else {
		r.cache.setNode(n)
	}
	r.retryWaiting()
}

// onClaim follows the PersistentVolumeClaims: a claim made, bound or
// deleted changes where its pods may go.
func (r *run) onClaim(ev api.WatchEvent) {
	c, ok := ev.Object.(*api.PersistentVolumeClaim)
	if !ok {
		return
	}
	if ev.Type == api.Deleted {
		r.cache.deleteClaim(c.Namespace + "/" + c.Name)
	} else {
		r.cache.setClaim(c)
	}
	r.retryWaiting()
}

// onNamespace follows the namespaces' labels: a label changed may change
// which pods a pod affinity term's namespaceSelector names.
func (r *run) onNamespace(ev api.WatchEvent) {
	ns, ok := ev.Object.(*api.Namespace)
	if !ok {
		return
	}
	if ev.Type == api.Deleted {
		r.cache.deleteNamespace(ns.Name)
	} else {
		r.cache.setNamespace(ns)
	}
	r.retryWaiting()
}

func (r *run) onPod(ev api.WatchEvent) {
	p, ok := ev.Object.(*api.Pod)
	if !ok {
		return
	}
	key := podKey(p)
	if ev.Type == api.Deleted {
		r.cache.deletePod(key)
		r.forget(key)
		r.retryWaiting()
		return
	}
	if r.cache.updatePod(p) {
		r.retryWaiting() // resources were freed
	}
	if needsScheduling(p) {
		r.queue.Add(key)
	}
}

// needsScheduling: not bound, not being deleted, not ended.
func needsScheduling(p *api.Pod) bool {
	return p.Spec.NodeName == "" && p.DeletionTimestamp == nil && !api.IsPodTerminal(p)
}

// retryWaiting queues every pod that fit nowhere: something changed that
// may make room.
func (r *run) retryWaiting() {
	r.mu.Lock()
	keys := make([]string, 0, len(r.waiting))
	for k := range r.waiting {
		keys = append(keys, k)
	}
	r.mu.Unlock()
	for _, k := range keys {
		r.queue.Add(k)
	}
}

func (r *run) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.waiting, key)
	delete(r.lastEvent, key)
}

// work decides one pod at a time against the cache, so that every decision
// counts the ones before it (placed pods are assumed on their node at
// once), and writes the bindings in the background, at most
// MaxBindsInFlight at a time: concurrent bindings share the store's commits.
// A pod's key stays taken in the queue until its binding is written, so no
// second attempt of the same pod starts meanwhile.
func (r *run) work(ctx context.Context) {
	slots := make(chan struct{}, r.s.opts.MaxBindsInFlight)
	var binds sync.WaitGroup
	defer binds.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		key, ok := r.queue.Get()
		if !ok {
			return
		}
		start := time.Now()
		assumed, err := r.schedule(ctx, key)
		r.observe(start, assumed, err)
		if assumed == nil {
			<-slots
			r.done(ctx, key, err)
			continue
		}
		binds.Go(func() {
			defer func() { <-slots }()
			r.done(ctx, key, r.bindAssumed(ctx, assumed))
		})
	}
}

// observe reports an attempt that decided something: a placement, a pod
// that fits nowhere, an error.
func (r *run) observe(start time.Time, assumed *api.Pod, err error) {
	o := r.s.opts.Observer
	if o == nil {
		return
	}
	switch {
	case assumed != nil:
		o.ObserveAttempt("scheduled", time.Since(start))
	case errors.Is(err, errUnschedulable):
		o.ObserveAttempt("unschedulable", time.Since(start))
	case err != nil:
		o.ObserveAttempt("error", time.Since(start))
	}
}

// QueueDepth reports the pods waiting in the queue of the running
// scheduler; nothing while it does not run (on an agent that does not
// lead).
func (s *Scheduler) QueueDepth(yield func(name string, depth int)) {
	if q := s.queue.Load(); q != nil {
		yield("scheduler", q.Len())
	}
}

// done ends an attempt of a pod: forgotten by the queue, or queued again
// with back-off.
func (r *run) done(ctx context.Context, key string, err error) {
	defer r.queue.Done(key)
	switch {
	case err == nil:
		r.queue.Forget(key)
	case ctx.Err() != nil:
	case errors.Is(err, errUnschedulable):
		r.queue.AddRateLimited(key)
	default:
		if r.queue.NumRequeues(key) == 0 && !api.IsConflict(err) {
			r.s.log.Warn("scheduling failed; retrying", "pod", key, "err", err)
		}
		r.queue.AddRateLimited(key)
	}
}

// schedule decides where one pod goes, reading it fresh from the store; a
// placed pod comes back assumed on its node (spec.nodeName set), to bind.
func (r *run) schedule(ctx context.Context, key string) (*api.Pod, error) {
	ns, name := splitKey(key)
	obj, err := r.s.store.Get(ctx, api.KindPod, ns, name)
	if api.IsNotFound(err) {
		r.forget(key)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get pod %s: %w", key, err)
	}
	pod := obj.(*api.Pod)
	if !needsScheduling(pod) {
		r.forget(key)
		return nil, nil
	}
	if len(pod.Spec.SchedulingGates) > 0 {
		r.forget(key) // its update without the gates queues it again
		return nil, r.gated(ctx, pod)
	}
	assumed, why := r.cache.place(pod)
	if assumed == nil {
		return nil, r.unschedulable(ctx, pod, why)
	}
	return assumed, nil
}

// bindAssumed writes the binding of a pod assumed on its node. Whatever
// keeps it from being written, the assumption is dropped, so that the node
// does not count a pod that is not there: the pod is decided again (or
// was bound, deleted or replaced meanwhile, and needs nothing more).
func (r *run) bindAssumed(ctx context.Context, assumed *api.Pod) error {
	key, node := podKey(assumed), assumed.Spec.NodeName
	err := r.bind(ctx, assumed, node)
	if err != nil {
		r.cache.unassume(assumed)
		r.retryWaiting() // the room it took is free again
		if errors.Is(err, errNotNeeded) {
			r.forget(key)
			return nil
		}
		return err
	}
	r.cache.bound(assumed)
	r.forget(key)
	r.s.rec.Eventf(assumed, api.EventNormal, ReasonScheduled, "Successfully assigned %s to %s", key, node)
	r.s.log.Debug("pod scheduled", "pod", key, "node", node)
	return nil
}

func splitKey(key string) (ns, name string) {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return "", key
	}
	return ns, name
}

// errNotNeeded: the pod no longer needs a node (bound, deleted or ended
// meanwhile): nothing to retry.
var errNotNeeded = errors.New("scheduler: the pod no longer needs a node")

// bind writes spec.nodeName through the binding subresource, which sets
// that field alone and only on a pod of that uid not yet bound. After a
// conflict it reads the pod again: if it still needs a node (another uid's
// pod of that name, or a change the binding raced with) the conflict is
// returned, and the pod decided again.
func (r *run) bind(ctx context.Context, pod *api.Pod, node string) error {
	b := &api.Binding{ObjectMeta: api.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target: api.ObjectReference{Kind: "Node", Name: node}}
	_, err := r.s.store.Bind(ctx, pod.Namespace, pod.Name, b)
	if err == nil {
		return nil
	}
	if api.IsNotFound(err) {
		return errNotNeeded
	}
	if !api.IsConflict(err) {
		return fmt.Errorf("bind pod %s to %s: %w", podKey(pod), node, err)
	}
	fresh, gerr := r.s.store.Get(ctx, api.KindPod, pod.Namespace, pod.Name)
	if api.IsNotFound(gerr) || gerr == nil && !needsScheduling(fresh.(*api.Pod)) {
		return errNotNeeded
	}
	return fmt.Errorf("bind pod %s to %s: %w", podKey(pod), node, err)
}

// unschedulable records why the pod fits nowhere: its PodScheduled
// condition (the pod has no node yet, so no other status writer) and a
// FailedScheduling event, at most once per EventInterval.
func (r *run) unschedulable(ctx context.Context, pod *api.Pod, msg string) error {
	key := podKey(pod)
	now := r.s.opts.Now()
	r.mu.Lock()
	r.waiting[key] = struct{}{}
	last, seen := r.lastEvent[key]
	emit := !seen || now.Sub(last) >= r.s.opts.EventInterval
	if emit {
		r.lastEvent[key] = now
	}
	r.mu.Unlock()
	if emit {
		r.s.rec.Eventf(pod, api.EventWarning, ReasonFailedScheduling, "%s", msg)
	}
	changed := api.SetCondition(&pod.Status.Conditions, api.Condition{Type: api.PodScheduled,
		Status: api.ConditionFalse, Reason: ReasonUnschedulable, Message: msg, LastTransitionTime: api.NewTime(now)})
	if pod.Status.Phase == "" {
		pod.Status.Phase, changed = api.PodPending, true
	}
	if changed {
		if _, err := r.s.store.UpdateStatus(ctx, pod); err != nil && !api.IsNotFound(err) {
			return fmt.Errorf("update status of pod %s: %w", key, err)
		}
	}
	r.s.log.Debug("pod fits no node", "pod", key, "why", msg)
	return errUnschedulable
}
