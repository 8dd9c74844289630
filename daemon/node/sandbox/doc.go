// Package sandbox makes and runs the pod sandbox: the container that holds a
// pod's network, IPC and PID namespaces while its app containers come and go.
// The sandbox image is built from shoal's own static binary and imported
// into the local engine (EnsureImage), so no registry is needed; the
// container runs `shoal pause` (Pause) as its PID 1.
package sandbox
