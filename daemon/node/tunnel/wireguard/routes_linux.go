package wireguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol marks the routes a Tunnel owns (rtm_protocol), apart from
// the host-gw routes of the pod network (0x88) and everyone else's.
const RouteProtocol = 0x89

// syncRoutes keeps one route per allowed prefix through the device, and
// removes the routes of the device this Tunnel no longer wants.
func (t *Tunnel) syncRoutes(want map[Key]configured) error {
	wanted := map[netip.Prefix]bool{}
	for _, p := range want {
		for _, a := range p.allowed {
			wanted[a] = true
		}
	}
	var errs []error
	have, err := t.nl.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{LinkIndex: t.link, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("wireguard: list routes of %s: %w", t.cfg.Name, err)
	}
	for _, r := range have {
		if r.Protocol != RouteProtocol || r.Dst == nil {
			continue
		}
		dst, ok := netipPrefix(r.Dst)
		if ok && wanted[dst] {
			continue
		}
		if err := t.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("remove route %s dev %s: %w", r.Dst, t.cfg.Name, err))
		}
	}
	t.routes = map[netip.Prefix]bool{}
	for dst := range wanted {
		r := &netlink.Route{LinkIndex: t.link, Dst: prefixNet(dst), Scope: netlink.SCOPE_LINK, Protocol: RouteProtocol}
		if err := t.nl.RouteReplace(r); err != nil {
			errs = append(errs, fmt.Errorf("route %s dev %s: %w", dst, t.cfg.Name, err))
			continue
		}
		t.routes[dst] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("wireguard: %w", errors.Join(errs...))
	}
	return nil
}

// Routes are the destinations routed through the device by this Tunnel.
func (t *Tunnel) Routes() []netip.Prefix {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []netip.Prefix
	for p := range t.routes {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func netipPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}
