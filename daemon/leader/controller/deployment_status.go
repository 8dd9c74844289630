package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// calculateStatus sums the ReplicaSets' status into the Deployment's and
// sets the Available condition.
func (c *deploymentController) calculateStatus(r *rollout, all []*api.ReplicaSet, newRS *api.ReplicaSet) api.DeploymentStatus {
	d := r.d
	replicas, ready, available := statusSums(all)
	updated, _, _ := statusSums([]*api.ReplicaSet{newRS})
	st := api.DeploymentStatus{
		ObservedGeneration:  d.Generation,
		Replicas:            replicas,
		UpdatedReplicas:     updated,
		ReadyReplicas:       ready,
		AvailableReplicas:   available,
		UnavailableReplicas: max(specReplicas(all)-available, 0),
		CollisionCount:      d.Status.CollisionCount,
		Conditions:          append([]api.Condition(nil), d.Status.Conditions...),
	}
	if available >= replicasOf(d.Spec.Replicas)-maxUnavailable(d) {
		setDeploymentCondition(&st, newDeploymentCondition(api.DeploymentAvailable, api.ConditionTrue,
			ReasonMinimumReplicasAvailable, "Deployment has minimum availability.", r.now))
	} else {
		setDeploymentCondition(&st, newDeploymentCondition(api.DeploymentAvailable, api.ConditionFalse,
			ReasonMinimumReplicasUnavailable, "Deployment does not have minimum availability.", r.now))
	}
	return st
}

// syncDeploymentStatus writes the status without judging progress: for
// scaling and paused Deployments.
func (c *deploymentController) syncDeploymentStatus(ctx context.Context, r *rollout, all []*api.ReplicaSet, newRS *api.ReplicaSet) error {
	return c.writeStatus(ctx, r, c.calculateStatus(r, all, newRS))
}

// syncRolloutStatus writes the status of a rollout, judging its progress
// against progressDeadlineSeconds as Kubernetes' syncRolloutStatus does.
func (c *deploymentController) syncRolloutStatus(ctx context.Context, r *rollout, all []*api.ReplicaSet, newRS *api.ReplicaSet) error {
	d := r.d
	st := c.calculateStatus(r, all, newRS)
	if !hasProgressDeadline(d) {
		st.Conditions = removeCondition(st.Conditions, api.DeploymentProgressing)
	}
	cur := api.FindCondition(d.Status.Conditions, api.DeploymentProgressing)
	complete := st.Replicas == st.UpdatedReplicas && cur != nil && cur.Reason == ReasonNewReplicaSetAvailable
	if hasProgressDeadline(d) && !complete {
		c.judgeProgress(r, &st, newRS, cur)
	}
	if nf := newReplicaSetFailure(newRS, all); nf != nil {
		setDeploymentCondition(&st, *nf)
	} else {
		st.Conditions = removeCondition(st.Conditions, ReplicaSetReplicaFailure)
	}
	if jsonEqual(r.stored, st) {
		c.requeueStuck(r, st)
		return nil
	}
	return c.writeStatus(ctx, r, st)
}

// judgeProgress sets the Progressing condition: complete, progressing (the
// deadline starts again), or out of time.
func (c *deploymentController) judgeProgress(r *rollout, st *api.DeploymentStatus, newRS *api.ReplicaSet, cur *api.Condition) {
	d := r.d
	what := fmt.Sprintf("Deployment %q", d.Name)
	if newRS != nil {
		what = fmt.Sprintf("ReplicaSet %q", newRS.Name)
	}
	switch {
	case deploymentComplete(d, st):
		setDeploymentCondition(st, newDeploymentCondition(api.DeploymentProgressing, api.ConditionTrue,
			ReasonNewReplicaSetAvailable, what+" has successfully progressed.", r.now))
	case deploymentProgressing(d, st):
		// Progress renews lastUpdateTime even when the reason stays.
		cond := newDeploymentCondition(api.DeploymentProgressing, api.ConditionTrue, ReasonReplicaSetUpdated, what+" is progressing.", r.now)
		if cur != nil && cur.Status == api.ConditionTrue {
			cond.LastTransitionTime = cur.LastTransitionTime
		}
		st.Conditions = append(removeCondition(st.Conditions, api.DeploymentProgressing), cond)
	case deploymentTimedOut(d, st, r.now):
		if cur == nil || cur.Reason != ReasonProgressDeadlineExceeded {
			c.rec.Eventf(d, api.EventWarning, ReasonProgressDeadlineExceeded, "%s has timed out progressing.", what)
		}
		setDeploymentCondition(st, newDeploymentCondition(api.DeploymentProgressing, api.ConditionFalse,
			ReasonProgressDeadlineExceeded, what+" has timed out progressing.", r.now))
	}
}

// newReplicaSetFailure carries a ReplicaFailure of the new ReplicaSet (or
// else of an old one) up to the Deployment.
func newReplicaSetFailure(newRS *api.ReplicaSet, all []*api.ReplicaSet) *api.Condition {
	for _, rs := range append([]*api.ReplicaSet{newRS}, all...) {
		if rs == nil {
			continue
		}
		if f := api.FindCondition(rs.Status.Conditions, ReplicaSetReplicaFailure); f != nil {
			c := *f
			c.LastUpdateTime = c.LastTransitionTime
			return &c
		}
	}
	return nil
}

// requeueStuck syncs the Deployment again when its progress deadline would
// pass: nothing else happens to a rollout that is stuck.
func (c *deploymentController) requeueStuck(r *rollout, st api.DeploymentStatus) {
	d := r.d
	cur := api.FindCondition(d.Status.Conditions, api.DeploymentProgressing)
	if !hasProgressDeadline(d) || cur == nil || deploymentComplete(d, &st) || cur.Reason == ReasonProgressDeadlineExceeded {
		return
	}
	deadline := cur.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	c.queue.AddAfter(keyOf(d), max(deadline.Sub(r.now), 0)+50*time.Millisecond)
}

// writeStatus writes st if it differs from the status as read.
func (c *deploymentController) writeStatus(ctx context.Context, r *rollout, st api.DeploymentStatus) error {
	if jsonEqual(r.stored, st) {
		return nil
	}
	r.d.Status = st
	if _, err := c.store.UpdateStatus(ctx, r.d); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update status of deployment %s: %w", keyOf(r.d), err)
	}
	stored, err := deepCopy(st)
	if err != nil {
		return err
	}
	r.stored = stored
	return nil
}
