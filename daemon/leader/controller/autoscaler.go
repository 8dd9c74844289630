package controller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/leader/workqueue"
	"github.com/shoal-dev/shoal/registry/informer"
)

// MetricsSource gives the pods' last measured usage (the resource
// metrics API's PodMetrics, cluster-wide).
type MetricsSource interface {
	PodMetrics(ctx context.Context) ([]api.PodMetrics, error)
}

// DefaultAutoscalerSyncPeriod is how often each autoscaler is evaluated,
// as Kubernetes' --horizontal-pod-autoscaler-sync-period.
const DefaultAutoscalerSyncPeriod = 15 * time.Second

// Reasons of the autoscaler's events and conditions, as Kubernetes names
// them.
const (
	ReasonSuccessfulRescale       = "SuccessfulRescale"
	ReasonFailedGetScale          = "FailedGetScale"
	ReasonFailedRescale           = "FailedRescale"
	ReasonFailedGetResourceMetric = "FailedGetResourceMetric"
	ReasonFailedComputeReplicas   = "FailedComputeMetricsReplicas"
)

// autoscalerController runs Kubernetes' horizontal pod autoscaling: every
// sync period it reads the target's pods' usage, computes the replicas
// each metric asks for, keeps the largest, stabilizes and rate-limits it
// by spec.behavior, writes spec.replicas of the target and the status.
type autoscalerController struct {
	store   Store
	cache   cache
	rec     Recorder
	log     *slog.Logger
	opts    Options
	queue   *workqueue.Queue
	metrics MetricsSource

	// history holds each autoscaler's recommendations and scale events
	// (by key) for the stabilization window and the rate policies. It
	// lives as long as this leader's run, as in Kubernetes' controller
	// manager; a new leader starts without it.
	mu      sync.Mutex
	history map[string]*scaleHistory
}

type scaleHistory struct {
	uid             string
	recommendations []timedValue
	ups, downs      []timedValue
}

func newAutoscalerController(ctx context.Context, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *autoscalerController {
	return &autoscalerController{store: store, cache: cache, rec: rec, log: log.With("component", "horizontal-pod-autoscaler"), opts: opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax), metrics: opts.Metrics, history: map[string]*scaleHistory{}}
}

func (c *autoscalerController) loop() *loop {
	return &loop{
		name: "horizontal-pod-autoscaler", cache: c.cache, log: c.log, queue: c.queue,
		workers: 1, period: c.opts.ResyncPeriod,
		watches: []watchSpec{{kind: api.KindHPA,
			handle: func(_ context.Context, ev api.WatchEvent) {
				if ev.Type == api.Deleted {
					c.forget(keyOf(ev.Object))
					return
				}
				c.queue.Add(keyOf(ev.Object))
			},
			// Its own status writes do not trigger a sync: the period does.
			update: func(_ context.Context, old, obj api.Object) {
				if old.GetObjectMeta().Generation != obj.GetObjectMeta().Generation {
					c.queue.Add(keyOf(obj))
				}
			},
		}},
		sync: c.sync,
		// Each key comes back every sync period by itself; the resync is the
		// safety net, as for every controller.
		resync: func(context.Context) error { return enqueueAll(c.cache, api.KindHPA, c.queue) },
	}
}

func (c *autoscalerController) forget(key string) {
	c.mu.Lock()
	delete(c.history, key)
	c.mu.Unlock()
}

// historyOf returns the history of an autoscaler, a fresh one if the
// object was deleted and made again under the same name.
func (c *autoscalerController) historyOf(key, uid string) *scaleHistory {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.history[key]
	if h == nil || h.uid != uid {
		h = &scaleHistory{uid: uid}
		c.history[key] = h
	}
	return h
}

func (c *autoscalerController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindHPA, ns, name)
	if !ok {
		c.forget(key)
		return nil
	}
	hpa := informer.Copy(obj.(*api.HorizontalPodAutoscaler))
	err := c.reconcile(ctx, key, hpa)
	c.queue.AddAfter(key, c.opts.AutoscalerSyncPeriod)
	return err
}

