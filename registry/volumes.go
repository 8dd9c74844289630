package registry

import (
	"fmt"
	"sort"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
)

// Claims and declared PersistentVolumes are bound in the transaction that
// makes either possible (the claim's creation, the volume's creation or
// update), so that two claims never take one volume and a claim's pods
// are never scheduled before it is bound. The rules are Kubernetes' volume
// controller's (api.VolumeFits): a claim naming a volume (spec.volumeName)
// gets that one; a claim of a class served by declared volumes gets the
// smallest Available volume that fits. A claim that cannot be bound yet
// carries api.AnnotationWaitsForVolume, saying why.

// wantsDeclaredVolume reports whether a claim is served by a declared
// PersistentVolume rather than by shoal's own local volumes: it names one,
// or its class is a StorageClass of another provisioner, or it names a
// class no StorageClass describes but some declared volume carries (the
// "manual" class of static provisioning). A claim of no class, of shoal's
// own class, or of a class nothing declares gets a local volume, as before.
func wantsDeclaredVolume(t *gossip.Txn, c *api.PersistentVolumeClaim) (bool, error) {
	if c.Spec.VolumeName != "" {
		return true, nil
	}
	class := api.ClaimClass(c)
	if class == "" {
		return false, nil
	}
	if r := t.Get(specKey(api.KindStorageClass, "", class)); r != nil && !r.Deleted {
		obj, err := decode(api.KindStorageClass, r, nil)
		if err != nil {
			return false, api.NewInternal(err)
		}
		return obj.(*api.StorageClass).Provisioner != api.ProvisionerLocal, nil
	}
	pvs, err := listVolumes(t)
	if err != nil {
		return false, err
	}
	for _, pv := range pvs {
		if pv.Spec.StorageClassName == class {
			return true, nil
		}
	}
	return false, nil
}

func listVolumes(t *gossip.Txn) ([]*api.PersistentVolume, error) {
	var out []*api.PersistentVolume
	var err error
	t.Range(specKey(api.KindPersistentVolume, "", ""), func(r *gossip.Record) bool {
		if r.Deleted {
			return true
		}
		var obj api.Object
		if obj, err = decode(api.KindPersistentVolume, r, nil); err != nil {
			err = api.NewInternal(err)
			return false
		}
		out = append(out, obj.(*api.PersistentVolume))
		return true
	})
	return out, err
}

func listNodes(t *gossip.Txn) ([]*api.Node, error) {
	var out []*api.Node
	var err error
	t.Range(specKey(api.KindNode, "", ""), func(r *gossip.Record) bool {
		if r.Deleted {
			return true
		}
		var obj api.Object
		if obj, err = decode(api.KindNode, r, nil); err != nil {
			err = api.NewInternal(err)
			return false
		}
		out = append(out, obj.(*api.Node))
		return true
	})
	return out, err
}

// volumeNode is the one node a volume's required node affinity allows
// ("" when it has none), or why it cannot be placed.
func volumeNode(t *gossip.Txn, pv *api.PersistentVolume) (node, why string, err error) {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return "", "", nil
	}
	nodes, err := listNodes(t)
	if err != nil {
		return "", "", err
	}
	var match []string
	for _, n := range nodes {
		if api.MatchesVolumeNodeAffinity(pv, n) {
			match = append(match, n.Name)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Sprintf("no node matches the nodeAffinity of persistentvolume %q", pv.Name), nil
	case 1:
		return match[0], "", nil
	}
	sort.Strings(match)
	return "", fmt.Sprintf("the nodeAffinity of persistentvolume %q matches %d nodes (%v): shoal places a claim's pods by one node, so name one (kubernetes.io/hostname)", pv.Name, len(match), match), nil
}

