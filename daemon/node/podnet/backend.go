package podnet

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
)

// Mode is the pod network backend an agent is started with
// (--pod-network-backend).
type Mode string

// The modes an agent takes, and the backends a pair of nodes may use.
const (
	// ModeHostGW routes each peer's pod subnet via the peer's address: the
	// hosts must share a segment that lets pod addresses through.
	ModeHostGW Mode = "host-gw"
	// ModeVXLAN wraps pod traffic to every peer that takes VXLAN in UDP
	// between the hosts' addresses (the kernel's vxlan device).
	ModeVXLAN Mode = "vxlan"
	// ModeWireGuard sends pod traffic to every peer that publishes a key
	// signed by the cluster's CA through the encrypted WireGuard device;
	// peers that publish none are reached as under auto (host-gw on the
	// segment, else VXLAN).
	ModeWireGuard Mode = "wireguard"
	// ModeAuto uses host-gw to peers on a directly connected subnet and,
	// to the others, WireGuard when both publish a verified key, else
	// VXLAN.
	ModeAuto Mode = "auto"
)

// ParseMode checks the value of --pod-network-backend.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.TrimSpace(s)); m {
	case ModeHostGW, ModeVXLAN, ModeWireGuard, ModeAuto:
		return m, nil
	default:
		return "", fmt.Errorf("%q: give host-gw, vxlan, wireguard or auto (the default)", s)
	}
}

// MayUseWireGuard reports whether the mode runs the WireGuard device, so
// that some peer may be reached through it.
func (m Mode) MayUseWireGuard() bool { return m == ModeWireGuard || m == ModeAuto }

// Encapsulates reports whether the mode may wrap pod packets in another
// header toward some peer, so that pods need a smaller MTU.
func (m Mode) Encapsulates() bool { return m != ModeHostGW }

// Peer is another node as the pod network sees it: where its pods are and
// what it published about reaching them.
type Peer struct {
	Node   string
	Subnet netip.Prefix // its pod /24
	Addr   netip.Addr   // its InternalIP
	// Mode is the backend it was started with ("" for an agent that
	// publishes none: host-gw only).
	Mode Mode
	// VXLANMAC is its VTEP's MAC, nil when it takes no VXLAN traffic.
	VXLANMAC net.HardwareAddr
	// WireGuardKey is its signed WireGuard key (the annotation
	// wireguard.Annotation), "" when it takes no WireGuard (another mode,
	// or its device failed); the WireGuard backend verifies it before
	// using it.
	WireGuardKey string
	// UsesWireGuard: it reaches some node through WireGuard (its
	// AnnotationBackendsInUse), so maybe this one.
	UsesWireGuard bool
}

// badPeer is a node whose published pod network data does not hold up; it
// gets no route.
type badPeer struct {
	node string
	err  error
}

// peersOf lists every node but self that claims a subnet inside cluster and
// has an address, sorted by subnet. Nodes that are not Ready keep theirs:
// their pods may come back. When nodes claim the same subnet it goes to the
// one that keeps it (the lowest name). A claim outside the cluster CIDR gets
// nothing, so that no Node object can divert other traffic of the host. A
// node whose annotations are malformed is left out and returned in bad.
func peersOf(nodes map[string]*api.Node, self string, cluster netip.Prefix) (peers []Peer, bad []badPeer) {
	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	taken := map[netip.Prefix]bool{}
	for _, name := range names {
		n := nodes[name]
		if name == self {
			continue
		}
		dst, ok := claimOf(n)
		if !ok || !cluster.Contains(dst.Addr()) || dst.Bits() < cluster.Bits() || taken[dst] {
			continue
		}
		addr, ok := internalIP(n)
		if !ok {
			continue
		}
		p := Peer{Node: name, Subnet: dst, Addr: addr}
		if err := p.readAnnotations(n.Annotations, cluster); err != nil {
			bad = append(bad, badPeer{node: name, err: err})
			continue
		}
		taken[dst] = true
		peers = append(peers, p)
	}
	slices.SortFunc(peers, func(a, b Peer) int { return a.Subnet.Addr().Compare(b.Subnet.Addr()) })
	return peers, bad
}

