//go:build unix

package sandbox

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// WakeNetWait tells the network gate of the process pid that the pod's
// wiring is done (it also looks by itself every 20 ms). Only a process
// with the gate at NetWaitMount is signalled: an agent running in a PID
// namespace of its own sees its own processes under the host's numbers.
func WakeNetWait(pid int) {
	if pid <= 0 {
		return
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/root" + NetWaitMount); err != nil {
		return
	}
	_ = unix.Kill(pid, unix.SIGCONT)
}
