package podnet

import (
	"net/netip"
	"slices"

	"github.com/shoal-dev/shoal/api"
)

// RouteProtocol marks the routes the Router owns (the rtm_protocol of a
// route; `ip route show proto 136`). Only routes with it are ever replaced
// or deleted.
const RouteProtocol = 0x88

// route is one route to another node's pods: its subnet via its address.
type route struct {
	dst  netip.Prefix
	gw   netip.Addr
	node string
}

// internalIP is a node's first IPv4 InternalIP address.
func internalIP(n *api.Node) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if a.Type != api.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && ip.Unmap().Is4() {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// desiredRoutes lists a route for every node but self that claims a subnet
// inside cluster and has an address. Nodes that are not Ready keep theirs:
// their pods may come back. When nodes claim the same subnet, the route
// goes to the one that keeps it (the lowest name). A claim outside the
// cluster CIDR gets no route, so that no Node object can divert other
// traffic of the host.
func desiredRoutes(nodes map[string]*api.Node, self string, cluster netip.Prefix) map[netip.Prefix]route {
	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	want := map[netip.Prefix]route{}
	for _, name := range names {
		n := nodes[name]
		if name == self {
			continue
		}
		dst, ok := claimOf(n)
		if !ok || !cluster.Contains(dst.Addr()) || dst.Bits() < cluster.Bits() {
			continue
		}
		gw, ok := internalIP(n)
		if !ok {
			continue
		}
		if _, taken := want[dst]; !taken {
			want[dst] = route{dst: dst, gw: gw, node: name}
		}
	}
	return want
}

// routeChanges says how to get from the routes in the table to the wanted
// ones: owned are the table's routes with RouteProtocol (destination to
// gateway), foreign the destinations of all its other routes. A wanted
// destination that a foreign route has is left alone (blocked): it is
// someone else's, such as the host's own bridge, and a route of ours to it
// goes.
func routeChanges(want map[netip.Prefix]route, owned map[netip.Prefix]netip.Addr, foreign map[netip.Prefix]bool) (replace []route, remove []netip.Prefix, blocked []route) {
	for _, dst := range sortedPrefixes(want) {
		if r := want[dst]; foreign[dst] {
			blocked = append(blocked, r)
		} else if gw, ok := owned[dst]; !ok || gw != r.gw {
			replace = append(replace, r)
		}
	}
	for _, dst := range sortedPrefixes(owned) {
		if _, ok := want[dst]; !ok || foreign[dst] {
			remove = append(remove, dst)
		}
	}
	return replace, remove, blocked
}

func sortedPrefixes[V any](m map[netip.Prefix]V) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}
