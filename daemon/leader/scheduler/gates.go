package scheduler

import (
	"context"
	"fmt"

	"github.com/shoal-dev/shoal/api"
)

// ReasonSchedulingGated is the PodScheduled reason of a pod held back by
// its scheduling gates, as in Kubernetes.
const ReasonSchedulingGated = "SchedulingGated"

// gated records that a pod waits for its scheduling gates to be removed:
// it stays Pending, unbound, with PodScheduled False. The update that
// removes the last gate queues the pod again.
func (r *run) gated(ctx context.Context, pod *api.Pod) error {
	changed := api.SetCondition(&pod.Status.Conditions, api.Condition{Type: api.PodScheduled,
		Status: api.ConditionFalse, Reason: ReasonSchedulingGated,
		Message: "Scheduling is blocked due to non-empty scheduling gates", LastTransitionTime: api.NewTime(r.s.opts.Now())})
	if pod.Status.Phase == "" {
		pod.Status.Phase, changed = api.PodPending, true
	}
	if !changed {
		return nil
	}
	if _, err := r.s.store.UpdateStatus(ctx, pod); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update status of gated pod %s: %w", podKey(pod), err)
	}
	return nil
}
