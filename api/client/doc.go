// Package client is the Go client of the shoal REST API. The shoal CLI, the
// integration tests and any Go program use it to talk to an agent.
package client
