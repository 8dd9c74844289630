package podnet

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"

	"github.com/shoal-dev/shoal/api"
)

// DefaultClusterCIDR is the pod network of a cluster unless configured.
const DefaultClusterCIDR = "10.244.0.0/16"

// nodeBits is the prefix length of one node's pod subnet.
const nodeBits = 24

// ParseClusterCIDR parses a cluster CIDR: an IPv4 network of at most /24,
// given by its network address.
func ParseClusterCIDR(s string) (*net.IPNet, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, fmt.Errorf("cluster CIDR %q: %w", s, ErrInvalidCIDR)
	}
	if p != p.Masked() {
		return nil, fmt.Errorf("cluster CIDR %q is not a network address (did you mean %s?): %w", s, p.Masked(), ErrInvalidCIDR)
	}
	if _, err := clusterPrefix(ipNet(p)); err != nil {
		return nil, err
	}
	return ipNet(p), nil
}

// clusterPrefix checks a cluster CIDR and returns it as a masked prefix.
func clusterPrefix(n *net.IPNet) (netip.Prefix, error) {
	p, ok := prefixOf(n)
	if !ok || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("cluster CIDR %v: only IPv4 is supported: %w", n, ErrInvalidCIDR)
	}
	if p.Bits() > nodeBits {
		return netip.Prefix{}, fmt.Errorf("cluster CIDR %v is smaller than one /%d per node: %w", n, nodeBits, ErrInvalidCIDR)
	}
	return p.Masked(), nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	addr, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	addr = addr.Unmap()
	if bits != addr.BitLen() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(addr, ones), true
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// parseSubnet parses a node's pod subnet: a /24 network inside cluster.
func parseSubnet(s string, cluster netip.Prefix) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Bits() != nodeBits || p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("pod subnet %q is not an IPv4 /%d network: %w", s, nodeBits, ErrInvalidCIDR)
	}
	if !cluster.Contains(p.Addr()) {
		return netip.Prefix{}, fmt.Errorf("pod subnet %s is outside the cluster CIDR %s: %w", p, cluster, ErrInvalidCIDR)
	}
	return p, nil
}

// nodeClaim is the pod subnet a Node claims.
type nodeClaim struct {
	node   string
	subnet netip.Prefix
}

// claimOf returns the subnet a Node claims: spec.podCIDR, else the first
// IPv4 entry of spec.podCIDRs. Anything that does not parse claims nothing;
// a claim of another size still blocks the /24s it overlaps.
func claimOf(n *api.Node) (netip.Prefix, bool) {
	cidrs := n.Spec.PodCIDRs
	if n.Spec.PodCIDR != "" {
		cidrs = append([]string{n.Spec.PodCIDR}, cidrs...)
	}
	for _, s := range cidrs {
		if p, err := netip.ParsePrefix(s); err == nil && p.Addr().Is4() {
			return p.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// claimsOf lists the claims of every node but self, sorted by node name.
func claimsOf(nodes []*api.Node, self string) []nodeClaim {
	var out []nodeClaim
	for _, n := range nodes {
		if n.Name == self {
			continue
		}
		if p, ok := claimOf(n); ok {
			out = append(out, nodeClaim{node: n.Name, subnet: p})
		}
	}
	slices.SortFunc(out, func(a, b nodeClaim) int { return cmp.Compare(a.node, b.node) })
	return out
}

// lowestFree returns the lowest /24 of cluster that overlaps no claim.
func lowestFree(cluster netip.Prefix, claims []nodeClaim) (netip.Prefix, error) {
	return freeFrom(cluster, claims, 0)
}

// spreadFree returns the first /24 of cluster that overlaps no claim,
// searching from a point derived from the node's name and wrapping around.
// Nodes that give up one contested subnet at the same time (many joining at
// once, each with a view a little behind the others') then mostly land on
// different ones; taking the lowest free each, they would contest the next
// one, round after round.
func spreadFree(cluster netip.Prefix, claims []nodeClaim, self string) (netip.Prefix, error) {
	h := fnv.New32a()
	h.Write([]byte(self))
	return freeFrom(cluster, claims, h.Sum32())
}

// freeFrom returns the first /24 of cluster at or after the start-th one
// (modulo their number), wrapping around, that overlaps no claim.
func freeFrom(cluster netip.Prefix, claims []nodeClaim, start uint32) (netip.Prefix, error) {
	base := binary.BigEndian.Uint32(cluster.Addr().AsSlice())
	count := uint32(1) << (nodeBits - cluster.Bits())
	for n := range count {
		i := (start + n) % count
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], base+i<<(32-nodeBits))
		cand := netip.PrefixFrom(netip.AddrFrom4(b), nodeBits)
		if !slices.ContainsFunc(claims, func(c nodeClaim) bool { return c.subnet.Overlaps(cand) }) {
			return cand, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("all %d /%d subnets of %s are claimed: %w", count, nodeBits, cluster, ErrNoSubnet)
}

// gatewayOf is the bridge's address in subnet: its first host address.
func gatewayOf(subnet netip.Prefix) netip.Addr {
	return subnet.Masked().Addr().Next()
}
