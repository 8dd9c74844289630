// Package controller holds the control loops that run on the leader: the
// ReplicaSet, Deployment and garbage-collection controllers, the keyed work
// queue they share and the Manager that runs them.
//
// Every loop follows the same pattern: watch events only enqueue keys; a
// worker takes a key, reads the current desired and actual state fresh from
// the store, acts, and writes status only when it changed (level-triggered).
// A loop reconciles everything when it starts (the watches begin with an
// ADDED event for every object) and again on a periodic resync, so that the
// Manager can be stopped and started again whenever leadership moves.
//
// Decisions where shoal differs from Kubernetes:
//
//   - A rolling update decides on the pods themselves, read fresh from the
//     store, not on the ReplicaSets' status alone: for maxSurge a ReplicaSet
//     counts max(spec.replicas, active pods), for maxUnavailable
//     min(spec.replicas, available pods). A status its controller has not
//     written yet so cannot push a rollout past either bound. Pods being
//     deleted do not count as active, as in Kubernetes.
//   - The garbage collector acts only after an owner has been missing for
//     Options.GCGracePeriod: replication may deliver a dependent before its
//     owner.
//   - The Deployment's own revision annotation is not written (only the
//     ReplicaSets carry revisions): the controllers write nothing but status
//     on objects users apply, so a re-apply never fights the controller.
//   - Pods that ended (Succeeded, Failed) are replaced and kept for
//     inspection, as in Kubernetes; nothing collects them yet.
package controller
