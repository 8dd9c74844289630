// Package events records Kubernetes-style Event objects for the agent's
// components, aggregating repeats (count, lastTimestamp) and writing them in
// the background so that a slow store never blocks a pod worker.
package events
