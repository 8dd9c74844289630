// Package engine is the agent's only door to the container engine. The rest of
// the agent sees the narrow, context-first Engine interface; docker.go is the one
// file that imports the Docker SDK.
package engine
