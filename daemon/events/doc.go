// Package events records Kubernetes-style Event objects for the agent's
// components, aggregating repeats (count, lastTimestamp) and writing them in
// the background so that a slow store never blocks a pod worker. Several
// writers write at once (the events of one object and reason always by the
// same one), so that a burst of events shares the store's commits.
package events
