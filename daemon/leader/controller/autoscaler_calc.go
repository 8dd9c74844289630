package controller

import (
	"fmt"
	"math"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// The arithmetic of Kubernetes' horizontal pod autoscaler
// (pkg/controller/podautoscaler): the replicas one resource metric asks
// for, the stabilization of recommendations, and the rate limits of
// spec.behavior. It is kept apart from the controller so that its tests
// feed it numbers.

// defaultTolerance is the change in usage ratio below which the
// autoscaler does not scale (Kubernetes' --horizontal-pod-autoscaler-tolerance).
const defaultTolerance = 0.1

// Default scaling rules, as Kubernetes sets them: scale up at once by
// 4 pods or 100% per 15 s, whichever is more; scale down to the highest
// recommendation of the last 5 minutes, by up to 100% per 15 s.
const defaultScaleDownWindow = 300 * time.Second

var (
	defaultScaleUpPolicies = []api.HPAScalingPolicy{{Type: api.ScalingPolicyPods, Value: 4, PeriodSeconds: 15},
		{Type: api.ScalingPolicyPercent, Value: 100, PeriodSeconds: 15}}
	defaultScaleDownPolicies = []api.HPAScalingPolicy{{Type: api.ScalingPolicyPercent, Value: 100, PeriodSeconds: 15}}
)

// tolerances are the dead band around a usage ratio of 1.
type tolerances struct{ down, up float64 }

func (t tolerances) within(ratio float64) bool { return ratio >= 1-t.down && ratio <= 1+t.up }

// podSample is what the calculation knows of one pod for one metric.
type podSample struct {
	name string
	// ready: for CPU, a pod that is not ready is left out when scaling up
	// (its usage while starting says nothing).
	ready bool
	// usage and request are in thousandths (millicores, millibytes);
	// hasUsage is false for a pod without metrics yet.
	usage, request int64
	hasUsage       bool
	// missingRequest names the container without a request, if any.
	missingRequest string
}

// metricTarget is one metric's target: a utilization (percent of the
// requests) or an average value in thousandths.
type metricTarget struct {
	utilization  int32
	averageMilli int64
}

// metricReading is the current value of a metric, for the status.
type metricReading struct {
	utilization  *int32
	averageMilli int64
}

// replicasFor is Kubernetes' GetResourceReplicas and GetRawResourceReplicas:
// the replicas that bring the pods' average to the target. cpu says
// whether unready pods are left out.
func replicasFor(current int32, pods []podSample, target metricTarget, cpu bool, tol tolerances) (int32, metricReading, error) {
	if len(pods) == 0 {
		return 0, metricReading{}, fmt.Errorf("no pods match the target's selector")
	}
	type entry struct{ usage, request int64 }
	metrics := map[string]entry{}
	var missing, unready []podSample
	for _, p := range pods {
		if target.utilization > 0 && p.missingRequest != "" {
			return 0, metricReading{}, fmt.Errorf("missing request for the metric's resource in container %s of pod %s", p.missingRequest, p.name)
		}
		switch {
		case !p.hasUsage:
			missing = append(missing, p)
		case cpu && !p.ready:
			unready = append(unready, p)
		default:
			metrics[p.name] = entry{p.usage, p.request}
		}
	}
	if len(metrics) == 0 {
		return 0, metricReading{}, fmt.Errorf("no metrics yet for the target's pods (they may be starting or not ready)")
	}
	ratio := func() (float64, metricReading, error) {
		var usage, requests int64
		for _, e := range metrics {
			usage += e.usage
			requests += e.request
		}
		avg := usage / int64(len(metrics))
		if target.utilization > 0 {
			if requests == 0 {
				return 0, metricReading{}, fmt.Errorf("the pods request none of the metric's resource")
			}
			u := int32(usage * 100 / requests)
			return float64(u) / float64(target.utilization), metricReading{utilization: &u, averageMilli: avg}, nil
		}
		return float64(avg) / float64(target.averageMilli), metricReading{averageMilli: avg}, nil
	}
	usageRatio, reading, err := ratio()
	if err != nil {
		return 0, metricReading{}, err
	}
	scaleUpWithUnready := len(unready) > 0 && usageRatio > 1
	if !scaleUpWithUnready && len(missing) == 0 {
		if tol.within(usageRatio) {
			return current, reading, nil
		}
		return int32(math.Ceil(usageRatio * float64(len(metrics)))), reading, nil
	}
	// Pods without metrics count as at the target when scaling down and
	// as idle when scaling up; unready pods as idle: the move is damped.
	for _, p := range missing {
		if usageRatio < 1 {
			if target.utilization > 0 {
				metrics[p.name] = entry{p.request * int64(target.utilization) / 100, p.request}
			} else {
				metrics[p.name] = entry{target.averageMilli, p.request}
			}
		} else {
			metrics[p.name] = entry{0, p.request}
		}
	}
	if scaleUpWithUnready {
		for _, p := range unready {
			metrics[p.name] = entry{0, p.request}
		}
	}
	newRatio, _, err := ratio()
	if err != nil {
		return 0, metricReading{}, err
	}
	if tol.within(newRatio) || (usageRatio < 1 && newRatio > 1) || (usageRatio > 1 && newRatio < 1) {
		return current, reading, nil
	}
	n := int32(math.Ceil(newRatio * float64(len(metrics))))
	if (newRatio < 1 && n > current) || (newRatio > 1 && n < current) {
		return current, reading, nil
	}
	return n, reading, nil
}

// timedValue is a recommendation or a scale event.
type timedValue struct {
	at    time.Time
	value int32
}

// maxHistory bounds the recommendations and events kept per autoscaler:
// more than an hour of 15 s syncs.
const maxHistory = 512

// scalingRules are one direction's rules with Kubernetes' defaults.
type scalingRules struct {
	window   time.Duration
	policies []api.HPAScalingPolicy
	selectP  string
}

func rulesOf(r *api.HPAScalingRules, defWindow time.Duration, defPolicies []api.HPAScalingPolicy) scalingRules {
	out := scalingRules{window: defWindow, policies: defPolicies, selectP: api.SelectPolicyMax}
	if r == nil {
		return out
	}
	if r.StabilizationWindowSeconds != nil {
		out.window = time.Duration(*r.StabilizationWindowSeconds) * time.Second
	}
	if len(r.Policies) > 0 {
		out.policies = r.Policies
	}
	if r.SelectPolicy != nil {
		out.selectP = *r.SelectPolicy
	}
	return out
}

// stabilize is Kubernetes' stabilizeRecommendationWithBehaviors: the
// recommendation is held between the lowest of the scale-up window and
// the highest of the scale-down window, so that a brief dip or peak does
// not move the replicas. It returns the history with desired added.
func stabilize(now time.Time, current, desired int32, history []timedValue, up, down scalingRules) (int32, []timedValue) {
	upRec, downRec := desired, desired
	upCutoff, downCutoff := now.Add(-up.window), now.Add(-down.window)
	keepAfter := upCutoff
	if downCutoff.Before(keepAfter) {
		keepAfter = downCutoff
	}
	kept := history[:0]
	for _, r := range history {
		if r.at.After(upCutoff) {
			upRec = min(upRec, r.value)
		}
		if r.at.After(downCutoff) {
			downRec = max(downRec, r.value)
		}
		if r.at.After(keepAfter) {
			kept = append(kept, r)
		}
	}
	rec := current
	if rec < upRec {
		rec = upRec
	}
	if rec > downRec {
		rec = downRec
	}
	kept = append(kept, timedValue{now, desired})
	if len(kept) > maxHistory {
		kept = kept[len(kept)-maxHistory:]
	}
	return rec, kept
}

// changeInPeriod sums the scale events of the last period.
func changeInPeriod(now time.Time, periodSeconds int32, events []timedValue) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var n int32
	for _, e := range events {
		if e.at.After(cutoff) {
			n += e.value
		}
	}
	return n
}

