package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func samples(ready bool, request int64, usages ...int64) []podSample {
	out := make([]podSample, len(usages))
	for i, u := range usages {
		out[i] = podSample{name: fmt.Sprint("p", i), ready: ready, usage: u, request: request, hasUsage: u >= 0}
		if u < 0 {
			out[i].usage = 0
		}
	}
	return out
}

var tol10 = tolerances{down: 0.1, up: 0.1}

func TestReplicasForFollowsKubernetes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current int32
		pods    []podSample
		target  metricTarget
		cpu     bool
		want    int32
		util    int32 // -1: no utilization
		wantErr bool
	}{
		// 3 pods at 90% of a 50% target: ratio 1.8, ceil(1.8*3) = 6.
		{"scale up by the ratio", 3, samples(true, 100, 90, 90, 90), metricTarget{utilization: 50}, true, 6, 90, false},
		// 54%/50% = 1.08: within the 10% tolerance.
		{"within tolerance: no change", 3, samples(true, 100, 54, 54, 54), metricTarget{utilization: 50}, true, 3, 54, false},
		// 20%/50% = 0.4: ceil(0.4*4) = 2.
		{"scale down by the ratio", 4, samples(true, 100, 20, 20, 20, 20), metricTarget{utilization: 50}, true, 2, 20, false},
		{"an average value target", 2, samples(true, 0, 300, 300), metricTarget{averageMilli: 100}, false, 6, -1, false},
		// Scaling down with a pod without metrics: it counts at the
		// target (50), so (10+10+50)/300 = 23% -> ratio 0.46, ceil(0.46*3)
		// = 2 rather than ceil(0.2*2) = 1 without it.
		{"a pod without metrics damps a scale down", 3, samples(true, 100, 10, 10, -1), metricTarget{utilization: 50}, true, 2, 10, false},
		// Scaling up with a pod without metrics: it counts as idle:
		// (200+0)/200 = 100% -> ratio 2, ceil(2*2) = 4.
		{"a pod without metrics counts idle when scaling up", 2, samples(true, 100, 200, -1), metricTarget{utilization: 50}, true, 4, 200, false},
		{"no pods", 1, nil, metricTarget{utilization: 50}, true, 0, 0, true},
		{"no metrics at all", 2, samples(true, 100, -1, -1), metricTarget{utilization: 50}, true, 0, 0, true},
		{"a container without a request", 1, []podSample{{name: "a", ready: true, usage: 5, hasUsage: true, missingRequest: "app"}}, metricTarget{utilization: 50}, true, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reading, err := replicasFor(tc.current, tc.pods, tc.target, tc.cpu, tol10)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if got != tc.want {
				t.Errorf("replicas %d, want %d", got, tc.want)
			}
			if tc.util >= 0 && (reading.utilization == nil || *reading.utilization != tc.util) {
				t.Errorf("utilization %v, want %d", reading.utilization, tc.util)
			}
		})
	}
	// Unready pods are left out of a CPU scale up: 2 ready pods at 100%
	// of a 50% target and 2 unready ones counted idle: ratio 1, no move.
	pods := append(samples(true, 100, 100, 100), podSample{name: "u1", request: 100, usage: 900, hasUsage: true},
		podSample{name: "u2", request: 100, usage: 900, hasUsage: true})
	if got, _, _ := replicasFor(4, pods, metricTarget{utilization: 50}, true, tol10); got != 4 {
		t.Errorf("with unready pods: %d replicas, want 4 (their usage ignored, they count idle)", got)
	}
	// Memory counts every pod, ready or not.
	// 2000m used of 400m requested: 500% of 50% is 10 times, 40 pods.
	if got, _, _ := replicasFor(4, pods, metricTarget{utilization: 50}, false, tol10); got != 40 {
		t.Errorf("memory with unready pods: %d replicas, want 40", got)
	}
}

