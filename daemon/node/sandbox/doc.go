// Package sandbox makes and runs the pod sandbox: the container that holds a
// pod's network and IPC namespaces while its app containers come and go.
// The sandbox image is made by the agent and imported into the local engine
// (EnsureImage), so no registry is needed. Its PID 1 is the tiny pause
// (TinyPause), a static program of a few hundred bytes, on amd64 and arm64;
// elsewhere the image holds shoal's own static binary, which runs `shoal
// pause` (Pause). AddHostsEntry gives a wired sandbox the pod's own name.
// NetWait is the network gate of pods of one container, which run without
// a sandbox: a program of a few hundred bytes, installed by the agent
// (InstallNetWait) and mounted at NetWaitMount as the container's
// entrypoint, that waits for the pod's default route and then runs the
// pod's command; WakeNetWait tells it the wiring is done.
package sandbox