// chooseVolume picks the volume for a claim from pvs, or says why none.
func chooseVolume(c *api.PersistentVolumeClaim, pvs []*api.PersistentVolume) (*api.PersistentVolume, string) {
	if name := c.Spec.VolumeName; name != "" {
		for _, pv := range pvs {
			if pv.Name == name {
				if why := api.VolumeFits(c, pv); why != "" {
					return nil, why
				}
				return pv, ""
			}
		}
		return nil, fmt.Sprintf("persistentvolume %q does not exist", name)
	}
	var best *api.PersistentVolume
	for _, pv := range pvs {
		if api.VolumeFits(c, pv) != "" {
			continue
		}
		if r := pv.Spec.ClaimRef; r != nil && r.Name != "" {
			return pv, "" // reserved for this claim by its claimRef
		}
		if best == nil || smaller(pv, best) {
			best = pv
		}
	}
	if best == nil {
		return nil, fmt.Sprintf("no Available persistentvolume of class %q fits (access modes %v, %s requested)",
			api.ClaimClass(c), c.Spec.AccessModes, requested(c))
	}
	return best, ""
}

func smaller(a, b *api.PersistentVolume) bool {
	qa, qb := a.Spec.Capacity[api.ResourceStorage], b.Spec.Capacity[api.ResourceStorage]
	if qa.MilliValue() != qb.MilliValue() {
		return qa.MilliValue() < qb.MilliValue()
	}
	return a.Name < b.Name
}

func requested(c *api.PersistentVolumeClaim) string {
	if q, ok := c.Spec.Resources.Requests[api.ResourceStorage]; ok {
		return q.String()
	}
	return "no size"
}

// bindNewClaim binds a claim being created to a declared volume when it
// wants one, or marks it waiting. The claim's records are written by the
// caller; the volume's here.
func (o *Registry) bindNewClaim(t *gossip.Txn, c *api.PersistentVolumeClaim) error {
	delete(c.Annotations, api.AnnotationBindCompleted)
	delete(c.Annotations, api.AnnotationWaitsForVolume)
	want, err := wantsDeclaredVolume(t, c)
	if err != nil || !want {
		return err
	}
	pvs, err := listVolumes(t)
	if err != nil {
		return err
	}
	pv, why := chooseVolume(c, pvs)
	if pv != nil {
		return o.bindPair(t, c, pv, false)
	}
	setAnnotation(&c.ObjectMeta, api.AnnotationWaitsForVolume, why)
	return nil
}

// bindPair binds c to pv: the volume's claimRef and phase are written here
// (unless volumeIsNew: its creation writes it), the claim's fields are set
// for the caller to write. A volume whose node affinity allows one node
// places the claim there; one that allows none or several leaves the claim
// waiting.
func (o *Registry) bindPair(t *gossip.Txn, c *api.PersistentVolumeClaim, pv *api.PersistentVolume, volumeIsNew bool) error {
	node, why, err := volumeNode(t, pv)
	if err != nil {
		return err
	}
	if why != "" {
		setAnnotation(&c.ObjectMeta, api.AnnotationWaitsForVolume, why)
		return nil
	}
	chosen := c.Spec.VolumeName == ""
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.Name == "" {
		setAnnotation(&pv.ObjectMeta, api.AnnotationBoundByController, "yes")
	}
	pv.Spec.ClaimRef = &api.ObjectReference{Kind: api.KindClaim.Kind, APIVersion: "v1", Namespace: c.Namespace, Name: c.Name, UID: c.UID}
	pv.Status.Phase = api.VolumeBound
	c.Spec.VolumeName = pv.Name
	setAnnotation(&c.ObjectMeta, api.AnnotationBindCompleted, "yes")
	if chosen {
		setAnnotation(&c.ObjectMeta, api.AnnotationBoundByController, "yes")
	}
	delete(c.Annotations, api.AnnotationWaitsForVolume)
	if node != "" {
		setAnnotation(&c.ObjectMeta, api.AnnotationSelectedNode, node)
	}
	if volumeIsNew {
		return nil
	}
	if err := o.rewriteSpec(t, api.KindPersistentVolume, pv); err != nil {
		return err
	}
	return o.stageVolumeStatus(t, pv)
}

// stageVolumeStatus writes a volume's phase in its status record (the kind
// has no status subresource: only the store writes it). Released, once
// set, lasts while the claimRef does.
func (o *Registry) stageVolumeStatus(t *gossip.Txn, pv *api.PersistentVolume) error {
	pv.Status.Phase = api.PersistentVolumePhase(pv)
	st, err := encodeStatus(pv)
	if err != nil {
		return api.NewInternal(err)
	}
	return o.putStatus(t, api.KindPersistentVolume, "", pv.Name, st)
}

