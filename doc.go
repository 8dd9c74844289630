// Command shoal is the one binary of shoal: `shoal agent` runs the daemon on
// a Docker host, `shoal pause` is the pod sandbox's process, and every other
// sub-command is a client of an agent's API.
package main
