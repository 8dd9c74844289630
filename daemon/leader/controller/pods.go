package controller

import (
	"sort"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// isPodActive: a pod counts toward its controller's replicas until it has
// ended or is being deleted.
func isPodActive(p *api.Pod) bool {
	return !api.IsPodTerminal(p) && p.DeletionTimestamp == nil
}

// podReadyTime is when the pod's Ready condition last became True; zero if
// it is not ready.
func podReadyTime(p *api.Pod) (time.Time, bool) {
	c := api.FindCondition(p.Status.Conditions, api.PodReady)
	if c == nil || c.Status != api.ConditionTrue {
		return time.Time{}, false
	}
	return c.LastTransitionTime.Time, true
}

// isPodAvailable: ready for at least minReadySeconds, as Kubernetes counts it.
func isPodAvailable(p *api.Pod, minReadySeconds int32, now time.Time) bool {
	since, ready := podReadyTime(p)
	if !ready {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	return !since.IsZero() && since.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// availableIn is how long until a ready pod becomes available; ok is false
// for a pod that is not ready or already available.
func availableIn(p *api.Pod, minReadySeconds int32, now time.Time) (time.Duration, bool) {
	since, ready := podReadyTime(p)
	if !ready || minReadySeconds == 0 || since.IsZero() || isPodAvailable(p, minReadySeconds, now) {
		return 0, false
	}
	return since.Add(time.Duration(minReadySeconds) * time.Second).Sub(now), true
}

func maxRestarts(p *api.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// phaseOrdinal orders phases for deletion: pending (or not yet reported)
// before unknown before running.
func phaseOrdinal(phase string) int {
	switch phase {
	case api.PodUnknown:
		return 1
	case api.PodRunning:
		return 2
	default:
		return 0
	}
}

// lessUseful reports whether pod a should be deleted before pod b. It is the
// ranking of Kubernetes' controller.ActivePods (unscheduled before scheduled,
// pending before running, not ready before ready, ready for less time before
// ready for longer, more restarts before fewer, newer before older), ending
// with the name so that every node that computes it picks the same pods.
func lessUseful(a, b *api.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrdinal(a.Status.Phase), phaseOrdinal(b.Status.Phase); pa != pb {
		return pa < pb
	}
	ta, ra := podReadyTime(a)
	tb, rb := podReadyTime(b)
	if ra != rb {
		return !ra
	}
	if ra && !ta.Equal(tb) {
		return afterOrZero(ta, tb)
	}
	if ma, mb := maxRestarts(a), maxRestarts(b); ma != mb {
		return ma > mb
	}
	if ca, cb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ca.Equal(cb) {
		return afterOrZero(ca, cb)
	}
	return a.Name < b.Name
}

// afterOrZero: a zero time counts as the newest.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

// podsToDelete picks the n least useful pods.
func podsToDelete(pods []*api.Pod, n int) []*api.Pod {
	ranked := append([]*api.Pod(nil), pods...)
	sort.SliceStable(ranked, func(i, j int) bool { return lessUseful(ranked[i], ranked[j]) })
	if n > len(ranked) {
		n = len(ranked)
	}
	return ranked[:n]
}

// newPodFromTemplate makes the pod a workload creates: the template's
// labels, annotations and spec, owned by the workload.
func newPodFromTemplate(owner api.Object, t *api.PodTemplateSpec) (*api.Pod, error) {
	spec, err := deepCopy(t.Spec)
	if err != nil {
		return nil, err
	}
	m := owner.GetObjectMeta()
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{
			GenerateName:    m.Name + "-",
			Namespace:       m.Namespace,
			Labels:          copyMap(t.Labels),
			Annotations:     copyMap(t.Annotations),
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(owner)},
		},
		Spec: spec,
	}, nil
}
