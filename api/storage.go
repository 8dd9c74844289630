package api

import (
	"fmt"
	"slices"
	"strings"
)

// StorageClass names a kind of storage claims may ask for. shoal has one
// provisioner, ProvisionerLocal: whatever class a claim names, its volume
// is an engine volume on the host of its first pod (WaitForFirstConsumer).
// Classes of other provisioners are stored, so manifests that carry them
// apply, and a claim naming one is still served by a local volume.
type StorageClass struct {
	TypeMeta             `json:",inline"`
	ObjectMeta           `json:"metadata,omitzero"`
	Provisioner          string            `json:"provisioner"`
	Parameters           map[string]string `json:"parameters,omitempty"`
	ReclaimPolicy        *string           `json:"reclaimPolicy,omitempty"`
	MountOptions         []string          `json:"mountOptions,omitempty"`
	AllowVolumeExpansion *bool             `json:"allowVolumeExpansion,omitempty"`
	VolumeBindingMode    *string           `json:"volumeBindingMode,omitempty"`
}

// PersistentVolume is a piece of storage an administrator declares. shoal
// stores PersistentVolumes (so manifests that carry them apply) and shows
// their phase, but binds claims only to its own local volumes: a claim
// that names a volume (spec.volumeName) is refused, saying so.
type PersistentVolume struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       PersistentVolumeSpec   `json:"spec,omitzero"`
	Status     PersistentVolumeStatus `json:"status,omitzero"`
}

// PersistentVolumeSpec is Kubernetes' core/v1 spec, with the volume
// sources shoal can describe.
type PersistentVolumeSpec struct {
	Capacity                      ResourceList          `json:"capacity,omitempty"`
	AccessModes                   []string              `json:"accessModes,omitempty"`
	ClaimRef                      *ObjectReference      `json:"claimRef,omitempty"`
	PersistentVolumeReclaimPolicy string                `json:"persistentVolumeReclaimPolicy,omitempty"`
	StorageClassName              string                `json:"storageClassName,omitempty"`
	MountOptions                  []string              `json:"mountOptions,omitempty"`
	VolumeMode                    *string               `json:"volumeMode,omitempty"`
	NodeAffinity                  *VolumeNodeAffinity   `json:"nodeAffinity,omitempty"`
	HostPath                      *HostPathVolumeSource `json:"hostPath,omitempty"`
	Local                         *LocalVolumeSource    `json:"local,omitempty"`
	NFS                           *NFSVolumeSource      `json:"nfs,omitempty"`
}

// VolumeNodeAffinity limits the nodes a volume can be reached from.
type VolumeNodeAffinity struct {
	Required *NodeSelector `json:"required,omitempty"`
}

// LocalVolumeSource is a disk or directory on one node.
type LocalVolumeSource struct {
	Path   string  `json:"path"`
	FSType *string `json:"fsType,omitempty"`
}

