package api

import "fmt"

// PersistentVolumeClaim asks for storage that outlives its pods. shoal has
// no storage provisioner and no PersistentVolume kind: a claim is a local
// volume, as Kubernetes' local volumes with volumeBindingMode
// WaitForFirstConsumer. The engine volume ClaimVolumePrefix(ns)+name is made
// on the host of the first pod that uses the claim; the scheduler then
// records that host in the annotation AnnotationSelectedNode (the phase
// becomes Bound) and places every later pod of the claim there only.
type PersistentVolumeClaim struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       PersistentVolumeClaimSpec   `json:"spec,omitzero"`
	Status     PersistentVolumeClaimStatus `json:"status,omitzero"`
}

// PersistentVolumeClaimSpec is what the claim asks for. The size (optional)
// and the access modes are recorded, not enforced: an engine volume has no
// size, and whatever the modes, the claim's pods run on its one node.
type PersistentVolumeClaimSpec struct {
	AccessModes      []string                   `json:"accessModes,omitempty"`
	Resources        VolumeResourceRequirements `json:"resources,omitzero"`
	StorageClassName *string                    `json:"storageClassName,omitempty"`
	VolumeMode       *string                    `json:"volumeMode,omitempty"`
	// VolumeName binds the claim to a declared PersistentVolume (the
	// store sets it, too, when it binds a claim of a class served by
	// declared volumes).
	VolumeName string `json:"volumeName,omitempty"`
}

// VolumeResourceRequirements holds the storage a claim requests.
type VolumeResourceRequirements struct {
	Limits   ResourceList `json:"limits,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
}

// PersistentVolumeClaimStatus is derived from the claim's selected node:
// Pending until a node is selected, then Bound. Only the binding (the
// scheduler's, through the pods/binding subresource) and writes of the
// annotation change it.
type PersistentVolumeClaimStatus struct {
	Phase string `json:"phase,omitempty"`
}

// Claim phases, as in Kubernetes.
const (
	ClaimPending = "Pending"
	ClaimBound   = "Bound"
)

// AnnotationSelectedNode names the node a claim's data lives on, as
// Kubernetes' scheduler sets it for WaitForFirstConsumer volumes.
const AnnotationSelectedNode = "volume.kubernetes.io/selected-node"

// ResourceStorage is the resource a claim requests.
const ResourceStorage = "storage"

// Access modes and volume modes of a claim.
const (
	ReadWriteOnce       = "ReadWriteOnce"
	ReadOnlyMany        = "ReadOnlyMany"
	ReadWriteMany       = "ReadWriteMany"
	ReadWriteOncePod    = "ReadWriteOncePod"
	VolumeModeFS        = "Filesystem"
	VolumeModeBlock     = "Block"
	maxClaimAccessModes = 4
)

// SelectedNode is the node the claim is bound to, "" while Pending.
func (c *PersistentVolumeClaim) SelectedNode() string { return c.Annotations[AnnotationSelectedNode] }

// Annotations of the binding of a claim to a declared PersistentVolume,
// as Kubernetes' volume controller writes them.
const (
	// AnnotationBindCompleted on a claim: its binding to
	// spec.volumeName is done (both sides written).
	AnnotationBindCompleted = "pv.kubernetes.io/bind-completed"
	// AnnotationBoundByController on a claim or volume: the store chose
	// the pair (the claim named no volume, or the volume no claim).
	AnnotationBoundByController = "pv.kubernetes.io/bound-by-controller"
	// AnnotationWaitsForVolume on a claim: it is served by declared
	// volumes and none is bound yet; the value says why. Its pods are not
	// scheduled meanwhile.
	AnnotationWaitsForVolume = "volume.shoal.io/waits-for-volume"
)

// BoundVolume is the declared PersistentVolume the claim is bound to, ""
// if none.
func (c *PersistentVolumeClaim) BoundVolume() string {
	if c.Annotations[AnnotationBindCompleted] == "yes" {
		return c.Spec.VolumeName
	}
	return ""
}

// ClaimPhase is the phase a claim's annotations give it.
func ClaimPhase(c *PersistentVolumeClaim) string {
	if c.SelectedNode() != "" || c.BoundVolume() != "" {
		return ClaimBound
	}
	return ClaimPending
}

// PodClaims lists the claim names a pod spec's volumes use, once each.
func PodClaims(spec *PodSpec) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range spec.Volumes {
		if v.PersistentVolumeClaim == nil || seen[v.PersistentVolumeClaim.ClaimName] {
			continue
		}
		seen[v.PersistentVolumeClaim.ClaimName] = true
		out = append(out, v.PersistentVolumeClaim.ClaimName)
	}
	return out
}

func validateClaim(e *errs, c *PersistentVolumeClaim) {
	s := &c.Spec
	if s.VolumeName != "" {
		for _, msg := range IsDNS1123Subdomain(s.VolumeName) {
			e.invalid("spec.volumeName", s.VolumeName, msg)
		}
	}
	if len(s.AccessModes) == 0 {
		e.required("spec.accessModes", "at least one access mode, such as ReadWriteOnce")
	}
	if len(s.AccessModes) > maxClaimAccessModes {
		e.invalid("spec.accessModes", len(s.AccessModes), fmt.Sprintf("at most %d access modes", maxClaimAccessModes))
	}
	seen := map[string]bool{}
	for i, m := range s.AccessModes {
		p := path("spec.accessModes").index(i)
		switch m {
		case ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod:
		default:
			e.notSupported(p, m, ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod)
		}
		if seen[m] {
			e.duplicate(p, m)
		}
		seen[m] = true
	}
	if seen[ReadWriteOncePod] && len(s.AccessModes) > 1 {
		e.forbidden("spec.accessModes", "ReadWriteOncePod may not be given with other access modes")
	}
	// Optional, unlike in Kubernetes: an engine volume has no size, so
	// the size is only recorded.
	if q, ok := s.Resources.Requests[ResourceStorage]; ok && q.MilliValue() <= 0 {
		e.invalid("spec.resources.requests[storage]", q.String(), "must be greater than zero")
	}
	for name := range s.Resources.Requests {
		if name != ResourceStorage {
			e.notSupported(path("spec.resources.requests").key(name), name, ResourceStorage)
		}
	}
	for name := range s.Resources.Limits {
		if name != ResourceStorage {
			e.notSupported(path("spec.resources.limits").key(name), name, ResourceStorage)
		}
	}
	if s.StorageClassName != nil && *s.StorageClassName != "" {
		for _, msg := range IsDNS1123Subdomain(*s.StorageClassName) {
			e.invalid("spec.storageClassName", *s.StorageClassName, msg)
		}
	}
	if s.VolumeMode != nil && *s.VolumeMode != VolumeModeFS {
		e.notSupported("spec.volumeMode", *s.VolumeMode, VolumeModeFS)
	}
	if n, ok := c.Annotations[AnnotationSelectedNode]; ok {
		for _, msg := range IsDNS1123Subdomain(n) {
			e.invalid(path("metadata.annotations").key(AnnotationSelectedNode), n, msg+" (a node name)")
		}
	}
}
