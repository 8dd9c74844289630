package podnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netlinkTable is the main routing table of a network namespace.
type netlinkTable struct {
	h *netlink.Handle
}

func openRouteTable(nsPath string) (routeTable, error) {
	if nsPath == "" {
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		return &netlinkTable{h: h}, nil
	}
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	return &netlinkTable{h: h}, nil
}

func (t *netlinkTable) list() (map[netip.Prefix]nextHop, map[netip.Prefix]bool, error) {
	routes, err := t.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, nil, fmt.Errorf("list routes: %w", err)
	}
	owned, foreign := map[netip.Prefix]nextHop{}, map[netip.Prefix]bool{}
	for _, r := range routes {
		dst, ok := prefixOf(r.Dst)
		if !ok {
			continue // the default route
		}
		if r.Protocol != RouteProtocol {
			foreign[dst] = true
			continue
		}
		gw, _ := netip.AddrFromSlice(r.Gw)
		owned[dst] = nextHop{gw: gw.Unmap(), dev: r.LinkIndex}
	}
	return owned, foreign, nil
}

func (t *netlinkTable) replace(r route) error {
	nr := &netlink.Route{Dst: ipNet(r.dst), Gw: net.IP(r.gw.AsSlice()),
		Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN, Scope: netlink.SCOPE_UNIVERSE}
	switch {
	case r.dev != 0 && !r.gw.IsValid():
		// Through a point-to-point device (WireGuard): no gateway.
		nr.Gw, nr.LinkIndex, nr.Scope = nil, r.dev, netlink.SCOPE_LINK
	case r.dev != 0:
		// Over a tunnel device: the gateway is the peer's tunnel address,
		// on no subnet of the device.
		nr.LinkIndex, nr.Flags = r.dev, int(netlink.FLAG_ONLINK)
	}
	err := t.h.RouteReplace(nr)
	if err != nil {
		return fmt.Errorf("route %s via %s: %w", r.dst, r.via(), err)
	}
	return nil
}

// remove deletes the route to dst with RouteProtocol: the kernel matches
// the protocol, so a route of someone else is never deleted.
func (t *netlinkTable) remove(dst netip.Prefix) error {
	// Scope "nowhere" matches a route of any scope: host-gw and VXLAN
	// routes are universe, those through WireGuard link.
	err := t.h.RouteDel(&netlink.Route{Dst: ipNet(dst), Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN, Scope: netlink.SCOPE_NOWHERE})
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("delete route %s: %w", dst, err)
	}
	return nil
}

func (t *netlinkTable) close() { t.h.Close() }
