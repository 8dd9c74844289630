package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/leader/workqueue"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry/informer"
)

// ReplicaSet condition and event reasons.
const (
	ReplicaSetReplicaFailure = "ReplicaFailure"
	ReasonFailedCreate       = "FailedCreate"
	ReasonFailedDelete       = "FailedDelete"
	ReasonSuccessfulCreate   = "SuccessfulCreate"
	ReasonSuccessfulDelete   = "SuccessfulDelete"
	ReasonSelectorInvalid    = "SelectorInvalid"
)

// replicaFailure is the error of creating or deleting pods; its reason goes
// into the ReplicaFailure condition.
type replicaFailure struct {
	reason string
	err    error
}

func (e *replicaFailure) Error() string { return e.err.Error() }
func (e *replicaFailure) Unwrap() error { return e.err }

// replicated adapts a kind whose objects each keep a number of pods of one
// template (ReplicaSet, ReplicationController) to the one controller that
// keeps them: the kinds differ only in how they spell their spec and status.
type replicated struct {
	kind *api.Kind
	// spec reads what the controller needs of an object of the kind.
	spec func(obj api.Object) replicaSpec
	// status reads an object's status; setStatus sets it on a copy.
	status    func(obj api.Object) api.ReplicaSetStatus
	setStatus func(obj api.Object, st api.ReplicaSetStatus)
}

// replicaSpec is the desired state of a replicated object.
type replicaSpec struct {
	replicas        int32
	minReadySeconds int32
	selector        *api.LabelSelector
	template        *api.PodTemplateSpec
}

var replicaSetKind = replicated{
	kind: api.KindReplicaSet,
	spec: func(obj api.Object) replicaSpec {
		rs := obj.(*api.ReplicaSet)
		return replicaSpec{replicas: replicasOf(rs.Spec.Replicas), minReadySeconds: rs.Spec.MinReadySeconds,
			selector: rs.Spec.Selector, template: &rs.Spec.Template}
	},
	status:    func(obj api.Object) api.ReplicaSetStatus { return obj.(*api.ReplicaSet).Status },
	setStatus: func(obj api.Object, st api.ReplicaSetStatus) { obj.(*api.ReplicaSet).Status = st },
}

// replicationControllerKind is the older core/v1 form: a plain map as the
// selector and a template that validation makes sure is there.
var replicationControllerKind = replicated{
	kind: api.KindReplicationController,
	spec: func(obj api.Object) replicaSpec {
		rc := obj.(*api.ReplicationController)
		t := rc.Spec.Template
		if t == nil {
			t = &api.PodTemplateSpec{}
		}
		return replicaSpec{replicas: replicasOf(rc.Spec.Replicas), minReadySeconds: rc.Spec.MinReadySeconds,
			selector: rc.Spec.LabelSelector(), template: t}
	},
	status: func(obj api.Object) api.ReplicaSetStatus {
		return api.ReplicaSetStatus(obj.(*api.ReplicationController).Status)
	},
	setStatus: func(obj api.Object, st api.ReplicaSetStatus) {
		obj.(*api.ReplicationController).Status = api.ReplicationControllerStatus(st)
	},
}

// replicaSetController keeps spec.replicas active pods for every object of
// its kind: ReplicaSets, or ReplicationControllers.
type replicaSetController struct {
	rk    replicated
	store Store
	cache cache
	rec   Recorder
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue
	exp   *expectations

	// pods is what the pod watch last saw of each pod, so that a
	// MODIFIED event can be compared with the state before it. Only the
	// pod watch goroutine touches it.
	pods *ownedPods
}

type seenPod struct {
	owner    string // key of the controlling ReplicaSet, or ""
	deleting bool
	labels   map[string]string
}