// NFSVolumeSource is an NFS export.
type NFSVolumeSource struct {
	Server   string `json:"server"`
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// PersistentVolumeStatus is the volume's phase.
type PersistentVolumeStatus struct {
	Phase   string `json:"phase,omitempty"`
	Message string `json:"message,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// ServiceAccount is an identity for the programs in pods. shoal stores
// them (so manifests and charts that carry them apply) and every
// namespace has one named "default".
type ServiceAccount struct {
	TypeMeta                     `json:",inline"`
	ObjectMeta                   `json:"metadata,omitzero"`
	Secrets                      []ObjectReference      `json:"secrets,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	ImagePullSecrets             []LocalObjectReference `json:"imagePullSecrets,omitempty"`
	AutomountServiceAccountToken *bool                  `json:"automountServiceAccountToken,omitempty"`
}

// Storage names and values.
const (
	// ProvisionerLocal is shoal's own provisioner: engine volumes on the
	// host of a claim's first pod.
	ProvisionerLocal = "shoal.io/local"
	// AnnotationDefaultStorageClass marks the class of claims that name none.
	AnnotationDefaultStorageClass = "storageclass.kubernetes.io/is-default-class"

	ReclaimRetain  = "Retain"
	ReclaimDelete  = "Delete"
	ReclaimRecycle = "Recycle"

	BindingImmediate            = "Immediate"
	BindingWaitForFirstConsumer = "WaitForFirstConsumer"

	VolumeAvailable = "Available"
	VolumeBound     = "Bound"
	VolumeReleased  = "Released"

	DefaultServiceAccount = "default"
)

func defaultStorageClass(sc *StorageClass) {
	if sc.ReclaimPolicy == nil {
		sc.ReclaimPolicy = ptrTo(ReclaimDelete)
	}
	if sc.VolumeBindingMode == nil {
		sc.VolumeBindingMode = ptrTo(BindingImmediate)
	}
}

func validateStorageClass(e *errs, sc *StorageClass) {
	if sc.Provisioner == "" {
		e.required("provisioner", fmt.Sprintf("the provisioner's name; shoal's own is %s", ProvisionerLocal))
	} else if len(sc.Provisioner) > 253 {
		e.invalid("provisioner", sc.Provisioner, "must be no more than 253 characters")
	}
	if p := sc.ReclaimPolicy; p != nil && *p != ReclaimRetain && *p != ReclaimDelete {
		e.notSupported("reclaimPolicy", *p, ReclaimDelete, ReclaimRetain)
	}
	if m := sc.VolumeBindingMode; m != nil && *m != BindingImmediate && *m != BindingWaitForFirstConsumer {
		e.notSupported("volumeBindingMode", *m, BindingImmediate, BindingWaitForFirstConsumer)
	}
	for k := range sc.Parameters {
		if k == "" || len(k) > 63 {
			e.invalid(path("parameters").key(k), k, "keys must be 1 to 63 characters")
		}
	}
}

func defaultPersistentVolume(pv *PersistentVolume) {
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = ReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		pv.Spec.VolumeMode = ptrTo(VolumeModeFS)
	}
	pv.Status = PersistentVolumeStatus{Phase: PersistentVolumePhase(pv)}
}

func ptrTo[T any](v T) *T { return &v }

func validatePersistentVolume(e *errs, pv *PersistentVolume) {
	s := &pv.Spec
	p := path("spec")
	if q, ok := s.Capacity[ResourceStorage]; !ok {
		e.required(p.child("capacity").key(ResourceStorage), "the volume's size, such as 10Gi")
	} else if q.MilliValue() <= 0 {
		e.invalid(p.child("capacity").key(ResourceStorage), q.String(), "must be greater than zero")
	}
	for name := range s.Capacity {
		if name != ResourceStorage {
			e.notSupported(p.child("capacity").key(name), name, ResourceStorage)
		}
	}
	if len(s.AccessModes) == 0 {
		e.required(p.child("accessModes"), "at least one access mode, such as ReadWriteOnce")
	}
	for i, m := range s.AccessModes {
		switch m {
		case ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod:
		default:
			e.notSupported(p.child("accessModes").index(i), m, ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod)
		}
	}
	switch s.PersistentVolumeReclaimPolicy {
	case ReclaimRetain, ReclaimDelete, ReclaimRecycle:
	default:
		e.notSupported(p.child("persistentVolumeReclaimPolicy"), s.PersistentVolumeReclaimPolicy, ReclaimRetain, ReclaimDelete, ReclaimRecycle)
	}
	if m := s.VolumeMode; m != nil && *m != VolumeModeFS && *m != VolumeModeBlock {
		e.notSupported(p.child("volumeMode"), *m, VolumeModeFS, VolumeModeBlock)
	}
	sources := 0
	if s.HostPath != nil {
		sources++
		if !strings.HasPrefix(s.HostPath.Path, "/") {
			e.invalid(p.child("hostPath.path"), s.HostPath.Path, "must be an absolute path")
		}
	}
	if s.Local != nil {
		sources++
		if !strings.HasPrefix(s.Local.Path, "/") {
			e.invalid(p.child("local.path"), s.Local.Path, "must be an absolute path")
		}
		if s.NodeAffinity == nil || s.NodeAffinity.Required == nil {
			e.required(p.child("nodeAffinity"), "a local volume must name the node it is on")
		}
	}
	if s.NFS != nil {
		sources++
		if s.NFS.Server == "" {
			e.required(p.child("nfs.server"), "the NFS server's name or address")
		}
		if !strings.HasPrefix(s.NFS.Path, "/") {
			e.invalid(p.child("nfs.path"), s.NFS.Path, "must be an absolute path")
		}
	}
	if sources != 1 {
		e.required(p, "exactly one volume source: hostPath, local or nfs")
	}
}

