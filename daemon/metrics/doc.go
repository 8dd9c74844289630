// Package metrics holds the agent's Prometheus metrics: every family the
// agent exports at /metrics, registered on one registry per agent (never
// the process-wide default, so that agents run in one process in tests
// keep apart), and the handler that serves them.
//
// It is the only importer of the Prometheus client library. The
// subsystems know nothing of it: each declares a small observer
// interface or a Stats method of its own, and the agent hands each the
// *Metrics, which implements every observer. Counters a subsystem
// already keeps (gossip, ingress, the service proxy) are read when
// Prometheus scrapes, not copied on every event.
//
// Label values come from fixed sets only (verbs, resources of the kind
// registry, status codes, DNS types and rcodes, controller names), never
// from object names or request paths, so the number of series is bounded
// whatever the cluster holds. docs/metrics.md lists every family.
package metrics
