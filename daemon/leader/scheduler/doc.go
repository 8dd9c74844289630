// Package scheduler places pods on nodes. It runs on the leader only: it
// watches pods without a node, filters the nodes that can take each one
// (ready and schedulable, tolerated taints, nodeSelector and required node
// affinity, free host ports, CPU, memory and pod count within allocatable,
// the node of the pod's bound PersistentVolumeClaims, DoNotSchedule
// topology spread constraints, required pod affinity and anti-affinity,
// the pod's and, symmetrically, that of the pods already placed), scores
// those that fit (the weights of preferred node and pod affinity terms,
// then ScheduleAnyway spread, then spread of the pods of one controller,
// then least allocated, then by name) and binds the pod by writing
// spec.nodeName. Every decision counts the pods placed before it, bound
// or not yet.
package scheduler