// PersistentVolumePhase is the phase shown for a volume: Available with no
// claimRef, Released once its claim was deleted (the store sets that, and
// it lasts until the claimRef is removed), Bound otherwise.
func PersistentVolumePhase(pv *PersistentVolume) string {
	switch {
	case pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.Name == "":
		return VolumeAvailable
	case pv.Status.Phase == VolumeReleased:
		return VolumeReleased
	}
	return VolumeBound
}

// ClaimClass is the class a claim asks for, "" for none.
func ClaimClass(c *PersistentVolumeClaim) string {
	if c.Spec.StorageClassName == nil {
		return ""
	}
	return *c.Spec.StorageClassName
}

// VolumeFits says why pv cannot serve c, or returns "": the rules of
// Kubernetes' volume controller. The volume must be Available (or
// reserved for c by its claimRef), not being deleted, of the claim's class,
// offer every access mode and the volume mode the claim asks for, and
// hold at least the storage it requests.
func VolumeFits(c *PersistentVolumeClaim, pv *PersistentVolume) string {
	if pv.DeletionTimestamp != nil {
		return fmt.Sprintf("persistentvolume %q is being deleted", pv.Name)
	}
	if r := pv.Spec.ClaimRef; r != nil && r.Name != "" {
		if r.Namespace != c.Namespace || r.Name != c.Name || (r.UID != "" && r.UID != c.UID) {
			return fmt.Sprintf("persistentvolume %q is bound to another claim (%s/%s)", pv.Name, r.Namespace, r.Name)
		}
	}
	if class := ClaimClass(c); pv.Spec.StorageClassName != class {
		return fmt.Sprintf("persistentvolume %q has storageClassName %q, the claim asks for %q", pv.Name, pv.Spec.StorageClassName, class)
	}
	for _, m := range c.Spec.AccessModes {
		if !slices.Contains(pv.Spec.AccessModes, m) {
			return fmt.Sprintf("persistentvolume %q does not offer the access mode %s", pv.Name, m)
		}
	}
	want, have := VolumeModeFS, VolumeModeFS
	if c.Spec.VolumeMode != nil {
		want = *c.Spec.VolumeMode
	}
	if pv.Spec.VolumeMode != nil {
		have = *pv.Spec.VolumeMode
	}
	if want != have {
		return fmt.Sprintf("persistentvolume %q has volumeMode %s, the claim asks for %s", pv.Name, have, want)
	}
	if q, ok := c.Spec.Resources.Requests[ResourceStorage]; ok {
		if size := pv.Spec.Capacity[ResourceStorage]; size.MilliValue() < q.MilliValue() {
			return fmt.Sprintf("persistentvolume %q holds %s, the claim requests %s", pv.Name, size.String(), q.String())
		}
	}
	return ""
}

// MatchesVolumeNodeAffinity reports whether node n can reach pv: one term
// of its required node affinity holds (true when it has none).
func MatchesVolumeNodeAffinity(pv *PersistentVolume, n *Node) bool {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return true
	}
	for _, t := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		if t.matches(n) {
			return true
		}
	}
	return false
}
