package controller

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/leader/workqueue"
	"github.com/shoal-dev/shoal/registry/informer"
)

// disruptedPodTimeout is how long an evicted pod is counted as going away
// (not healthy) before the budget forgets the eviction, as Kubernetes'
// DeletionTimeout.
const disruptedPodTimeout = 2 * time.Minute

// disruptionController keeps each PodDisruptionBudget's status: how many
// of its pods are healthy, how many must be, and so how many evictions it
// allows now. It follows Kubernetes' disruption controller: with
// maxUnavailable or a percentage, the pods expected are the replicas of
// the pods' controllers; with a number minAvailable, the pods present.
type disruptionController struct {
	store Store
	cache cache
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue
}

func newDisruptionController(ctx context.Context, store Store, cache cache, log *slog.Logger, opts Options) *disruptionController {
	return &disruptionController{store: store, cache: cache, log: log.With("component", "disruption"), opts: opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax)}
}

func (c *disruptionController) loop() *loop {
	return &loop{
		name: "disruption", cache: c.cache, log: c.log, queue: c.queue,
		workers: 1, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: api.KindPodDisruptionBudget, handle: func(_ context.Context, ev api.WatchEvent) {
				if ev.Type != api.Deleted {
					c.queue.Add(keyOf(ev.Object))
				}
			}},
			{kind: api.KindPod, handle: func(_ context.Context, ev api.WatchEvent) { c.enqueueBudgetsOf(ev.Object.(*api.Pod)) }},
		},
		sync:   c.sync,
		resync: func(context.Context) error { return enqueueAll(c.cache, api.KindPodDisruptionBudget, c.queue) },
	}
}

func (c *disruptionController) enqueueBudgetsOf(pod *api.Pod) {
	for _, o := range c.cache.list(api.KindPodDisruptionBudget, pod.Namespace, nil) {
		if api.BudgetSelects(o.(*api.PodDisruptionBudget), pod) {
			c.queue.Add(keyOf(o))
		}
	}
}

func (c *disruptionController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindPodDisruptionBudget, ns, name)
	if !ok {
		return nil
	}
	pdb := informer.Copy(obj.(*api.PodDisruptionBudget))
	var pods []*api.Pod
	for _, o := range c.cache.list(api.KindPod, ns, nil) {
		if p := o.(*api.Pod); api.BudgetSelects(pdb, p) {
			pods = append(pods, p)
		}
	}
	now := c.opts.Now()
	st := BudgetStatus(pdb, pods, c.scaleOf, now)
	if jsonEqual(pdb.Status, st) {
		return nil
	}
	pdb.Status = st
	if _, err := c.store.UpdateStatus(ctx, pdb); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update status of poddisruptionbudget %s: %w", key, err)
	}
	// An eviction recorded now is forgotten after the timeout: look again then.
	for _, at := range st.DisruptedPods {
		c.queue.AddAfter(key, at.Add(disruptedPodTimeout).Sub(now)+time.Second)
	}
	return nil
}

// scaleOf returns the replicas a pod's controller wants, and that
// controller's key, following a ReplicaSet up to its Deployment.
func (c *disruptionController) scaleOf(pod *api.Pod) (string, int32, bool) {
	ref := pod.ControllerRef()
	if ref == nil {
		return "", 0, false
	}
	switch ref.Kind {
	case api.KindReplicaSet.Kind:
		o, ok := c.cache.get(api.KindReplicaSet, pod.Namespace, ref.Name)
		if !ok || o.GetObjectMeta().UID != ref.UID {
			return "", 0, false
		}
		rs := o.(*api.ReplicaSet)
		if dref := rs.ControllerRef(); dref != nil && dref.Kind == api.KindDeployment.Kind {
			if d, ok := c.cache.get(api.KindDeployment, pod.Namespace, dref.Name); ok && d.GetObjectMeta().UID == dref.UID {
				return "Deployment/" + dref.Name, replicasOf(d.(*api.Deployment).Spec.Replicas), true
			}
		}
		return "ReplicaSet/" + ref.Name, replicasOf(rs.Spec.Replicas), true
	default:
		if k, ok := api.LookupKind(ref.Kind); ok {
			if o, ok := c.cache.get(k, pod.Namespace, ref.Name); ok && o.GetObjectMeta().UID == ref.UID {
				if n, ok := workloadReplicas(o); ok {
					return ref.Kind + "/" + ref.Name, n, true
				}
			}
		}
		return "", 0, false
	}
}

