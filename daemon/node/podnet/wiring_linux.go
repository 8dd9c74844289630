package podnet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/shoal-dev/shoal/daemon/hostexec"
)

// BridgeWiring connects each pod's sandbox (created with the engine's
// network mode "none", so that it has only a loopback) to the node's pod
// bridge, as Kubernetes' bridge CNI plugin does: a veth pair whose host
// end (HostVethName, alias PodAliasPrefix+uid) is a port of the bridge
// with hairpin mode on, and whose other end is the sandbox's eth0 with the
// pod's address from the IPAM, the bridge's MTU and a default route via
// the bridge's address.
type BridgeWiring struct {
	IPAM   *IPAM
	Bridge string // "" means BridgeDevice
	Log    *slog.Logger
}

func (b *BridgeWiring) bridge() string {
	if b.Bridge == "" {
		return BridgeDevice
	}
	return b.Bridge
}

// Address returns the pod's address.
func (b *BridgeWiring) Address(uid string) (netip.Addr, bool) { return b.IPAM.Lookup(uid) }

// Reserve gives the pod an address (the one it holds, if any) without
// wiring anything yet.
func (b *BridgeWiring) Reserve(uid string) (netip.Addr, error) { return b.IPAM.Allocate(uid) }

// Adopt records an address the engine gave the pod's sandbox (a sandbox an
// older agent put on the engine network "shoal"), so that no other pod
// gets it.
func (b *BridgeWiring) Adopt(uid string, ip netip.Addr) error { return b.IPAM.Reserve(uid, ip) }

// Attach gives the sandbox whose main process is pid its interface and the
// pod's address, and returns the address. It is idempotent: a sandbox that
// has its eth0 already (an agent restart) keeps it and its address.
func (b *BridgeWiring) Attach(_ context.Context, uid string, pid int) (netip.Addr, error) {
	if pid <= 0 {
		return netip.Addr{}, fmt.Errorf("wire pod %s: the sandbox has no process", uid)
	}
	ns, err := sandboxNetns(pid)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("wire pod %s: network namespace of process %d: %w", uid, pid, err)
	}
	defer ns.Close()
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("wire pod %s: netlink in the sandbox: %w", uid, err)
	}
	defer nh.Close()
	br, err := netlink.LinkByName(b.bridge())
	if err != nil {
		return netip.Addr{}, fmt.Errorf("wire pod %s: pod bridge %s: %w", uid, b.bridge(), err)
	}
	hostName := HostVethName(uid)
	if ip, ok := b.adopt(nh, uid, hostName, br); ok {
		return ip, nil
	}
	ip, err := b.IPAM.Allocate(uid)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("wire pod %s: %w", uid, err)
	}
	// A host end left by an earlier sandbox of this pod whose namespace
	// still exists (its pair is torn down with it).
	if old, err := netlink.LinkByName(hostName); err == nil {
		_ = netlink.LinkDel(old)
	}
	if eth, err := nh.LinkByName(PodInterface); err == nil {
		_ = nh.LinkDel(eth)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostName, MTU: br.Attrs().MTU, MasterIndex: br.Attrs().Index},
		PeerName: PodInterface, PeerNamespace: netlink.NsFd(int(ns)), PeerHardwareAddr: PodMAC(ip)}
	if err := netlink.LinkAdd(veth); err != nil {
		return netip.Addr{}, fmt.Errorf("wire pod %s: create veth %s: %w", uid, hostName, err)
	}
	if err := b.configure(nh, uid, hostName, ip); err != nil {
		if l, lerr := netlink.LinkByName(hostName); lerr == nil {
			_ = netlink.LinkDel(l)
		}
		return netip.Addr{}, fmt.Errorf("wire pod %s: %w", uid, err)
	}
	return ip, nil
}

// configure finishes a new pair: the host end named, a hairpinning port,
// up; the pod end addressed, up, the default route through the bridge.
func (b *BridgeWiring) configure(nh *netlink.Handle, uid, hostName string, ip netip.Addr) error {
	host, err := netlink.LinkByName(hostName)
	if err != nil {
		return fmt.Errorf("host end %s: %w", hostName, err)
	}
	if err := netlink.LinkSetAlias(host, PodAliasPrefix+uid); err != nil {
		return fmt.Errorf("alias of %s: %w", hostName, err)
	}
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("hairpin on %s: %w", hostName, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", hostName, err)
	}
	eth, err := nh.LinkByName(PodInterface)
	if err != nil {
		return fmt.Errorf("pod end %s: %w", PodInterface, err)
	}
	subnet := b.IPAM.Subnet()
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(subnet.Bits(), 32)}}
	if err := nh.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", ip, PodInterface, err)
	}
	if err := nh.LinkSetUp(eth); err != nil {
		return fmt.Errorf("set %s up: %w", PodInterface, err)
	}
	if lo, err := nh.LinkByName("lo"); err == nil {
		if err := nh.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
	}
	gw := gatewayOf(subnet)
	if err := nh.RouteReplace(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice(), Scope: netlink.SCOPE_UNIVERSE}); err != nil {
		return fmt.Errorf("default route via %s: %w", gw, err)
	}
	return nil
}

