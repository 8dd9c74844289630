// Package clienttest is an in-memory shoal API server for tests of clients:
// it keeps objects in a map and speaks the REST contract of the agent (CRUD,
// label selectors, watch streams, scale, status, log, exec over websocket,
// apply, members, version, healthz). It validates what it stores with the
// api package and keeps metadata.generation as the agent does (1 at
// creation, one more for every change of the spec), but runs no controllers:
// a Deployment never gets pods or a status unless a test adds them (Add,
// Update), and a deleted pod lingers only as PodTermination says.
package clienttest