// scaleUpLimit is the most replicas the scale-up policies allow now.
func scaleUpLimit(now time.Time, current int32, events []timedValue, r scalingRules) int32 {
	if r.selectP == api.SelectPolicyDisabled {
		return current
	}
	result, pick := int32(math.MinInt32), func(a, b int32) int32 { return max(a, b) }
	if r.selectP == api.SelectPolicyMin {
		result, pick = math.MaxInt32, func(a, b int32) int32 { return min(a, b) }
	}
	for _, p := range r.policies {
		start := current - changeInPeriod(now, p.PeriodSeconds, events)
		proposed := start + p.Value
		if p.Type == api.ScalingPolicyPercent {
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// scaleDownLimit is the fewest replicas the scale-down policies allow now.
func scaleDownLimit(now time.Time, current int32, events []timedValue, r scalingRules) int32 {
	if r.selectP == api.SelectPolicyDisabled {
		return current
	}
	result, pick := int32(math.MaxInt32), func(a, b int32) int32 { return min(a, b) }
	if r.selectP == api.SelectPolicyMin {
		result, pick = math.MinInt32, func(a, b int32) int32 { return max(a, b) }
	}
	for _, p := range r.policies {
		start := current + changeInPeriod(now, p.PeriodSeconds, events)
		proposed := start - p.Value
		if p.Type == api.ScalingPolicyPercent {
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// limitRate is Kubernetes' convertDesiredReplicasWithBehaviorRate: the
// stabilized recommendation within the rate policies and the bounds, with
// the reason of a limit ("" for none).
func limitRate(now time.Time, current, desired, minR, maxR int32, upEvents, downEvents []timedValue, up, down scalingRules) (int32, string, string) {
	switch {
	case desired > current:
		limit := max(scaleUpLimit(now, current, upEvents, up), current)
		if maxR <= limit {
			if desired > maxR {
				return maxR, "TooManyReplicas", "the desired replica count is more than the maximum replica count"
			}
			return desired, "", ""
		}
		if desired > limit {
			return limit, "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
		}
	case desired < current:
		limit := min(scaleDownLimit(now, current, downEvents, down), current)
		if minR >= limit {
			if desired < minR {
				return minR, "TooFewReplicas", "the desired replica count is less than the minimum replica count"
			}
			return desired, "", ""
		}
		if desired < limit {
			return limit, "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
		}
	}
	return desired, "", ""
}
