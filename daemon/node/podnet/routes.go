package podnet

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/shoal-dev/shoal/api"
)

// RouteProtocol marks the routes the Router owns (the rtm_protocol of a
// route; `ip route show proto 136`). Only routes with it are ever replaced
// or deleted.
const RouteProtocol = 0x88

// route is one route to another node's pods: its subnet via its address
// (host-gw), via its VTEP address over the device dev (onlink), or over
// the device dev with no gateway (WireGuard).
type route struct {
	dst  netip.Prefix
	gw   netip.Addr
	dev  int // link index; 0: whichever link reaches gw
	node string
}

// via is the route's next hop for logs: its gateway, or its device when it
// has none.
func (r route) via() string {
	if !r.gw.IsValid() {
		return fmt.Sprintf("device %d", r.dev)
	}
	return r.gw.String()
}

// nextHop is where a route in the table leads.
type nextHop struct {
	gw  netip.Addr
	dev int
}

// matches reports whether the table's hop is what r asks for.
func (r route) matches(h nextHop) bool {
	return h.gw == r.gw && (r.dev == 0 || h.dev == r.dev)
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

// desiredRoutes lists the host-gw route to every peer (see peersOf).
func desiredRoutes(nodes map[string]*api.Node, self string, cluster netip.Prefix) map[netip.Prefix]route {
	peers, _ := peersOf(nodes, self, cluster)
	want := map[netip.Prefix]route{}
	for _, p := range peers {
		want[p.Subnet] = route{dst: p.Subnet, gw: p.Addr, node: p.Node}
	}
	return want
}

// routeChanges says how to get from the routes in the table to the wanted
// ones: owned are the table's routes with RouteProtocol (destination to
// next hop), foreign the destinations of all its other routes. A wanted
// destination that a foreign route has is left alone (blocked): it is
// someone else's, such as the host's own bridge, and a route of ours to it
// goes.
func routeChanges(want map[netip.Prefix]route, owned map[netip.Prefix]nextHop, foreign map[netip.Prefix]bool) (replace []route, remove []netip.Prefix, blocked []route) {
	for _, dst := range sortedPrefixes(want) {
		if r := want[dst]; foreign[dst] {
			blocked = append(blocked, r)
		} else if h, ok := owned[dst]; !ok || !r.matches(h) {
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
