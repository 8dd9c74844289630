package registry

import (
	"context"
	"fmt"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// Bind assigns a pending pod to a node (the pods/binding subresource, as
// Kubernetes' Binding): it sets spec.nodeName, once, and nothing else of
// the spec, so that the scheduler is the one writer of that field and
// never rewrites what others wrote in the spec meanwhile. A PodScheduled
// condition the scheduler left False becomes True. A pod already bound
// (to any node), being deleted, or of another uid is a conflict, and so is
// a node other than the one a claim of the pod is bound to; a claim not
// yet bound is bound to the node in the same step (claims.go). name is
// the pod's (the binding's own name, if given, must be it).
func (o *Registry) Bind(ctx context.Context, ns, name string, b *api.Binding) (*api.Pod, error) {
	k := api.KindPod
	if err := api.ValidateBinding(b, name); err != nil {
		return nil, invalid(k, name, err)
	}
	_, err := o.update(ctx, func(t *gossip.Txn) error {
		cur := t.Get(specKey(k, ns, name))
		if cur == nil || cur.Deleted {
			return api.NewNotFound(k, name)
		}
		obj, err := decode(k, cur, t.Get(statusKey(k, ns, name)))
		if err != nil {
			return api.NewInternal(err)
		}
		pod := obj.(*api.Pod)
		switch {
		case b.UID != "" && b.UID != pod.UID:
			return api.NewConflict(k, name, fmt.Sprintf("Precondition failed: UID in binding: %s, UID in object: %s", b.UID, pod.UID))
		case pod.Spec.NodeName != "":
			return api.NewConflict(k, name, fmt.Sprintf("pod %s is already assigned to node %q", name, pod.Spec.NodeName))
		case pod.DeletionTimestamp != nil:
			return api.NewConflict(k, name, fmt.Sprintf("pod %s is being deleted, cannot be assigned to a node", name))
		case len(pod.Spec.SchedulingGates) > 0:
			return api.NewConflict(k, name, fmt.Sprintf("pod %s has non-empty spec.schedulingGates, cannot be assigned to a node", name))
		}
		if err := o.bindClaims(t, pod, b.Target.Name); err != nil {
			return err
		}
		pod.Spec.NodeName = b.Target.Name
		pod.ResourceVersion = ""
		spec, err := encodeSpec(pod)
		if err != nil {
			return api.NewInternal(err)
		}
		if err := o.putSpec(t, k, pod, spec, 0); err != nil {
			return err
		}
		c := api.FindCondition(pod.Status.Conditions, api.PodScheduled)
		if c == nil || c.Status == api.ConditionTrue {
			return nil
		}
		c.Status, c.Reason, c.Message = api.ConditionTrue, "", ""
		c.LastTransitionTime = api.NewTime(o.now())
		st, err := encodeStatus(pod)
		if err != nil {
			return api.NewInternal(err)
		}
		return o.putStatus(t, k, ns, name, st)
	})
	if err != nil {
		return nil, err
	}
	obj, err := o.load(k, ns, name)
	if err != nil {
		return nil, err
	}
	return obj.(*api.Pod), nil
}
