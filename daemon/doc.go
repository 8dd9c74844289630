// Package daemon is the agent of one host: it wires the replicated store, the
// engine driver, the pod runner, the controllers and the API server, and owns
// every long-running loop through one context.
package daemon