func (c *autoscalerController) reconcile(ctx context.Context, key string, hpa *api.HorizontalPodAutoscaler) error {
	now := c.opts.Now()
	st := hpa.Status
	st.ObservedGeneration = &hpa.Generation
	cond := func(t, status, reason, msg string) {
		api.SetCondition(&st.Conditions, api.Condition{Type: t, Status: status, Reason: reason, Message: msg,
			LastTransitionTime: api.Time{Time: now.UTC().Truncate(time.Second)}})
	}
	ref := hpa.Spec.ScaleTargetRef
	target, current, sel, err := c.target(hpa.Namespace, ref)
	if err != nil {
		cond(api.ConditionAbleToScale, api.ConditionFalse, ReasonFailedGetScale, fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err))
		c.rec.Eventf(hpa, api.EventWarning, ReasonFailedGetScale, "%v", err)
		return c.writeStatus(ctx, hpa, st)
	}
	st.CurrentReplicas = current
	minR, maxR := replicasOf(hpa.Spec.MinReplicas), hpa.Spec.MaxReplicas
	desired := current
	limitReason, limitMsg := "", ""
	switch {
	case current == 0 && minR != 0:
		// Scaled to zero by hand: autoscaling is off until it is scaled up.
		st.DesiredReplicas, st.CurrentMetrics = 0, nil
		cond(api.ConditionScalingActive, api.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
		return c.writeStatus(ctx, hpa, st)
	case current > maxR:
		desired, limitReason, limitMsg = maxR, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
	case current < minR:
		desired, limitReason, limitMsg = minR, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
	default:
		proposal, statuses, reason, err := c.computeReplicas(ctx, hpa, current, sel)
		st.CurrentMetrics = statuses
		if err != nil {
			cond(api.ConditionScalingActive, api.ConditionFalse, reason, err.Error())
			cond(api.ConditionAbleToScale, api.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")
			c.rec.Eventf(hpa, api.EventWarning, reason, "%v", err)
			st.DesiredReplicas = current
			return c.writeStatus(ctx, hpa, st)
		}
		cond(api.ConditionScalingActive, api.ConditionTrue, "ValidMetricFound",
			"the HPA was able to successfully calculate a replica count from the metrics")
		desired, limitReason, limitMsg = c.normalize(now, key, hpa, current, proposal, minR, maxR)
	}
	if limitReason != "" {
		cond(api.ConditionScalingLimited, api.ConditionTrue, limitReason, limitMsg)
	} else {
		cond(api.ConditionScalingLimited, api.ConditionFalse, "DesiredWithinRange", "the desired count is within the acceptable range")
	}
	st.DesiredReplicas = desired
	if desired != current {
		if err := c.scale(ctx, target, desired); err != nil {
			cond(api.ConditionAbleToScale, api.ConditionFalse, "FailedUpdateScale", fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err))
			c.rec.Eventf(hpa, api.EventWarning, ReasonFailedRescale, "New size: %d; error: %v", desired, err)
			_ = c.writeStatus(ctx, hpa, st)
			return err
		}
		c.recordScale(key, hpa.UID, now, desired-current)
		c.rec.Eventf(hpa, api.EventNormal, ReasonSuccessfulRescale, "New size: %d; reason: %s", desired, scaleReason(desired, current, limitReason))
		c.log.Info("rescaled", "hpa", key, "target", ref.Kind+"/"+ref.Name, "from", current, "to", desired)
		st.LastScaleTime = &api.Time{Time: now.UTC().Truncate(time.Second)}
		st.CurrentReplicas = current
		cond(api.ConditionAbleToScale, api.ConditionTrue, "SucceededRescale", "the HPA controller was able to update the target scale")
	} else {
		cond(api.ConditionAbleToScale, api.ConditionTrue, "ReadyForNewScale", "recommended size matches current size")
	}
	return c.writeStatus(ctx, hpa, st)
}

func scaleReason(desired, current int32, limit string) string {
	switch {
	case limit == "TooFewReplicas":
		return "Current number of replicas below Spec.MinReplicas"
	case limit == "TooManyReplicas":
		return "Current number of replicas above Spec.MaxReplicas"
	case desired > current:
		return "All metrics above target"
	default:
		return "All metrics below target"
	}
}

func (c *autoscalerController) writeStatus(ctx context.Context, hpa *api.HorizontalPodAutoscaler, st api.HorizontalPodAutoscalerStatus) error {
	if st.CurrentMetrics == nil {
		st.CurrentMetrics = []api.MetricStatus{}
	}
	if jsonEqual(hpa.Status, st) {
		return nil
	}
	hpa.Status = st
	if _, err := c.store.UpdateStatus(ctx, hpa); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update status of horizontalpodautoscaler %s/%s: %w", hpa.Namespace, hpa.Name, err)
	}
	return nil
}