// workloadReplicas reads spec.replicas of the workloads that have one.
func workloadReplicas(o api.Object) (int32, bool) {
	switch w := o.(type) {
	case *api.Deployment:
		return replicasOf(w.Spec.Replicas), true
	case *api.ReplicaSet:
		return replicasOf(w.Spec.Replicas), true
	case *api.StatefulSet:
		return replicasOf(w.Spec.Replicas), true
	case *api.ReplicationController:
		return replicasOf(w.Spec.Replicas), true
	}
	return 0, false
}

// BudgetStatus computes a budget's status from its pods. scale gives a
// pod's controller and the replicas it wants (false: none known, the pod
// counts as one expected pod by itself).
func BudgetStatus(pdb *api.PodDisruptionBudget, pods []*api.Pod, scale func(*api.Pod) (string, int32, bool), now time.Time) api.PodDisruptionBudgetStatus {
	st := api.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation}
	// Evictions still going on: not healthy, until the pod is gone or the
	// timeout passes.
	present := map[string]*api.Pod{}
	for _, p := range pods {
		present[p.Name] = p
	}
	for name, at := range pdb.Status.DisruptedPods {
		if p, ok := present[name]; ok && p.DeletionTimestamp == nil && now.Sub(at.Time) < disruptedPodTimeout {
			if st.DisruptedPods == nil {
				st.DisruptedPods = map[string]api.Time{}
			}
			st.DisruptedPods[name] = at
		}
	}
	for _, p := range pods {
		if p.DeletionTimestamp != nil || api.IsPodTerminal(p) {
			continue
		}
		if _, going := st.DisruptedPods[p.Name]; !going && api.IsPodReady(p) {
			st.CurrentHealthy++
		}
	}
	s := &pdb.Spec
	byCount := s.MaxUnavailable == nil && (s.MinAvailable == nil || !s.MinAvailable.IsString)
	if byCount {
		for _, p := range pods {
			if p.DeletionTimestamp == nil && !api.IsPodTerminal(p) {
				st.ExpectedPods++
			}
		}
	} else {
		seen := map[string]bool{}
		for _, p := range pods {
			if p.DeletionTimestamp != nil || api.IsPodTerminal(p) {
				continue
			}
			key, n, ok := scale(p)
			if !ok {
				st.ExpectedPods++
				continue
			}
			if !seen[key] {
				seen[key] = true
				st.ExpectedPods += n
			}
		}
	}
	switch {
	case s.MaxUnavailable != nil:
		v, err := s.MaxUnavailable.ScaledValue(int(st.ExpectedPods), true)
		if err == nil {
			st.DesiredHealthy = max(0, st.ExpectedPods-int32(v))
		} else {
			st.DesiredHealthy = st.ExpectedPods
		}
	case s.MinAvailable != nil && s.MinAvailable.IsString:
		v, err := s.MinAvailable.ScaledValue(int(st.ExpectedPods), true)
		if err == nil {
			st.DesiredHealthy = int32(min(v, math.MaxInt32))
		} else {
			st.DesiredHealthy = st.ExpectedPods
		}
	case s.MinAvailable != nil:
		st.DesiredHealthy = s.MinAvailable.IntVal
	}
	st.DisruptionsAllowed = max(0, st.CurrentHealthy-st.DesiredHealthy)
	cond := api.Condition{Type: api.ConditionDisruptionAllowed, Status: api.ConditionTrue, Reason: api.ReasonSufficientPods}
	if st.DisruptionsAllowed == 0 {
		cond.Status, cond.Reason = api.ConditionFalse, api.ReasonInsufficientPods
	}
	if old := api.FindCondition(pdb.Status.Conditions, cond.Type); old != nil && old.Status == cond.Status {
		cond.LastTransitionTime = old.LastTransitionTime
	} else {
		cond.LastTransitionTime = api.Time{Time: now}
	}
	st.Conditions = []api.Condition{cond}
	return st
}
