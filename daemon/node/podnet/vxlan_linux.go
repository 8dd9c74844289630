package podnet

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkVXLAN is the VXLAN device of the namespace of h.
type netlinkVXLAN struct {
	h   *netlink.Handle
	cfg VXLANConfig
}

func (t *netlinkTable) vxlan(cfg VXLANConfig) vxlanDevice {
	return &netlinkVXLAN{h: t.h, cfg: cfg.withDefaults()}
}

func (t *netlinkTable) direct(addr netip.Addr) bool {
	routes, err := t.h.RouteGet(addr.AsSlice())
	return err == nil && len(routes) > 0 && routes[0].Gw == nil
}

// uplinkOf returns the link that has addr, the one VXLAN packets leave by.
func uplinkOf(h *netlink.Handle, addr netip.Addr) (netlink.Link, error) {
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			return h.LinkByIndex(a.LinkIndex)
		}
	}
	return nil, fmt.Errorf("no interface of this host has the node's address %s; VXLAN sends from it (give --advertise an address of this host)", addr)
}

// UplinkMTU is the MTU of the link that has the node's address addr.
func UplinkMTU(addr netip.Addr) (int, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return 0, fmt.Errorf("netlink: %w", err)
	}
	defer h.Close()
	l, err := uplinkOf(h, addr)
	if err != nil {
		return 0, err
	}
	return l.Attrs().MTU, nil
}

// SetPodMTU gives the pod bridge the MTU new pods' interfaces get.
func SetPodMTU(bridge string, mtu int) error {
	l, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("pod bridge %s: %w", bridge, err)
	}
	if l.Attrs().MTU == mtu {
		return nil
	}
	if err := netlink.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("pod bridge %s: set MTU %d: %w", bridge, mtu, err)
	}
	return nil
}

func (v *netlinkVXLAN) ensure(addr netip.Addr) (int, net.HardwareAddr, error) {
	c := v.cfg
	up, err := uplinkOf(v.h, c.Local)
	if err != nil {
		return 0, nil, err
	}
	mtu := up.Attrs().MTU - VXLANOverhead
	mac := vxlanMAC(c.Local)
	link, err := v.h.LinkByName(c.Device)
	if err != nil && !errors.As(err, &netlink.LinkNotFoundError{}) {
		return 0, nil, fmt.Errorf("vxlan device %s: %w", c.Device, err)
	}
	if link != nil {
		x, ok := link.(*netlink.Vxlan)
		if !ok || x.VxlanId != c.ID || x.Port != c.Port || !x.SrcAddr.Equal(c.Local.AsSlice()) ||
			x.VtepDevIndex != up.Attrs().Index || x.Learning {
			// Made for another address, port or uplink: made again (its
			// entries and routes go with it and are set again below and
			// by the caller).
			if err := v.h.LinkDel(link); err != nil {
				return 0, nil, fmt.Errorf("vxlan device %s: remove the one of other settings: %w", c.Device, err)
			}
			link = nil
		}
	}
	if link == nil {
		x := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: c.Device, MTU: mtu, HardwareAddr: mac},
			VxlanId: c.ID, VtepDevIndex: up.Attrs().Index, SrcAddr: c.Local.AsSlice(), Port: c.Port, Learning: false}
		if err := v.h.LinkAdd(x); err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, nil, fmt.Errorf("create vxlan device %s: %w", c.Device, err)
		}
		if link, err = v.h.LinkByName(c.Device); err != nil {
			return 0, nil, fmt.Errorf("vxlan device %s: %w", c.Device, err)
		}
	}
	if link.Attrs().MTU != mtu {
		if err := v.h.LinkSetMTU(link, mtu); err != nil {
			return 0, nil, fmt.Errorf("vxlan device %s: set MTU %d: %w", c.Device, mtu, err)
		}
	}
	if !bytes.Equal(link.Attrs().HardwareAddr, mac) {
		if err := v.h.LinkSetHardwareAddr(link, mac); err != nil {
			return 0, nil, fmt.Errorf("vxlan device %s: set MAC %s: %w", c.Device, mac, err)
		}
	}
	if err := v.ensureAddr(link, addr); err != nil {
		return 0, nil, err
	}
	if err := v.h.LinkSetUp(link); err != nil {
		return 0, nil, fmt.Errorf("vxlan device %s: set up: %w", c.Device, err)
	}
	return link.Attrs().Index, mac, nil
}