func TestStabilizationHoldsAScaleDownForTheWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	up := rulesOf(nil, 0, defaultScaleUpPolicies)
	down := rulesOf(nil, defaultScaleDownWindow, defaultScaleDownPolicies)
	var hist []timedValue
	rec, hist := stabilize(t0, 5, 5, hist, up, down)
	if rec != 5 {
		t.Fatalf("first recommendation %d", rec)
	}
	// Load drops: 2 is proposed, but 5 was recommended within 300 s.
	rec, hist = stabilize(t0.Add(60*time.Second), 5, 2, hist, up, down)
	if rec != 5 {
		t.Errorf("a minute later: %d, want 5 (held by the window)", rec)
	}
	rec, hist = stabilize(t0.Add(301*time.Second), 5, 2, hist, up, down)
	if rec != 2 {
		t.Errorf("after the window: %d, want 2", rec)
	}
	if len(hist) != 2 {
		t.Errorf("history keeps %d entries, want 2 (the old one pruned)", len(hist))
	}
	// A scale up is not held (window 0).
	if rec, _ = stabilize(t0.Add(302*time.Second), 2, 7, hist, up, down); rec != 7 {
		t.Errorf("scale up: %d, want 7", rec)
	}
	// A shortened window from spec.behavior.
	short := rulesOf(&api.HPAScalingRules{StabilizationWindowSeconds: api.Int32(10)}, defaultScaleDownWindow, defaultScaleDownPolicies)
	hist = nil
	_, hist = stabilize(t0, 5, 5, hist, up, short)
	if rec, _ = stabilize(t0.Add(11*time.Second), 5, 1, hist, up, short); rec != 1 {
		t.Errorf("10 s window: %d, want 1", rec)
	}
}

func TestRatePoliciesLimitAScale(t *testing.T) {
	now := time.Unix(1000, 0)
	up := rulesOf(nil, 0, defaultScaleUpPolicies)
	down := rulesOf(nil, defaultScaleDownWindow, defaultScaleDownPolicies)
	// From 1, the default allows max(1+4, 1*2) = 5.
	if got, reason, _ := limitRate(now, 1, 20, 1, 50, nil, nil, up, down); got != 5 || reason != "ScaleUpLimit" {
		t.Errorf("scale up from 1: %d %s, want 5 ScaleUpLimit", got, reason)
	}
	// From 10: max(14, 20) = 20.
	if got, _, _ := limitRate(now, 10, 30, 1, 50, nil, nil, up, down); got != 20 {
		t.Errorf("scale up from 10: %d, want 20", got)
	}
	// Bounded by maxReplicas.
	if got, reason, _ := limitRate(now, 3, 30, 1, 5, nil, nil, up, down); got != 5 || reason != "TooManyReplicas" {
		t.Errorf("scale past max: %d %s", got, reason)
	}
	// Bounded by minReplicas.
	if got, reason, _ := limitRate(now, 3, 0, 2, 5, nil, nil, up, down); got != 2 || reason != "TooFewReplicas" {
		t.Errorf("scale below min: %d %s", got, reason)
	}
	// Pods policy: 1 pod per 60 s, with one already added 30 s ago.
	onePod := rulesOf(&api.HPAScalingRules{Policies: []api.HPAScalingPolicy{{Type: api.ScalingPolicyPods, Value: 1, PeriodSeconds: 60}}}, 0, nil)
	events := []timedValue{{now.Add(-30 * time.Second), 1}}
	if got, _, _ := limitRate(now, 4, 9, 1, 50, events, nil, onePod, down); got != 4 {
		t.Errorf("one pod per minute, one added: %d, want 4", got)
	}
	disabled := rulesOf(&api.HPAScalingRules{SelectPolicy: strPtr(api.SelectPolicyDisabled)}, 0, defaultScaleDownPolicies)
	if got, _, _ := limitRate(now, 4, 1, 1, 50, nil, nil, up, disabled); got != 4 {
		t.Errorf("scale down disabled: %d, want 4", got)
	}
}

func strPtr(s string) *string { return &s }

type fakeMetrics struct {
	mu   sync.Mutex
	pods []api.PodMetrics
}