// readAnnotations takes the peer's published backend and VTEP MAC, checked:
// a MAC that is not a unicast Ethernet address, or a VTEP address that is
// not a usable unicast IPv4 address outside the pod network, is an error.
// An unknown backend name (a newer agent's) is kept as it is: what the peer
// takes is told by the data it publishes.
func (p *Peer) readAnnotations(ann map[string]string, cluster netip.Prefix) error {
	p.Mode = Mode(ann[api.AnnotationPodNetworkBackend])
	p.WireGuardKey = ann[wireguard.Annotation]
	p.UsesWireGuard = slices.Contains(strings.Split(ann[api.AnnotationBackendsInUse], ","), string(ModeWireGuard))
	s, ok := ann[api.AnnotationVXLANMAC]
	if !ok || s == "" {
		return nil
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return fmt.Errorf("annotation %s %q: not an Ethernet MAC address", api.AnnotationVXLANMAC, s)
	}
	if mac[0]&1 == 1 || slices.Equal(mac, make(net.HardwareAddr, 6)) {
		return fmt.Errorf("annotation %s %q: not a unicast MAC address", api.AnnotationVXLANMAC, s)
	}
	if !p.Addr.IsGlobalUnicast() || cluster.Contains(p.Addr) {
		return fmt.Errorf("address %s cannot be a VXLAN endpoint: not a unicast address outside the pod network", p.Addr)
	}
	p.VXLANMAC = mac
	return nil
}

// chooseBackend picks the backend to reach peer with: the best one both
// nodes support. A tunnel needs both nodes to take it (vxlanOK, wgOK: this
// node's device is ready and the peer published what the tunnel needs, a
// verified key for WireGuard); then it is used when either side asks for
// it (so that a pair uses one backend both ways) or, under auto and
// wireguard, when the peer is not on a directly connected subnet (direct).
// WireGuard comes first: between segments traffic is encrypted whenever
// both sides can. Everything else is host-gw, the one every agent knows.
func chooseBackend(self Mode, vxlanOK, wgOK bool, peer Peer, direct bool) Mode {
	if self == ModeHostGW {
		return ModeHostGW
	}
	if wgOK && (self == ModeWireGuard || peer.Mode == ModeWireGuard || !direct) {
		return ModeWireGuard
	}
	if vxlanOK && peer.VXLANMAC != nil && (self == ModeVXLAN || peer.Mode == ModeVXLAN || !direct) {
		return ModeVXLAN
	}
	return ModeHostGW
}

// needsWireGuard reports whether this node's WireGuard device must run
// for peer, whose key verifies (wgOK), under auto: when chooseBackend may
// send to it through the device (it asks for WireGuard, or is not on a
// directly connected subnet), or when the peer uses WireGuard towards some
// node and so may reach this one through it (asymmetric routes: coarse,
// but safe).
func needsWireGuard(wgOK bool, peer Peer, direct bool) bool {
	return wgOK && (peer.Mode == ModeWireGuard || !direct || peer.UsesWireGuard)
}

// inUse is the value of AnnotationBackendsInUse for the chosen backends.
func inUse(chosen map[string]Mode) string {
	var out []string
	for _, m := range chosen {
		if !slices.Contains(out, string(m)) {
			out = append(out, string(m))
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// vxlanMAC is the VTEP MAC of a node with address addr: fixed, so that a
// device made again (after a reboot) keeps it and peers need no update;
// locally administered and unicast (0a:5a:<addr>).
func vxlanMAC(addr netip.Addr) net.HardwareAddr {
	a := addr.As4()
	return net.HardwareAddr{0x0a, 0x5a, a[0], a[1], a[2], a[3]}
}

// vtepAddr is the address a node's VXLAN device has, and the gateway its
// peers route its pod subnet via: the subnet's network address (unused by
// pods: the bridge has the first host address).
func vtepAddr(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr() }
