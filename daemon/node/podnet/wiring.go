package podnet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net"
	"net/netip"
	"strings"
)

// PodAliasPrefix starts the alias (ip link's "alias") of every host end of
// a pod's veth pair; the pod's uid follows. The agent owns exactly the
// links whose alias starts with it.
const PodAliasPrefix = "shoal-pod:"

// PodInterface is the name of the pod's interface in its sandbox.
const PodInterface = "eth0"

// HostVethName is the host end of a pod's veth pair: "shv" and 11 hex
// digits of a hash of the pod uid (15 characters at most, the kernel's
// limit), so that the agent finds it again after a restart without
// keeping a list.
func HostVethName(uid string) string {
	h := sha256.Sum256([]byte(uid))
	return "shv" + hex.EncodeToString(h[:])[:11]
}

// uidOfAlias returns the pod uid of an alias of ours, "" for others.
// PodMAC is the hardware address of a pod's interface, made from its
// address as the CNI plugins do (0a:58 and the four bytes): a pod wired
// again with its address (a new container of a pod without a sandbox)
// keeps its MAC, so that its neighbours' ARP caches stay right.
func PodMAC(ip netip.Addr) net.HardwareAddr {
	b := ip.As4()
	return net.HardwareAddr{0x0a, 0x58, b[0], b[1], b[2], b[3]}
}

func uidOfAlias(alias string) string {
	uid, ok := strings.CutPrefix(alias, PodAliasPrefix)
	if !ok {
		return ""
	}
	return uid
}

// SimulatedWiring gives pods addresses from an IPAM and touches no device:
// for simulated agents, whose sandboxes are not real.
type SimulatedWiring struct {
	IPAM *IPAM
}

// Attach hands out the pod's address.
func (s SimulatedWiring) Attach(_ context.Context, uid string, _ int) (netip.Addr, error) {
	return s.IPAM.Allocate(uid)
}

// Reserve hands out the pod's address.
func (s SimulatedWiring) Reserve(uid string) (netip.Addr, error) { return s.IPAM.Allocate(uid) }

// Address returns the pod's address.
func (s SimulatedWiring) Address(uid string) (netip.Addr, bool) { return s.IPAM.Lookup(uid) }

// Adopt records an address the engine gave the pod's sandbox.
func (s SimulatedWiring) Adopt(uid string, ip netip.Addr) error { return s.IPAM.Reserve(uid, ip) }

// Detach frees the pod's address.
func (s SimulatedWiring) Detach(_ context.Context, uid string) error { return s.IPAM.Release(uid) }

// Cleanup frees the addresses of pods that are gone.
func (s SimulatedWiring) Cleanup(_ context.Context, keep func(uid string) bool) error {
	_, err := s.IPAM.Retain(keep)
	return err
}

// logOrDiscard returns log, or a logger that drops everything.
func logOrDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
