//go:build unix

package sandbox

import "golang.org/x/sys/unix"

// WakeNetWait tells the network gate of the process pid that the pod's
// wiring is done (it also looks by itself every 20 ms, for an agent that
// cannot signal the pod's processes).
func WakeNetWait(pid int) {
	if pid > 0 {
		_ = unix.Kill(pid, unix.SIGCONT)
	}
}