func newReplicaSetController(ctx context.Context, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *replicaSetController {
	return newReplicatedController(ctx, replicaSetKind, store, cache, rec, log, opts)
}

func newReplicatedController(ctx context.Context, rk replicated, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *replicaSetController {
	return &replicaSetController{
		rk:    rk,
		store: store,
		cache: cache,
		rec:   rec,
		log:   log.With("component", rk.kind.Singular),
		opts:  opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax),
		exp:   newExpectations(opts.ExpectationsTimeout, opts.Now),
		pods:  newOwnedPods(rk.kind),
	}
}

func (c *replicaSetController) loop() *loop {
	return &loop{
		name: c.rk.kind.Singular, cache: c.cache, log: c.log, queue: c.queue,
		workers: c.opts.Workers, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: c.rk.kind, handle: c.onReplicaSet},
			{kind: api.KindPod, handle: c.onPod},
		},
		sync:   c.sync,
		resync: func(context.Context) error { return enqueueAll(c.cache, c.rk.kind, c.queue) },
	}
}

func (c *replicaSetController) onReplicaSet(_ context.Context, ev api.WatchEvent) {
	key := keyOf(ev.Object)
	if ev.Type == api.Deleted {
		c.exp.forget(key)
		return
	}
	c.queue.Add(key)
}

func (c *replicaSetController) onPod(ctx context.Context, ev api.WatchEvent) {
	podHandler{pods: c.pods, creates: c.exp, deletes: c.exp, queue: c.queue, selecting: c.enqueueSelecting}.onPod(ctx, ev)
}

// enqueueSelecting queues the owners whose selector matches pod.
func (c *replicaSetController) enqueueSelecting(_ context.Context, pod *api.Pod) {
	for _, o := range c.cache.list(c.rk.kind, pod.Namespace, nil) {
		if sel, err := c.rk.spec(o).selector.AsSelector(); err == nil && !sel.Empty() && sel.Matches(pod.Labels) {
			c.queue.Add(keyOf(o))
		}
	}
}

// sync brings one owner's pods to its spec and writes its status.
func (c *replicaSetController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(c.rk.kind, ns, name)
	if !ok {
		c.exp.forget(key)
		return nil
	}
	rs := informer.Copy(obj) // its status is written below
	spec := c.rk.spec(rs)
	sel, err := spec.selector.AsSelector()
	if err != nil || sel.Empty() {
		// Validation keeps these out; retrying would not help.
		c.rec.Eventf(rs, api.EventWarning, ReasonSelectorInvalid, "Invalid selector: %v", err)
		return nil
	}
	// Whether the creations and deletions made are all seen is read before
	// the pods are: read after, a pod seen (and counted) between the two
	// reads would be missing from the list and made again.
	needsSync := c.exp.satisfied(key)
	owned, err := c.claimPods(ctx, rs, sel)
	if err != nil {
		return err
	}
	var manageErr error
	// A ReplicaSet being deleted (in the foreground: its pods first)
	// makes and removes nothing; its status stays true.
	if needsSync && rs.GetObjectMeta().DeletionTimestamp == nil {
		owned, manageErr = c.manageReplicas(ctx, key, rs, spec, owned)
	}
	if err := c.writeStatus(ctx, rs, c.calculateStatus(rs, spec, owned, manageErr)); err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	c.requeueForAvailability(key, spec, owned)
	return nil
}

// claimPods returns the active pods the ReplicaSet controls, after adopting
// matching orphans and releasing pods that no longer match. The pods come
// from the informer's owner and label indexes: those it owns and those its
// selector matches, never every pod of the namespace.
func (c *replicaSetController) claimPods(ctx context.Context, rs api.Object, sel api.Selector) ([]*api.Pod, error) {
	var active []api.Object
	for _, o := range c.cache.candidates(api.KindPod, rs, sel) {
		if isPodActive(o.(*api.Pod)) {
			active = append(active, o)
		}
	}
	claimed, err := newClaimer(c.store, rs, sel).claim(ctx, active)
	pods := make([]*api.Pod, len(claimed))
	for i, o := range claimed {
		pods[i] = o.(*api.Pod)
	}
	return pods, err
}

