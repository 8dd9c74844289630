// Package nodelifecycle is the node lifecycle, as Kubernetes' node
// lifecycle controller: every agent serves Nodes with their Ready condition
// taken from membership (HealthStore), and the leader marks the pods of a
// node that is not Ready not ready at once and evicts them after the
// eviction timeout (Evictor).
package nodelifecycle
