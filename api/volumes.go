package api

// AnnotationRemoveVolumes on a Namespace asks every node to remove the
// engine volumes of the namespace's claims (persistentVolumeClaim volumes)
// once none of the namespace's pods runs on it. Its value names the
// request; each node answers it with an Event of reason
// EventReasonVolumesRemoved in the namespace, whose source host is the
// node and which carries the same annotation and value.
const AnnotationRemoveVolumes = "shoal.io/remove-volumes"

// EventReasonVolumesRemoved is a node's answer to AnnotationRemoveVolumes.
const EventReasonVolumesRemoved = "VolumesRemoved"

// ClaimVolumePrefix is how the engine volumes of a namespace's claims are
// named: ClaimVolumePrefix(ns) + claim.
func ClaimVolumePrefix(ns string) string { return "shoal-pvc-" + ns + "-" }