// manageReplicas creates or deletes pods so that spec.replicas are active,
// and returns the pods that are active afterwards.
func (c *replicaSetController) manageReplicas(ctx context.Context, key string, rs api.Object, spec replicaSpec, pods []*api.Pod) ([]*api.Pod, error) {
	diff := len(pods) - int(spec.replicas)
	switch {
	case diff < 0:
		created, err := c.createPods(ctx, key, rs, spec, min(-diff, c.opts.BurstReplicas))
		return append(pods, created...), err
	case diff > 0:
		return c.deletePods(ctx, key, rs, pods, min(diff, c.opts.BurstReplicas))
	}
	return pods, nil
}

// createPods creates n pods in slow-start batches, recording the creations
// as expected first so that no later sync creates them again.
func (c *replicaSetController) createPods(ctx context.Context, key string, rs api.Object, spec replicaSpec, n int) ([]*api.Pod, error) {
	c.exp.expectCreations(key, n)
	// A rollout may have scaled the ReplicaSet down since it was read. A
	// rollout counts the expected creations above, so reading the spec
	// again after announcing them finds every scale-down made before that
	// count: creating only up to the newer spec keeps the rollout's
	// bounds. The read is the store's, not the cache's: a foreground
	// delete removes the ReplicaSet and its pods at once, and the cache
	// may show the pods gone before the ReplicaSet (one watch per kind),
	// which would make their replacements for an owner already deleted.
	m := rs.GetObjectMeta()
	if obj, err := c.store.Get(ctx, c.rk.kind, m.Namespace, m.Name); err != nil || obj.GetObjectMeta().UID != m.UID ||
		obj.GetObjectMeta().DeletionTimestamp != nil {
		n = 0
	} else if now := c.rk.spec(obj).replicas; now < spec.replicas {
		n = max(0, n-int(spec.replicas-now))
	}
	for range c.exp.pendingCreations(key) - n {
		c.exp.creationObserved(key)
	}
	if n == 0 {
		c.queue.Add(key) // the newer spec gets a sync of its own
		return nil, nil
	}
	created, err := slowStartBatch(n, 1, func() (*api.Pod, error) {
		pod, err := newPodFromTemplate(rs, spec.template)
		if err != nil {
			return nil, err
		}
		obj, err := c.store.Create(ctx, pod)
		if err != nil {
			return nil, err
		}
		return obj.(*api.Pod), nil
	})
	// The creations that failed or never ran will not show in the watch.
	for range n - len(created) {
		c.exp.creationObserved(key)
	}
	for _, p := range created {
		c.rec.Eventf(rs, api.EventNormal, ReasonSuccessfulCreate, "Created pod: %s", p.Name)
	}
	if err != nil {
		c.rec.Eventf(rs, api.EventWarning, ReasonFailedCreate, "Error creating: %v", err)
		return created, &replicaFailure{reason: ReasonFailedCreate, err: fmt.Errorf("create pods for %s %s: %w", c.rk.kind.Singular, key, err)}
	}
	if len(created) > 0 {
		c.log.Debug("created pods", c.rk.kind.Singular, key, "count", len(created))
	}
	return created, nil
}