func setAnnotation(m *api.ObjectMeta, k, v string) {
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[k] = v
}

// bindWaitingClaims gives a volume that is Available (being created, or
// made Available again by an update) to the oldest claim waiting that it
// fits, writing the claim; the volume is changed for the caller to write.
func (o *Registry) bindWaitingClaims(t *gossip.Txn, pv *api.PersistentVolume) error {
	if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID != "" {
		return nil // bound already
	}
	var waiting []*api.PersistentVolumeClaim
	var err error
	t.Range(specPrefix+api.KindClaim.Resource+"/", func(r *gossip.Record) bool {
		if r.Deleted {
			return true
		}
		var obj api.Object
		if obj, err = decode(api.KindClaim, r, nil); err != nil {
			err = api.NewInternal(err)
			return false
		}
		c := obj.(*api.PersistentVolumeClaim)
		if _, waits := c.Annotations[api.AnnotationWaitsForVolume]; waits && c.DeletionTimestamp == nil &&
			(c.Spec.VolumeName == "" || c.Spec.VolumeName == pv.Name) {
			waiting = append(waiting, c)
		}
		return true
	})
	if err != nil {
		return err
	}
	sort.SliceStable(waiting, func(i, j int) bool {
		return waiting[i].CreationTimestamp.Before(waiting[j].CreationTimestamp.Time)
	})
	for _, c := range waiting {
		if api.VolumeFits(c, pv) != "" {
			continue
		}
		had := c.Status.Phase
		if err := o.bindPair(t, c, pv, true); err != nil {
			return err
		}
		if c.BoundVolume() == "" {
			continue // its node cannot be told; it still waits
		}
		if err := o.rewriteSpec(t, api.KindClaim, c); err != nil {
			return err
		}
		return o.stageClaimStatus(t, c, had)
	}
	return nil
}

// bindVolumesOfNode gives each Available volume whose node affinity names
// node (a node that just joined, or was just labelled) to the oldest claim
// that waits for it: such a claim waited because no node matched. The
// node's own record is staged already, so volumeNode sees it.
func (o *Registry) bindVolumesOfNode(t *gossip.Txn, node *api.Node) error {
	pvs, err := listVolumes(t)
	if err != nil {
		return err
	}
	for _, pv := range pvs {
		if pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID != "" {
			continue
		}
		if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil || !api.MatchesVolumeNodeAffinity(pv, node) {
			continue
		}
		if err := o.bindWaitingClaims(t, pv); err != nil {
			return err
		}
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID == "" {
			continue // no claim took it
		}
		if err := o.rewriteSpec(t, api.KindPersistentVolume, pv); err != nil {
			return err
		}
		if err := o.stageVolumeStatus(t, pv); err != nil {
			return err
		}
	}
	return nil
}

// releaseVolume is what a claim's removal does to the declared volume it
// was bound to: with the reclaim policy Delete the volume object goes
// (its data, a host path, is left where it is: shoal deletes the data of
// its own local volumes only); with Retain (and Recycle) it stays,
// Released, keeping its claimRef and its data until an administrator
// removes the claimRef.
func (o *Registry) releaseVolume(t *gossip.Txn, c *api.PersistentVolumeClaim) error {
	name := c.BoundVolume()
	if name == "" {
		return nil
	}
	r := t.Get(specKey(api.KindPersistentVolume, "", name))
	if r == nil || r.Deleted {
		return nil
	}
	obj, err := decode(api.KindPersistentVolume, r, nil)
	if err != nil {
		return api.NewInternal(err)
	}
	pv := obj.(*api.PersistentVolume)
	if ref := pv.Spec.ClaimRef; ref == nil || ref.UID != c.UID {
		return nil
	}
	if pv.Spec.PersistentVolumeReclaimPolicy == api.ReclaimDelete {
		t.Delete(specKey(api.KindPersistentVolume, "", name))
		t.Delete(statusKey(api.KindPersistentVolume, "", name))
		return nil
	}
	pv.Status.Phase = api.VolumeReleased
	return o.stageVolumeStatus(t, pv)
}