// adopt recognises a sandbox wired before (by this agent before a restart,
// or before the IPAM file was lost): its eth0 has an address of the
// subnet that is, or can become, the pod's. The host end is put back on
// the bridge (a re-created bridge has lost its ports).
func (b *BridgeWiring) adopt(nh *netlink.Handle, uid, hostName string, br netlink.Link) (netip.Addr, bool) {
	eth, err := nh.LinkByName(PodInterface)
	if err != nil {
		return netip.Addr{}, false
	}
	addrs, err := nh.AddrList(eth, netlink.FAMILY_V4)
	if err != nil {
		return netip.Addr{}, false
	}
	subnet := b.IPAM.Subnet()
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !subnet.Contains(ip.Unmap()) {
			continue
		}
		ip = ip.Unmap()
		if err := b.IPAM.Reserve(uid, ip); err != nil {
			b.log().Warn("a sandbox's address is another pod's; wiring it afresh", "uid", uid, "addr", ip, "err", err)
			return netip.Addr{}, false
		}
		host, err := netlink.LinkByName(hostName)
		if err != nil {
			return netip.Addr{}, false
		}
		if host.Attrs().MasterIndex != br.Attrs().Index {
			if err := netlink.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
				return netip.Addr{}, false
			}
			_ = netlink.LinkSetHairpin(host, true)
		}
		if err := netlink.LinkSetUp(host); err != nil {
			return netip.Addr{}, false
		}
		return ip, true
	}
	return netip.Addr{}, false
}

func (b *BridgeWiring) log() *slog.Logger { return logOrDiscard(b.Log) }

// Detach removes the pod's veth pair (the sandbox's eth0 goes with it) and
// frees its address.
func (b *BridgeWiring) Detach(_ context.Context, uid string) error {
	if l, err := netlink.LinkByName(HostVethName(uid)); err == nil {
		if err := netlink.LinkDel(l); err != nil {
			return fmt.Errorf("unwire pod %s: delete %s: %w", uid, HostVethName(uid), err)
		}
	}
	return b.IPAM.Release(uid)
}

// Cleanup removes what a crash left: host ends of ours and addresses of
// pods keep refuses (neither bound here nor with a sandbox on the engine).
// A sandbox that died took its veth pair along; the runner removes the
// sandbox of a pod deleted while the agent was down, and unwires it.
func (b *BridgeWiring) Cleanup(_ context.Context, keep func(uid string) bool) error {
	links, err := netlink.LinkList()
	if err != nil {
		return fmt.Errorf("pod wiring cleanup: list links: %w", err)
	}
	var errs []error
	for _, l := range links {
		uid := uidOfAlias(l.Attrs().Alias)
		if uid == "" || keep(uid) {
			continue
		}
		b.log().Info("removing the veth of a pod no longer here", "veth", l.Attrs().Name, "uid", uid)
		if err := netlink.LinkDel(l); err != nil && !errors.As(err, &netlink.LinkNotFoundError{}) {
			errs = append(errs, fmt.Errorf("delete %s: %w", l.Attrs().Name, err))
		}
	}
	gone, err := b.IPAM.Retain(keep)
	if len(gone) > 0 {
		b.log().Info("freed the addresses of pods no longer here", "pods", len(gone))
	}
	return errors.Join(append(errs, err)...)
}

// Ports counts the bridge's ports of ours (tests, metrics).
func (b *BridgeWiring) Ports() (int, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, l := range links {
		if uidOfAlias(l.Attrs().Alias) != "" {
			n++
		}
	}
	return n, nil
}

// sandboxNetns opens the network namespace of the host process pid. An
// agent run as a container without the host's PID namespace does not see
// that process in its own /proc; it reaches it through the host's root
// mounted at SHOAL_HOST_ROOT (docs/install.md), whose /proc is the host's.
func sandboxNetns(pid int) (netns.NsHandle, error) {
	ns, err := netns.GetFromPid(pid)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ns, err
	}
	path := hostexec.OnHost(filepath.Join("/proc", strconv.Itoa(pid), "ns", "net"))
	if path == "" {
		return ns, err
	}
	hostNs, herr := netns.GetFromPath(path)
	if herr != nil {
		return hostNs, fmt.Errorf("%w (and through the host's root: %v)", err, herr)
	}
	return hostNs, nil
}