// target reads the workload an autoscaler scales: its replicas and the
// selector of its pods.
func (c *autoscalerController) target(ns string, ref api.CrossVersionObjectReference) (api.Object, int32, api.Selector, error) {
	var k *api.Kind
	switch ref.Kind {
	case "Deployment":
		k = api.KindDeployment
	case "ReplicaSet":
		k = api.KindReplicaSet
	case "StatefulSet":
		k = api.KindStatefulSet
	default:
		return nil, 0, nil, fmt.Errorf("kind %q has no scale subresource (scale a Deployment, ReplicaSet or StatefulSet)", ref.Kind)
	}
	o, ok := c.cache.get(k, ns, ref.Name)
	if !ok {
		return nil, 0, nil, fmt.Errorf("%s %s/%s not found", k.Resource, ns, ref.Name)
	}
	var ls *api.LabelSelector
	var replicas *int32
	switch w := o.(type) {
	case *api.Deployment:
		ls, replicas = w.Spec.Selector, w.Spec.Replicas
	case *api.ReplicaSet:
		ls, replicas = w.Spec.Selector, w.Spec.Replicas
	case *api.StatefulSet:
		ls, replicas = w.Spec.Selector, w.Spec.Replicas
	}
	if ls == nil {
		return nil, 0, nil, fmt.Errorf("%s %s/%s has no selector", k.Resource, ns, ref.Name)
	}
	sel, err := ls.AsSelector()
	if err != nil || len(sel) == 0 {
		return nil, 0, nil, fmt.Errorf("%s %s/%s has an invalid or empty selector", k.Resource, ns, ref.Name)
	}
	return o, replicasOf(replicas), sel, nil
}

// scale writes the target's spec.replicas.
func (c *autoscalerController) scale(ctx context.Context, target api.Object, replicas int32) error {
	switch w := target.(type) {
	case *api.Deployment:
		w = informer.Copy(w)
		w.Spec.Replicas = &replicas
		target = w
	case *api.ReplicaSet:
		w = informer.Copy(w)
		w.Spec.Replicas = &replicas
		target = w
	case *api.StatefulSet:
		w = informer.Copy(w)
		w.Spec.Replicas = &replicas
		target = w
	}
	_, err := c.store.Update(ctx, target)
	return err
}

// computeReplicas evaluates every metric and returns the largest
// proposal, with the metrics' current values. An error names the reason
// of the ScalingActive condition.
func (c *autoscalerController) computeReplicas(ctx context.Context, hpa *api.HorizontalPodAutoscaler, current int32, sel api.Selector) (int32, []api.MetricStatus, string, error) {
	if c.metrics == nil {
		return 0, nil, ReasonFailedGetResourceMetric, fmt.Errorf("this agent measures no resource usage")
	}
	all, err := c.metrics.PodMetrics(ctx)
	if err != nil {
		return 0, nil, ReasonFailedGetResourceMetric, fmt.Errorf("unable to get resource metrics: %w", err)
	}
	usageOf := map[string]*api.PodMetrics{}
	for i := range all {
		if m := &all[i]; m.Namespace == hpa.Namespace {
			usageOf[m.Name] = m
		}
	}
	var pods []*api.Pod
	for _, o := range c.cache.list(api.KindPod, hpa.Namespace, sel) {
		p := o.(*api.Pod)
		if p.DeletionTimestamp == nil && p.Status.Phase != api.PodFailed && p.Status.Phase != api.PodSucceeded {
			pods = append(pods, p)
		}
	}
	tol := tolerancesOf(hpa.Spec.Behavior)
	var proposal int32
	var statuses []api.MetricStatus
	for i, m := range hpa.Spec.Metrics {
		resource, container := "", ""
		var target api.MetricTarget
		switch {
		case m.Resource != nil:
			resource, target = m.Resource.Name, m.Resource.Target
		case m.ContainerResource != nil:
			resource, container, target = m.ContainerResource.Name, m.ContainerResource.Container, m.ContainerResource.Target
		default:
			return 0, statuses, ReasonFailedGetResourceMetric, fmt.Errorf("metric %d: only Resource and ContainerResource metrics are measured", i)
		}
		mt := metricTarget{}
		if target.AverageUtilization != nil {
			mt.utilization = *target.AverageUtilization
		} else if target.AverageValue != nil {
			mt.averageMilli = target.AverageValue.MilliValue()
		}
		samples := samplesOf(pods, usageOf, resource, container)
		n, reading, err := replicasFor(current, samples, mt, resource == api.ResourceCPU, tol)
		if err != nil {
			return 0, statuses, ReasonFailedGetResourceMetric, fmt.Errorf("failed to get %s utilization: %w", resource, err)
		}
		cur := api.MetricValueStatus{AverageUtilization: reading.utilization}
		avg := api.NewMilliQuantity(reading.averageMilli)
		if resource == api.ResourceMemory {
			avg = api.NewBytesQuantity((reading.averageMilli + 999) / 1000)
		}
		cur.AverageValue = &avg
		if container != "" {
			statuses = append(statuses, api.MetricStatus{Type: api.MetricSourceContainerResource,
				ContainerResource: &api.ContainerResourceMetricStatus{Name: resource, Container: container, Current: cur}})
		} else {
			statuses = append(statuses, api.MetricStatus{Type: api.MetricSourceResource,
				Resource: &api.ResourceMetricStatus{Name: resource, Current: cur}})
		}
		proposal = max(proposal, n)
	}
	return proposal, statuses, "", nil
}

