package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/daemon/hostexec"
)

// AddHostsEntry adds "<ip>\t<hostname>" to the hosts file of the sandbox
// whose main process is pid. The engine writes that file without such a
// line for a container of network mode "none", and a pod resolves its own
// name, as under Kubernetes; the agent adds it once it has wired the
// sandbox and knows the address. The file is reached through the process's
// root (under the host's /proc for an agent run as a container), opened so
// that no symbolic link inside the sandbox can lead the write outside of
// it, and written in place: it is a bind mount, which the pod's containers
// share and a rename would not replace.
func AddHostsEntry(pid int, ip netip.Addr, hostname string) error {
	if pid <= 0 {
		return fmt.Errorf("hosts entry: the sandbox has no process")
	}
	path := "/proc/" + strconv.Itoa(pid) + "/root"
	root, err := os.OpenRoot(path)
	if errors.Is(err, fs.ErrNotExist) {
		// An agent run as a container sees its own processes in its /proc,
		// and the host's under the host's root.
		if onHost := hostexec.OnHost(path); onHost != "" {
			root, err = os.OpenRoot(onHost)
		}
	}
	if err != nil {
		return fmt.Errorf("hosts entry: the sandbox's root: %w", err)
	}
	defer root.Close()
	return appendHosts(root, "etc/hosts", ip.String(), hostname)
}

// appendHosts adds the line to the file name under root unless it has it.
func appendHosts(root *os.Root, name, ip, host string) error {
	b, err := root.ReadFile(name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	line := ip + "\t" + host
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Join(strings.Fields(l), "\t") == line {
			return nil
		}
	}
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if len(b) > 0 && !strings.HasSuffix(string(b), "\n") {
		line = "\n" + line
	}
	_, werr := f.WriteString(line + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
