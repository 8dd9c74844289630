// Package poll waits for a condition in tests: it checks it until it holds
// or a deadline passes, never sleeping a fixed time to synchronise. Every
// package's tests use it (api imports nothing of shoal's own, so anyone
// may import it).
package poll