// deletePods deletes the n least useful pods, in parallel, and returns the
// pods that remain active.
func (c *replicaSetController) deletePods(ctx context.Context, key string, rs api.Object, pods []*api.Pod, n int) ([]*api.Pod, error) {
	victims := podsToDelete(pods, n)
	keys := make([]string, len(victims))
	for i, p := range victims {
		keys[i] = keyOf(p)
	}
	c.exp.expectDeletions(key, keys)
	errs := make([]error, len(victims))
	var wg sync.WaitGroup
	for i, p := range victims {
		wg.Go(func() {
			_, err := c.store.Delete(ctx, api.KindPod, p.Namespace, p.Name, api.DeleteOptions{UID: p.UID})
			if err != nil && !api.IsNotFound(err) {
				// The watch will not show a deletion that did not happen.
				c.exp.deletionObserved(key, keys[i])
				errs[i] = fmt.Errorf("delete pod %s: %w", keys[i], err)
				c.rec.Eventf(rs, api.EventWarning, ReasonFailedDelete, "Error deleting: %v", err)
				return
			}
			c.rec.Eventf(rs, api.EventNormal, ReasonSuccessfulDelete, "Deleted pod: %s", p.Name)
		})
	}
	wg.Wait()
	gone := map[string]bool{}
	for i, p := range victims {
		if errs[i] == nil {
			gone[p.UID] = true
		}
	}
	remain := make([]*api.Pod, 0, len(pods)-len(gone))
	for _, p := range pods {
		if !gone[p.UID] {
			remain = append(remain, p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return remain, &replicaFailure{reason: ReasonFailedDelete, err: err}
	}
	return remain, nil
}

// slowStartBatch calls fn count times: first once, then in parallel batches
// that double while every call succeeds, stopping at the first batch with an
// error. A broken template or a full cluster so costs one failed call, not
// count of them.
func slowStartBatch[T any](count, initial int, fn func() (T, error)) ([]T, error) {
	var out []T
	remaining := count
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		vals := make([]T, batch)
		errs := make([]error, batch)
		var wg sync.WaitGroup
		for i := range batch {
			wg.Go(func() { vals[i], errs[i] = fn() })
		}
		wg.Wait()
		for i := range batch {
			if errs[i] == nil {
				out = append(out, vals[i])
			}
		}
		if err := errors.Join(errs...); err != nil {
			return out, err
		}
		remaining -= batch
	}
	return out, nil
}

// calculateStatus counts the active pods the owner controls.
func (c *replicaSetController) calculateStatus(rs api.Object, spec replicaSpec, pods []*api.Pod, manageErr error) api.ReplicaSetStatus {
	now := c.opts.Now()
	st := api.ReplicaSetStatus{ObservedGeneration: rs.GetObjectMeta().Generation,
		Conditions: append([]api.Condition(nil), c.rk.status(rs).Conditions...)}
	templateSel := api.SelectorFromSet(spec.template.Labels)
	for _, p := range pods {
		st.Replicas++
		if templateSel.Matches(p.Labels) {
			st.FullyLabeledReplicas++
		}
		if api.IsPodReady(p) {
			st.ReadyReplicas++
		}
		if isPodAvailable(p, spec.minReadySeconds, now) {
			st.AvailableReplicas++
		}
	}
	var rf *replicaFailure
	if errors.As(manageErr, &rf) {
		api.SetCondition(&st.Conditions, api.Condition{Type: ReplicaSetReplicaFailure,
			Status: api.ConditionTrue, Reason: rf.reason, Message: rf.err.Error(), LastTransitionTime: api.NewTime(now)})
	} else if manageErr == nil {
		st.Conditions = removeCondition(st.Conditions, ReplicaSetReplicaFailure)
	}
	return st
}

func removeCondition(conds []api.Condition, typ string) []api.Condition {
	out := conds[:0:0]
	for _, c := range conds {
		if c.Type != typ {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// writeStatus writes the status only when it changed: every write is
// replicated to every node.
func (c *replicaSetController) writeStatus(ctx context.Context, rs api.Object, st api.ReplicaSetStatus) error {
	if jsonEqual(c.rk.status(rs), st) {
		return nil
	}
	c.rk.setStatus(rs, st)
	if _, err := c.store.UpdateStatus(ctx, rs); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update status of %s %s: %w", c.rk.kind.Singular, keyOf(rs), err)
	}
	return nil
}

// requeueForAvailability syncs again when the next ready pod has been ready
// for minReadySeconds: that moment brings no watch event.
func (c *replicaSetController) requeueForAvailability(key string, spec replicaSpec, pods []*api.Pod) {
	now := c.opts.Now()
	var next time.Duration
	for _, p := range pods {
		if d, ok := availableIn(p, spec.minReadySeconds, now); ok && (next == 0 || d < next) {
			next = d
		}
	}
	if next > 0 {
		c.queue.AddAfter(key, next+10*time.Millisecond)
	}
}
