package podnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoal-dev/shoal/daemon/hostexec"
)

// ChainHostPorts (nat) holds one DNAT rule per hostPort of a pod on this
// node: sandboxes have no engine network, so the engine publishes no port.
// It is rewritten whole on every change. Jumps to it are appended to
// PREROUTING and OUTPUT for traffic to a local address, as the engine's
// own DOCKER chain is, and a rule appended to POSTROUTING masquerades
// connections from the loopback to a pod (127.0.0.1:<hostPort>), with
// route_localnet on the pod bridge, as Kubernetes' portmap plugin does.
const ChainHostPorts = "SHOAL-HOSTPORTS"

// ChainHostPortsMasq (nat) masquerades a pod's connection to its own host
// port through a node address: the DNAT sends the packet back into the
// pod, whose answer would otherwise go to itself, never through the
// host's connection tracking to be translated back (Kubernetes' portmap
// plugin does the same). One rule per pod with host ports, rewritten with
// ChainHostPorts; jumped to from POSTROUTING for packets onto the bridge.
const ChainHostPortsMasq = "SHOAL-HOSTPORTS-MASQ"

// HostPort is one published port of a pod.
type HostPort struct {
	Protocol      string // tcp, udp or sctp
	HostIP        string // "" or 0.0.0.0: every local address
	HostPort      int
	ContainerPort int
}

type podPorts struct {
	ip    netip.Addr
	ports []HostPort
}

// HostPorts keeps ChainHostPorts in step with the pods' published ports.
type HostPorts struct {
	bridge string
	log    *slog.Logger
	exec   func(ctx context.Context, stdin string, args ...string) (string, error)
	// procSys is /proc/sys (tests change it).
	procSys string

	mu      sync.Mutex
	pods    map[string]podPorts // by pod uid
	written string              // the last restore input applied
}

// NewHostPorts manages the host ports of pods on bridge ("" = BridgeDevice).
func NewHostPorts(bridge string, log *slog.Logger) *HostPorts {
	if bridge == "" {
		bridge = BridgeDevice
	}
	return &HostPorts{bridge: bridge, log: logOrDiscard(log).With("component", "host-ports"), procSys: "/proc/sys",
		exec: func(ctx context.Context, stdin string, args ...string) (string, error) {
			return runIptables(ctx, "", stdin, args...)
		}, pods: map[string]podPorts{}}
}

// Set publishes the pod's ports (none: nothing) at ip, and applies the
// change at once.
func (h *HostPorts) Set(ctx context.Context, uid string, ip netip.Addr, ports []HostPort) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur, had := h.pods[uid]
	if len(ports) == 0 {
		if !had {
			return nil
		}
		delete(h.pods, uid)
	} else {
		if had && cur.ip == ip && slices.Equal(cur.ports, ports) {
			return nil
		}
		h.pods[uid] = podPorts{ip: ip, ports: slices.Clone(ports)}
	}
	return h.applyLocked(ctx, false)
}

// Remove withdraws the pod's ports.
func (h *HostPorts) Remove(ctx context.Context, uid string) error {
	return h.Set(ctx, uid, netip.Addr{}, nil)
}