func (f *fakeMetrics) set(cpuMilli int64, names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pods = nil
	for _, n := range names {
		f.pods = append(f.pods, api.PodMetrics{ObjectMeta: api.ObjectMeta{Name: n, Namespace: "default"},
			Containers: []api.ContainerMetrics{{Name: "app", Usage: api.ResourceList{api.ResourceCPU: api.NewMilliQuantity(cpuMilli)}}}})
	}
}

func (f *fakeMetrics) PodMetrics(context.Context) ([]api.PodMetrics, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.PodMetrics(nil), f.pods...), nil
}

func TestAutoscalerScalesAReplicaSetUpAndDown(t *testing.T) {
	store := newTestStore(t)
	metrics := &fakeMetrics{}
	opts := fastOptions()
	opts.Metrics, opts.AutoscalerSyncPeriod = metrics, 100*time.Millisecond
	rec := startManager(t, store, opts)
	ctx := context.Background()
	labels := map[string]string{"app": "burn"}
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "burn", Namespace: "default"}, Spec: api.ReplicaSetSpec{Replicas: api.Int32(1),
		Selector: &api.LabelSelector{MatchLabels: labels}, Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img",
				Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("100m")}}}}}}}}
	if _, err := store.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(ctx, &api.HorizontalPodAutoscaler{ObjectMeta: api.ObjectMeta{Name: "burn", Namespace: "default"},
		Spec: api.HorizontalPodAutoscalerSpec{ScaleTargetRef: api.CrossVersionObjectReference{Kind: "ReplicaSet", Name: "burn", APIVersion: "apps/v1"},
			MinReplicas: api.Int32(1), MaxReplicas: 3,
			Metrics: []api.MetricSpec{{Type: api.MetricSourceResource, Resource: &api.ResourceMetricSource{Name: api.ResourceCPU,
				Target: api.MetricTarget{Type: api.MetricTargetUtilization, AverageUtilization: api.Int32(50)}}}},
			Behavior: &api.HorizontalPodAutoscalerBehavior{ScaleDown: &api.HPAScalingRules{StabilizationWindowSeconds: api.Int32(1)}}}}); err != nil {
		t.Fatal(err)
	}
	// The pods run and are ready; they burn 100m each, 100% of a 50% target.
	readyAll := func() []string {
		var names []string
		for _, p := range listPods(t, store, nil) {
			names = append(names, p.Name)
			if !api.IsPodReady(p) {
				p.Status = runningStatus(api.PodRunning, true, 0, time.Now())
				if _, err := store.UpdateStatus(ctx, p); err != nil && !api.IsConflict(err) && !api.IsNotFound(err) {
					t.Fatal(err)
				}
			}
		}
		return names
	}
	replicas := func() int32 {
		o, _ := store.Get(ctx, api.KindReplicaSet, "default", "burn")
		return *o.(*api.ReplicaSet).Spec.Replicas
	}
	poll.Until(t, 15*time.Second, "the autoscaler scales up to its maximum", func() error {
		metrics.set(100, readyAll()...)
		if n := replicas(); n != 3 {
			return fmt.Errorf("%d replicas", n)
		}
		return nil
	})
	o, _ := store.Get(ctx, api.KindHPA, "default", "burn")
	st := o.(*api.HorizontalPodAutoscaler).Status
	if len(st.CurrentMetrics) != 1 || st.CurrentMetrics[0].Resource == nil || st.CurrentMetrics[0].Resource.Current.AverageUtilization == nil {
		t.Fatalf("status without the current cpu utilization: %+v", st)
	}
	if c := api.FindCondition(st.Conditions, api.ConditionScalingActive); c == nil || c.Status != api.ConditionTrue {
		t.Errorf("ScalingActive: %+v", c)
	}
	// The load stops: back to one after the 1 s window.
	poll.Until(t, 15*time.Second, "the autoscaler scales down to its minimum", func() error {
		metrics.set(1, readyAll()...)
		if n := replicas(); n != 1 {
			return fmt.Errorf("%d replicas", n)
		}
		return nil
	})
	if len(rec.Find(ReasonSuccessfulRescale)) == 0 {
		t.Errorf("no %s event", ReasonSuccessfulRescale)
	}
}
