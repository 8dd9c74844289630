// Package registry gives Kubernetes semantics to the replicated records of
// package gossip: objects of the api kinds stored as a spec record and a
// status record, defaulted and validated on every write, an admission chain
// (Service IP allocation, Pod Security), graceful delete, namespace
// cascades, apply of many objects at once, watches translated from record
// changes, and the validation of records received from other agents.
// Replication itself (package gossip) knows keys, versions and bytes only.
package registry
