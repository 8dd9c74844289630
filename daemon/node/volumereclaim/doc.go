// Package volumereclaim removes, on one node, the engine volumes of the
// claims of a namespace whose removal was asked for: a Namespace carrying
// the annotation api.AnnotationRemoveVolumes (`shoal compose down -v` sets
// it). Once no pod of that namespace is left on the node, the node removes
// its engine volumes of the namespace's claims (shoal-pvc-<ns>-<claim>)
// and answers with an Event of reason VolumesRemoved in the namespace,
// sourced from the node, carrying the request's value; whoever asked waits
// for the answer of every ready node and then deletes the namespace.
//
// This is the part of Kubernetes' PersistentVolume reclaim policy Delete
// that shoal's node-local volumes need: the claim's data lives on the
// nodes, so each node reclaims its own. A namespace deleted without the
// request keeps its volumes (docker compose down without -v), and an `up`
// of the same project finds its data again.
package volumereclaim
