package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// HostsEntryEnv, set to "1", tells the sandbox that the agent wires its
// network after it starts: the sandbox waits for its address and adds
// "<address> <hostname>" to /etc/hosts, which the engine writes without
// one for a container of network mode "none" (a pod resolves its own name,
// as under Kubernetes).
const HostsEntryEnv = "SHOAL_HOSTS_ENTRY"

// addHostsEntry waits (until ctx ends) for an IPv4 address other than the
// loopback's and adds it with the hostname to the hosts file at path.
func addHostsEntry(ctx context.Context, path string, addrs func() ([]net.Addr, error)) error {
	host, err := os.Hostname()
	if err != nil {
		return fmt.Errorf("hostname: %w", err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if ip := firstAddress(addrs); ip != "" {
			return appendHosts(path, ip, host)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func firstAddress(addrs func() ([]net.Addr, error)) string {
	list, err := addrs()
	if err != nil {
		return ""
	}
	for _, a := range list {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

// appendHosts adds the line unless the file has it, in place: the file is
// a bind mount, which a rename would not replace.
func appendHosts(path, ip, host string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	line := ip + "\t" + host
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Join(strings.Fields(l), "\t") == line {
			return nil
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if len(b) > 0 && !strings.HasSuffix(string(b), "\n") {
		line = "\n" + line
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
