// Package server serves shoal's Kubernetes-shaped REST API over HTTP. It
// declares the Backend it needs (the replicated object store, and the agent's
// pod streams: logs, exec, attach and port-forward, over the protocols
// kubectl speaks) and maps every error to a JSON Status in one place.
package server
