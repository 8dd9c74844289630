package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// EnsurePodBridge makes the Linux bridge device name exist, up, with the
// subnet's gateway address and no other IPv4 address, and returns the
// gateway. A bridge made by the engine for the old network "shoal" is used
// as it is (same name, same address) until that network is removed. A new
// bridge gets a fixed MAC address, derived from the gateway: otherwise the
// kernel gives it the lowest of its ports' and changes it as pods come and
// go, and every pod's neighbour entry for the gateway goes stale.
func EnsurePodBridge(name string, subnet netip.Prefix) (netip.Addr, error) {
	if !subnet.Addr().Is4() || subnet.Bits() > 30 {
		return netip.Addr{}, fmt.Errorf("pod bridge subnet %s: %w", subnet, ErrInvalidCIDR)
	}
	subnet = subnet.Masked()
	gw := gatewayOf(subnet)
	link, err := netlink.LinkByName(name)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		g := gw.As4()
		mac := net.HardwareAddr{0x02, 0x5a, g[0], g[1], g[2], g[3]}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac}}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, errExist) {
			return netip.Addr{}, fmt.Errorf("create pod bridge %s: %w", name, err)
		}
		link, err = netlink.LinkByName(name)
	}
	if err != nil {
		return netip.Addr{}, fmt.Errorf("pod bridge %s: %w", name, err)
	}
	if link.Type() != "bridge" {
		return netip.Addr{}, fmt.Errorf("pod bridge %s exists but is a %s device: remove it (ip link del %s) and restart the agent", name, link.Type(), name)
	}
	want := &net.IPNet{IP: gw.AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("pod bridge %s: list addresses: %w", name, err)
	}
	has := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			has = true
			continue
		}
		// The address of an earlier subnet (the node moved).
		if err := netlink.AddrDel(link, &a); err != nil {
			return netip.Addr{}, fmt.Errorf("pod bridge %s: remove old address %s: %w", name, a.IPNet, err)
		}
	}
	if !has {
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: want}); err != nil && !errors.Is(err, errExist) {
			return netip.Addr{}, fmt.Errorf("pod bridge %s: address %s: %w", name, want, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return netip.Addr{}, fmt.Errorf("pod bridge %s: set up: %w", name, err)
	}
	return gw, nil
}

// ReattachPorts puts every host end of a pod's veth pair that lost its
// master (the bridge was deleted and made again, as when the old engine
// network is removed) back on the bridge, with hairpin mode, and returns
// how many it moved.
func ReattachPorts(bridge string) (int, error) {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return 0, fmt.Errorf("pod bridge %s: %w", bridge, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return 0, fmt.Errorf("list links: %w", err)
	}
	n := 0
	var errs []error
	for _, l := range links {
		if uidOfAlias(l.Attrs().Alias) == "" || l.Attrs().MasterIndex == br.Attrs().Index {
			continue
		}
		if err := netlink.LinkSetMasterByIndex(l, br.Attrs().Index); err != nil {
			errs = append(errs, fmt.Errorf("attach %s: %w", l.Attrs().Name, err))
			continue
		}
		_ = netlink.LinkSetHairpin(l, true)
		_ = netlink.LinkSetUp(l)
		n++
	}
	return n, errors.Join(errs...)
}

// RemovePodBridge deletes the bridge (tests).
func RemovePodBridge(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil
	}
	return netlink.LinkDel(l)
}

// EnsureMasquerade keeps the rule that masquerades what pods of subnet
// send beyond the node's pod bridge (to the world; pod-to-pod traffic
// between hosts is exempted first by ChainPostrouting), appended to nat
// POSTROUTING as the engine's own masquerading rules are, and removes the
// rule of an earlier subnet (old may be invalid).
func EnsureMasquerade(ctx context.Context, bridge string, subnet, old netip.Prefix) error {
	if old.IsValid() && old != subnet {
		args := append([]string{"iptables", "-w", "5", "-t", "nat", "-D", "POSTROUTING"}, masqueradeRule(bridge, old)...)
		_, _ = runIptables(ctx, "", "", args...) // gone already is fine
	}
	rule := masqueradeRule(bridge, subnet)
	check := append([]string{"iptables", "-w", "5", "-t", "nat", "-C", "POSTROUTING"}, rule...)
	if _, err := runIptables(ctx, "", "", check...); err == nil {
		return nil
	}
	add := append([]string{"iptables", "-w", "5", "-t", "nat", "-A", "POSTROUTING"}, rule...)
	if _, err := runIptables(ctx, "", "", add...); err != nil {
		return fmt.Errorf("pod masquerading rule: %w", err)
	}
	return nil
}

// RemoveMasquerade deletes the rule of subnet (tests).
func RemoveMasquerade(ctx context.Context, bridge string, subnet netip.Prefix) error {
	args := append([]string{"iptables", "-w", "5", "-t", "nat", "-D", "POSTROUTING"}, masqueradeRule(bridge, subnet)...)
	_, err := runIptables(ctx, "", "", args...)
	return err
}

func masqueradeRule(bridge string, subnet netip.Prefix) []string {
	return []string{"-s", subnet.Masked().String(), "!", "-o", bridge,
		"-m", "comment", "--comment", "shoal: pods reach beyond the node", "-j", "MASQUERADE"}
}

// errExist is the kernel's answer to creating what exists.
var errExist = unix.EEXIST