// samplesOf reads, for each pod, its usage and request of one resource
// (of one container when named).
func samplesOf(pods []*api.Pod, usageOf map[string]*api.PodMetrics, resource, container string) []podSample {
	out := make([]podSample, 0, len(pods))
	for _, p := range pods {
		s := podSample{name: p.Name, ready: api.IsPodReady(p)}
		for _, ctr := range p.Spec.Containers {
			if container != "" && ctr.Name != container {
				continue
			}
			q, ok := ctr.Resources.Requests[resource]
			if !ok && s.missingRequest == "" {
				s.missingRequest = ctr.Name
			}
			s.request += q.MilliValue()
		}
		if m := usageOf[p.Name]; m != nil && (m.UID == "" || m.UID == p.UID) {
			for _, cm := range m.Containers {
				if container != "" && cm.Name != container {
					continue
				}
				q := cm.Usage[resource]
				s.usage += q.MilliValue()
				s.hasUsage = true
			}
		}
		out = append(out, s)
	}
	return out
}

func tolerancesOf(b *api.HorizontalPodAutoscalerBehavior) tolerances {
	t := tolerances{down: defaultTolerance, up: defaultTolerance}
	if b == nil {
		return t
	}
	if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
		t.up = float64(b.ScaleUp.Tolerance.MilliValue()) / 1000
	}
	if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
		t.down = float64(b.ScaleDown.Tolerance.MilliValue()) / 1000
	}
	return t
}

// normalize stabilizes a proposal and applies the rate policies and
// bounds of spec.behavior.
func (c *autoscalerController) normalize(now time.Time, key string, hpa *api.HorizontalPodAutoscaler, current, proposal, minR, maxR int32) (int32, string, string) {
	var upRules, downRules *api.HPAScalingRules
	if b := hpa.Spec.Behavior; b != nil {
		upRules, downRules = b.ScaleUp, b.ScaleDown
	}
	up := rulesOf(upRules, 0, defaultScaleUpPolicies)
	down := rulesOf(downRules, defaultScaleDownWindow, defaultScaleDownPolicies)
	h := c.historyOf(key, hpa.UID)
	c.mu.Lock()
	defer c.mu.Unlock()
	stable, recs := stabilize(now, current, proposal, h.recommendations, up, down)
	h.recommendations = recs
	h.ups, h.downs = pruneEvents(now, h.ups, up), pruneEvents(now, h.downs, down)
	return limitRate(now, current, stable, minR, maxR, h.ups, h.downs, up, down)
}

// pruneEvents drops the scale events older than every policy's period.
func pruneEvents(now time.Time, events []timedValue, r scalingRules) []timedValue {
	var longest int32
	for _, p := range r.policies {
		longest = max(longest, p.PeriodSeconds)
	}
	cutoff := now.Add(-time.Duration(longest) * time.Second)
	kept := events[:0]
	for _, e := range events {
		if e.at.After(cutoff) {
			kept = append(kept, e)
		}
	}
	if len(kept) > maxHistory {
		kept = kept[len(kept)-maxHistory:]
	}
	return kept
}

func (c *autoscalerController) recordScale(key, uid string, now time.Time, change int32) {
	h := c.historyOf(key, uid)
	c.mu.Lock()
	defer c.mu.Unlock()
	if change > 0 {
		h.ups = append(h.ups, timedValue{now, change})
	} else {
		h.downs = append(h.downs, timedValue{now, -change})
	}
}
