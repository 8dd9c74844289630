package controller

import (
	"context"

	"github.com/shoal-dev/shoal/api"
)

// rolloutRolling is Kubernetes' rolling update: scale the new ReplicaSet up
// as far as maxSurge allows, else scale old ones down as far as
// maxUnavailable allows, one step per sync; the watches bring the next sync.
//
// Where Kubernetes reads the ReplicaSets' status, the steps here count the
// pods themselves (see rollout.upperBound and rollout.available), so that a
// status not yet written can never push the rollout past its bounds.
func (c *deploymentController) rolloutRolling(ctx context.Context, r *rollout) error {
	newRS, old, err := c.replicaSets(ctx, r, true)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)
	scaledUp, err := c.reconcileNewReplicaSet(ctx, r, all, newRS)
	if err != nil {
		return err
	}
	if scaledUp {
		return c.syncRolloutStatus(ctx, r, all, newRS)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, r, all, activeSets(old), newRS)
	if err != nil {
		return err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, r, all, newRS)
	}
	if deploymentComplete(r.d, &r.d.Status) {
		if err := c.cleanupDeployment(ctx, r, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, r, all, newRS)
}

func (c *deploymentController) reconcileNewReplicaSet(ctx context.Context, r *rollout, all []*api.ReplicaSet, newRS *api.ReplicaSet) (bool, error) {
	want := replicasOf(r.d.Spec.Replicas)
	cur := replicasOf(newRS.Spec.Replicas)
	switch {
	case cur == want:
		return false, nil
	case cur > want:
		return c.scaleReplicaSet(ctx, r, newRS, want)
	}
	return c.scaleReplicaSet(ctx, r, newRS, c.newRSNewReplicas(r, all, newRS))
}

// newRSNewReplicas is the size the new ReplicaSet may grow to now: all of
// spec.replicas for Recreate; for a rolling update as far as the pods that
// may be up stay within spec.replicas + maxSurge.
func (c *deploymentController) newRSNewReplicas(r *rollout, all []*api.ReplicaSet, newRS *api.ReplicaSet) int32 {
	d := r.d
	want := replicasOf(d.Spec.Replicas)
	if !isRollingUpdate(d) {
		return want
	}
	cur := replicasOf(newRS.Spec.Replicas)
	maxTotal := want + maxSurge(d)
	up := r.upperBound(all)
	if up >= maxTotal {
		return cur
	}
	return cur + min(maxTotal-up, want-cur)
}

func (c *deploymentController) reconcileOldReplicaSets(ctx context.Context, r *rollout, all, oldActive []*api.ReplicaSet, newRS *api.ReplicaSet) (bool, error) {
	if specReplicas(oldActive) == 0 {
		return false, nil
	}
	d := r.d
	minAvailable := replicasOf(d.Spec.Replicas) - maxUnavailable(d)
	newUnavailable := replicasOf(newRS.Spec.Replicas) - r.available(newRS)
	// Scale down no more than keeps minAvailable, counting the new pods that
	// are not available yet as unavailable, so a broken new template cannot
	// eat the old, working pods (Kubernetes' reconcileOldReplicaSets).
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	cleaned, err := c.cleanupUnhealthyReplicas(ctx, r, oldActive, maxScaledDown)
	if err != nil {
		return false, err
	}
	scaled, err := c.scaleDownOldForRollingUpdate(ctx, r, withNew(oldActive, newRS), oldActive)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

// cleanupUnhealthyReplicas scales old ReplicaSets down by their unavailable
// pods first: removing them costs no availability, and they would otherwise
// block the rollout.
func (c *deploymentController) cleanupUnhealthyReplicas(ctx context.Context, r *rollout, old []*api.ReplicaSet, maxCleanup int32) (int32, error) {
	sorted := append([]*api.ReplicaSet(nil), old...)
	sortOlderFirst(sorted)
	var total int32
	for _, rs := range sorted {
		if total >= maxCleanup {
			break
		}
		size := replicasOf(rs.Spec.Replicas)
		unhealthy := size - r.available(rs)
		if size == 0 || unhealthy == 0 {
			continue
		}
		n := min(maxCleanup-total, unhealthy)
		if _, err := c.scaleReplicaSet(ctx, r, rs, size-n); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// scaleDownOldForRollingUpdate scales old ReplicaSets down, oldest first, by
// as many available pods as exceed minAvailable.
func (c *deploymentController) scaleDownOldForRollingUpdate(ctx context.Context, r *rollout, all, old []*api.ReplicaSet) (int32, error) {
	d := r.d
	minAvailable := replicasOf(d.Spec.Replicas) - maxUnavailable(d)
	available := r.availableSum(all)
	if available <= minAvailable {
		return 0, nil
	}
	sorted := append([]*api.ReplicaSet(nil), old...)
	sortOlderFirst(sorted)
	target := available - minAvailable
	var total int32
	for _, rs := range sorted {
		if total >= target {
			break
		}
		size := replicasOf(rs.Spec.Replicas)
		if size == 0 {
			continue
		}
		n := min(size, target-total)
		if _, err := c.scaleReplicaSet(ctx, r, rs, size-n); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// rolloutRecreate is Kubernetes' Recreate: scale every old ReplicaSet to
// zero, wait until none of their pods is left, then create (or scale up) the
// new one.
func (c *deploymentController) rolloutRecreate(ctx context.Context, r *rollout) error {
	newRS, old, err := c.replicaSets(ctx, r, false)
	if err != nil {
		return err
	}
	all := withNew(old, newRS)
	scaledDown := false
	for _, rs := range activeSets(old) {
		scaled, err := c.scaleReplicaSet(ctx, r, rs, 0)
		if err != nil {
			return err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown || c.oldPodsRunning(r, newRS, old) {
		return c.syncRolloutStatus(ctx, r, all, newRS)
	}
	if newRS == nil {
		if newRS, old, err = c.replicaSets(ctx, r, true); err != nil {
			return err
		}
		all = withNew(old, newRS)
	}
	if _, err := c.scaleReplicaSet(ctx, r, newRS, replicasOf(r.d.Spec.Replicas)); err != nil {
		return err
	}
	if deploymentComplete(r.d, &r.d.Status) {
		if err := c.cleanupDeployment(ctx, r, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, r, all, newRS)
}

// oldPodsRunning: an old ReplicaSet still reports pods, or one of its pods
// has not ended (a pod being deleted still runs until its node removes it).
func (c *deploymentController) oldPodsRunning(r *rollout, newRS *api.ReplicaSet, old []*api.ReplicaSet) bool {
	if n, _, _ := statusSums(old); n > 0 {
		return true
	}
	for uid, pods := range r.pods {
		if newRS != nil && uid == newRS.UID {
			continue
		}
		for _, p := range pods {
			if !api.IsPodTerminal(p) {
				return true
			}
		}
	}
	return false
}