// ensureAddr leaves addr/32 the device's only IPv4 address.
func (v *netlinkVXLAN) ensureAddr(link netlink.Link, addr netip.Addr) error {
	want := &net.IPNet{IP: addr.AsSlice(), Mask: net.CIDRMask(32, 32)}
	addrs, err := v.h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("vxlan device %s: list addresses: %w", v.cfg.Device, err)
	}
	has := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			has = true
			continue
		}
		if err := v.h.AddrDel(link, &a); err != nil {
			return fmt.Errorf("vxlan device %s: remove old address %s: %w", v.cfg.Device, a.IPNet, err)
		}
	}
	if !has {
		if err := v.h.AddrAdd(link, &netlink.Addr{IPNet: want}); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("vxlan device %s: address %s: %w", v.cfg.Device, want, err)
		}
	}
	return nil
}

func (v *netlinkVXLAN) sync(peers []Peer) error {
	link, err := v.h.LinkByName(v.cfg.Device)
	if err != nil {
		return fmt.Errorf("vxlan device %s: %w", v.cfg.Device, err)
	}
	idx := link.Attrs().Index
	fdb := map[string]netip.Addr{}   // peer's MAC -> its host
	neigh := map[netip.Addr]string{} // peer's VTEP address -> its MAC
	for _, p := range peers {
		fdb[p.VXLANMAC.String()] = p.Addr
		neigh[vtepAddr(p.Subnet)] = p.VXLANMAC.String()
	}
	var errs []error
	have, err := v.h.NeighList(idx, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("vxlan device %s: list forwarding entries: %w", v.cfg.Device, err)
	}
	for _, e := range have {
		ip, _ := netip.AddrFromSlice(e.IP)
		mac := e.HardwareAddr.String()
		if dst, ok := fdb[mac]; ok && dst == ip.Unmap() && e.State&unix.NUD_PERMANENT != 0 {
			delete(fdb, mac)
			continue
		}
		e.Flags |= unix.NTF_SELF
		if err := v.h.NeighDel(&e); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete forwarding entry %s -> %s: %w", mac, ip, err))
		}
	}
	for mac, dst := range fdb {
		hw, _ := net.ParseMAC(mac)
		e := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, State: unix.NUD_PERMANENT, Flags: unix.NTF_SELF,
			IP: dst.AsSlice(), HardwareAddr: hw}
		if err := v.h.NeighSet(e); err != nil {
			errs = append(errs, fmt.Errorf("forwarding entry %s -> %s: %w", mac, dst, err))
		}
	}
	haveN, err := v.h.NeighList(idx, unix.AF_INET)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("vxlan device %s: list neighbours: %w", v.cfg.Device, err))...)
	}
	for _, e := range haveN {
		ip, _ := netip.AddrFromSlice(e.IP)
		ip = ip.Unmap()
		if mac, ok := neigh[ip]; ok && mac == e.HardwareAddr.String() && e.State&unix.NUD_PERMANENT != 0 {
			delete(neigh, ip)
			continue
		}
		if err := v.h.NeighDel(&e); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("delete neighbour %s: %w", ip, err))
		}
	}
	for ip, mac := range neigh {
		hw, _ := net.ParseMAC(mac)
		e := &netlink.Neigh{LinkIndex: idx, Family: unix.AF_INET, State: unix.NUD_PERMANENT, Type: unix.RTN_UNICAST,
			IP: ip.AsSlice(), HardwareAddr: hw}
		if err := v.h.NeighSet(e); err != nil {
			errs = append(errs, fmt.Errorf("neighbour %s -> %s: %w", ip, mac, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("vxlan device %s: %w", v.cfg.Device, errors.Join(errs...))
	}
	return nil
}

func (v *netlinkVXLAN) remove() error {
	link, err := v.h.LinkByName(v.cfg.Device)
	if errors.As(err, &netlink.LinkNotFoundError{}) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vxlan device %s: %w", v.cfg.Device, err)
	}
	if link.Type() != "vxlan" {
		return nil // not ours
	}
	if err := v.h.LinkDel(link); err != nil {
		return fmt.Errorf("remove vxlan device %s: %w", v.cfg.Device, err)
	}
	return nil
}
