// Package scheduler places pods on nodes. It runs on the leader only: it
// watches pods without a node, filters the nodes that can take each one
// (ready and schedulable, tolerated taints, nodeSelector, free host ports,
// CPU, memory and pod count within allocatable, the node of the pod's
// bound PersistentVolumeClaims), scores those that fit
// (spread the pods of one controller, then least allocated, then by name)
// and binds the pod by writing spec.nodeName.
package scheduler