// Run rewrites the rules every resync (someone may have flushed them)
// until ctx ends.
func (h *HostPorts) Run(ctx context.Context) error {
	tick := time.NewTicker(DefaultResync)
	defer tick.Stop()
	warned := false
	for {
		h.mu.Lock()
		err := h.applyLocked(ctx, true)
		h.mu.Unlock()
		switch {
		case err != nil && !warned && ctx.Err() == nil:
			h.log.Warn("keeping the pods' host port rules failed", "err", err)
			warned = true
		case err == nil:
			warned = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// restoreInput is the chain's whole content for iptables-restore.
func (h *HostPorts) restoreInputLocked() string {
	var rules, masq []string
	for uid, p := range h.pods {
		if len(p.ports) > 0 {
			masq = append(masq, fmt.Sprintf("-A %s -s %s/32 -d %s/32 -m comment --comment \"shoal: pod %s to its own host port\" -j MASQUERADE",
				ChainHostPortsMasq, p.ip, p.ip, uid))
		}
		for _, hp := range p.ports {
			proto := strings.ToLower(hp.Protocol)
			if proto == "" {
				proto = "tcp"
			}
			r := "-A " + ChainHostPorts + " -p " + proto
			if hp.HostIP != "" && hp.HostIP != "0.0.0.0" {
				r += " -d " + hp.HostIP + "/32"
			}
			r += fmt.Sprintf(" -m %s --dport %d -m comment --comment \"shoal: host port of pod %s\" -j DNAT --to-destination %s",
				proto, hp.HostPort, uid, netip.AddrPortFrom(p.ip, uint16(hp.ContainerPort)))
			rules = append(rules, r)
		}
	}
	sort.Strings(rules)
	sort.Strings(masq)
	return "*nat\n:" + ChainHostPorts + " - [0:0]\n:" + ChainHostPortsMasq + " - [0:0]\n" +
		strings.Join(append(append(rules, masq...), ""), "\n") + "COMMIT\n"
}

// applyLocked writes the chain when it changed (or always, with force) and
// makes sure the jumps and the loopback masquerading are there.
func (h *HostPorts) applyLocked(ctx context.Context, force bool) error {
	input := h.restoreInputLocked()
	if input == h.written && !force {
		return nil
	}
	if _, err := h.exec(ctx, input, "iptables-restore", "-w", "5", "--noflush"); err != nil {
		return fmt.Errorf("write host port rules: %w", err)
	}
	h.written = input
	for _, r := range h.fixedRules() {
		check := append([]string{"iptables", "-w", "5", "-t", "nat", "-C"}, r...)
		if _, err := h.exec(ctx, "", check...); err == nil {
			continue
		}
		add := append([]string{"iptables", "-w", "5", "-t", "nat", "-A"}, r...)
		if _, err := h.exec(ctx, "", add...); err != nil {
			return fmt.Errorf("host port rules: %w", err)
		}
	}
	// Connections from 127.0.0.1 may leave through the bridge only with
	// route_localnet; a bridge not made yet gets it at the next resync.
	p := filepath.Join(h.procSys, "net", "ipv4", "conf", h.bridge, "route_localnet")
	if b, err := os.ReadFile(p); err == nil && strings.TrimSpace(string(b)) != "1" {
		if err := writeSysctl(p, h.procSys, "1"); err != nil {
			return fmt.Errorf("route_localnet on %s: %w", h.bridge, err)
		}
	}
	return nil
}

// fixedRules are the jumps to the chains and the loopback masquerading.
func (h *HostPorts) fixedRules() [][]string {
	jump := []string{"-m", "addrtype", "--dst-type", "LOCAL", "-m", "comment", "--comment", "shoal: host ports of pods", "-j", ChainHostPorts}
	return [][]string{
		append([]string{"PREROUTING"}, jump...),
		append([]string{"OUTPUT"}, jump...),
		{"POSTROUTING", "-s", "127.0.0.0/8", "-o", h.bridge, "-m", "comment", "--comment", "shoal: loopback to host ports of pods", "-j", "MASQUERADE"},
		{"POSTROUTING", "-o", h.bridge, "-m", "comment", "--comment", "shoal: pods to their own host ports", "-j", ChainHostPortsMasq},
	}
}

// writeSysctl writes a file under procSys. An agent run as a container has
// /proc/sys read-only; it writes through the host's root mounted at
// SHOAL_HOST_ROOT (docs/install.md) instead, whose /proc is the host's (the
// network sysctls are the writer's namespace's: the agent shares the
// host's network).
func writeSysctl(path, procSys, value string) error {
	err := os.WriteFile(path, []byte(value), 0o644)
	if err == nil || !errors.Is(err, syscall.EROFS) {
		return err
	}
	rel, rerr := filepath.Rel(procSys, path)
	onHost := hostexec.OnHost(filepath.Join("/proc/sys", rel))
	if rerr != nil || onHost == "" {
		return err
	}
	if herr := os.WriteFile(onHost, []byte(value), 0o644); herr != nil {
		return fmt.Errorf("%w (and through the host's root: %v)", err, herr)
	}
	return nil
}
