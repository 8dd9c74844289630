// Package enginehealth watches whether the node's container engine answers:
// a cheap ping every few seconds, with a short timeout. Its verdict becomes
// the node's Ready condition (a node whose engine is down is not Ready, so
// the scheduler avoids it and its pods are evicted as from a lost node),
// and its recovery wakes the pod runner to reconcile with what the engine
// holds.
package enginehealth
