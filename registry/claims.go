package registry

import (
	"fmt"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// A PersistentVolumeClaim is bound to the node of the first pod that uses
// it: the annotation api.AnnotationSelectedNode names that node and the
// status says Bound. The binding is written in the same transaction as the
// pod's spec.nodeName (Bind, or the creation of a pod that names its node),
// so that two pods of one claim are never bound to two nodes by one agent.

// keepClaimBinding keeps the node a claim is bound to when an update does
// not name one: applying the same manifest again (a compose up) must not
// unbind the claim from the node that holds its data. An update naming
// another node moves the binding; the data does not move with it.
func keepClaimBinding(old, obj api.Object) {
	oc, ok1 := old.(*api.PersistentVolumeClaim)
	nc, ok2 := obj.(*api.PersistentVolumeClaim)
	if !ok1 || !ok2 {
		return
	}
	// The binding to a declared volume is the store's: it stays, and a
	// waiting claim keeps waiting (the volume's arrival binds it).
	if v := oc.BoundVolume(); v != "" {
		nc.Spec.VolumeName = v
		setAnnotation(&nc.ObjectMeta, api.AnnotationBindCompleted, "yes")
		if by, ok := oc.Annotations[api.AnnotationBoundByController]; ok {
			setAnnotation(&nc.ObjectMeta, api.AnnotationBoundByController, by)
		}
	} else if why, ok := oc.Annotations[api.AnnotationWaitsForVolume]; ok {
		setAnnotation(&nc.ObjectMeta, api.AnnotationWaitsForVolume, why)
		delete(nc.Annotations, api.AnnotationBindCompleted)
	} else {
		delete(nc.Annotations, api.AnnotationBindCompleted)
	}
	if oc.SelectedNode() == "" {
		return
	}
	if _, named := nc.Annotations[api.AnnotationSelectedNode]; named {
		return
	}
	if nc.Annotations == nil {
		nc.Annotations = map[string]string{}
	}
	nc.Annotations[api.AnnotationSelectedNode] = oc.SelectedNode()
}

// adoptRunningPodsNode binds a new claim, created without a node, to the
// node its namespace's bound pods already use it on, when that is one node:
// pods started before the claim had an object (a cluster upgraded, a
// compose project from before) keep their data. Pods on several nodes
// leave it unbound: each has its own volume, and none is the claim's.
func (o *Registry) adoptRunningPodsNode(t *gossip.Txn, c *api.PersistentVolumeClaim) error {
	if c.SelectedNode() != "" {
		return nil
	}
	k := api.KindPod
	prefix := specKey(k, c.Namespace, "")
	nodes := map[string]bool{}
	var err error
	t.Range(prefix, func(r *gossip.Record) bool {
		if r.Deleted {
			return true
		}
		var obj api.Object
		if obj, err = decode(k, r, t.Get(statusPrefix+r.Key[len(specPrefix):])); err != nil {
			return false
		}
		p := obj.(*api.Pod)
		if p.Spec.NodeName == "" || p.DeletionTimestamp != nil || api.IsPodTerminal(p) {
			return true
		}
		for _, name := range api.PodClaims(&p.Spec) {
			if name == c.Name {
				nodes[p.Spec.NodeName] = true
			}
		}
		return true
	})
	if err != nil {
		return api.NewInternal(err)
	}
	if len(nodes) == 1 {
		for n := range nodes {
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[api.AnnotationSelectedNode] = n
		}
	}
	return nil
}

// stageClaimStatus writes the phase the claim's annotation gives, if the
// stored status says otherwise (had is the stored phase).
func (o *Registry) stageClaimStatus(t *gossip.Txn, c *api.PersistentVolumeClaim, had string) error {
	c.Status.Phase = api.ClaimPhase(c)
	if c.Status.Phase == had {
		return nil
	}
	st, err := encodeStatus(c)
	if err != nil {
		return api.NewInternal(err)
	}
	return o.putStatus(t, api.KindClaim, c.Namespace, c.Name, st)
}

// bindClaims binds every claim of pod that has a PersistentVolumeClaim
// object and no node yet to node, and refuses (a conflict) when one is
// bound to another node. A claim without an object is an engine volume on
// whichever node runs the pod, as before claims were objects.
func (o *Registry) bindClaims(t *gossip.Txn, pod *api.Pod, node string) error {
	for _, name := range api.PodClaims(&pod.Spec) {
		k := api.KindClaim
		cur := t.Get(specKey(k, pod.Namespace, name))
		if cur == nil || cur.Deleted {
			continue
		}
		obj, err := decode(k, cur, t.Get(statusKey(k, pod.Namespace, name)))
		if err != nil {
			return api.NewInternal(err)
		}
		c := obj.(*api.PersistentVolumeClaim)
		if why, waits := c.Annotations[api.AnnotationWaitsForVolume]; waits {
			return api.NewConflict(api.KindPod, pod.Name, fmt.Sprintf(
				"persistentvolumeclaim %q is not bound yet (%s): pod %s cannot run before it is", name, why, pod.Name))
		}
		if c.BoundVolume() != "" && c.SelectedNode() == "" {
			continue // a declared volume reachable from any node
		}
		switch at := c.SelectedNode(); at {
		case node:
			continue
		case "":
		default:
			return api.NewConflict(api.KindPod, pod.Name, fmt.Sprintf(
				"persistentvolumeclaim %q is bound to node %s: pod %s can only run there, not on %s", name, at, pod.Name, node))
		}
		had := c.Status.Phase
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[api.AnnotationSelectedNode] = node
		c.ResourceVersion = ""
		spec, err := encodeSpec(c)
		if err != nil {
			return api.NewInternal(err)
		}
		if err := o.putSpec(t, k, c, spec, 0); err != nil {
			return err
		}
		if err := o.stageClaimStatus(t, c, had); err != nil {
			return err
		}
	}
	return nil
}

// checkDaemonSetClaims refuses a DaemonSet whose pods would use a claim
// that has a PersistentVolumeClaim object, and such an object for a claim a
// DaemonSet uses: a DaemonSet runs a pod on every node, and a claim with
// an object keeps its pods on one.
func checkDaemonSetClaims(v *TxnView, old, obj api.Object) error {
	switch o := obj.(type) {
	case *api.DaemonSet:
		var errs api.FieldErrors
		for i, vol := range o.Spec.Template.Spec.Volumes {
			if vol.PersistentVolumeClaim == nil || v.Get(api.KindClaim, o.Namespace, vol.PersistentVolumeClaim.ClaimName) == nil {
				continue
			}
			errs = append(errs, api.FieldError{Field: fmt.Sprintf("spec.template.spec.volumes[%d].persistentVolumeClaim.claimName", i),
				Value: vol.PersistentVolumeClaim.ClaimName, Type: api.ErrTypeForbidden,
				Detail: "this claim has a PersistentVolumeClaim object, which keeps its pods on one node, and a DaemonSet runs a pod on every node: " +
					"name a claim without an object (an engine volume on each node) or use a hostPath"})
		}
		if len(errs) > 0 {
			return errs
		}
	case *api.PersistentVolumeClaim:
		if old != nil {
			return nil
		}
		for _, d := range v.List(api.KindDaemonSet) {
			ds := d.(*api.DaemonSet)
			if ds.Namespace != o.Namespace {
				continue
			}
			for _, name := range api.PodClaims(&ds.Spec.Template.Spec) {
				if name == o.Name {
					return api.FieldErrors{{Field: "metadata.name", Value: o.Name, Type: api.ErrTypeForbidden,
						Detail: fmt.Sprintf("DaemonSet %s uses the claim %s on every node (an engine volume on each), and a PersistentVolumeClaim object would keep its pods on one node: "+
							"give the claim another name, or change the DaemonSet first", ds.Name, o.Name)}}
				}
			}
		}
	}
	return nil
}
