package podnet

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/shoal-dev/shoal/api"
)

// VXLAN defaults (docs/networking.md, Backends).
const (
	// VXLANDevice is the name of the node's VXLAN device.
	VXLANDevice = "shoal.vx"
	// VXLANID is the VXLAN network identifier of the pod network; fixed,
	// every node must use the same one. Not flannel's 1, so that the two
	// do not take each other's packets where both run.
	VXLANID = 4097
	// VXLANPort is the UDP port VXLAN packets go to, the kernel's default
	// (and flannel's): open it between the hosts.
	VXLANPort = 8472
	// VXLANOverhead is what VXLAN adds to each packet over IPv4: outer IP
	// (20), UDP (8), VXLAN (8) and inner Ethernet (14) headers.
	VXLANOverhead = 50
)

// VXLANConfig describes the node's VXLAN device.
type VXLANConfig struct {
	// Device is its name; "" means VXLANDevice.
	Device string
	// ID is the VNI; 0 means VXLANID.
	ID int
	// Port is the UDP port; 0 means VXLANPort.
	Port int
	// Local is this host's address (its InternalIP): the source of its
	// VXLAN packets, the endpoint its peers send to, and so on the link
	// the device sits on.
	Local netip.Addr
}

func (c VXLANConfig) withDefaults() VXLANConfig {
	if c.Device == "" {
		c.Device = VXLANDevice
	}
	if c.ID == 0 {
		c.ID = VXLANID
	}
	if c.Port == 0 {
		c.Port = VXLANPort
	}
	return c
}

func (c VXLANConfig) check() error {
	c = c.withDefaults()
	switch {
	case !c.Local.Is4() || !c.Local.IsGlobalUnicast():
		return fmt.Errorf("vxlan: the node's address %v is not a unicast IPv4 address; VXLAN sends from and to it", c.Local)
	case c.ID < 1 || c.ID > 1<<24-1:
		return fmt.Errorf("vxlan: network identifier %d out of 1..16777215", c.ID)
	case c.Port < 1 || c.Port > 65535:
		return fmt.Errorf("vxlan: UDP port %d out of 1..65535", c.Port)
	case len(c.Device) > 15:
		return fmt.Errorf("vxlan: device name %q longer than 15 characters", c.Device)
	}
	return nil
}

// vxlanDevice is a VXLAN device of a network namespace.
type vxlanDevice interface {
	// ensure makes the device exist as configured, up, with the one
	// address addr/32, and returns its link index and MAC.
	ensure(addr netip.Addr) (index int, mac net.HardwareAddr, err error)
	// sync makes the device's forwarding entries (peer's MAC to peer's
	// address) and neighbour entries (peer's VTEP address to peer's MAC)
	// exactly those of peers.
	sync(peers []Peer) error
	// remove deletes the device if it exists.
	remove() error
}

// tunnel is a backend that reaches peers' pods over a device of its own
// (the VXLAN device now; an encrypted one, a TUN device with its peers,
// plugs in the same way). The Router readies each tunnel once a pass,
// picks a backend per peer (chooseBackend), routes each peer's subnet over
// the chosen tunnel and hands every tunnel exactly the peers it carries.
type tunnel interface {
	mode() Mode
	// prepare readies the device for a pass, given this node's pod subnet
	// (WireGuard: its key; the Router opens the device when it is needed);
	// an error leaves the tunnel out of the pass (its peers go host-gw).
	prepare(self netip.Prefix) error
	// takes reports whether the peer published what the tunnel needs.
	takes(p Peer) bool
	// route is the route to the peer's pod subnet over the tunnel.
	route(p Peer) route
	// sync makes the tunnel's per-peer state exactly that of peers; none
	// removes all of it.
	sync(peers []Peer) error
	// annotations are what this node publishes on its Node for the
	// tunnel: its values when ready, "" (removed) otherwise.
	annotations(ready bool) map[string]string
}

// vxlanBackend reaches a peer's pods over the VXLAN device: a route to
// its subnet via its VTEP address (onlink), which the neighbour entry
// resolves to its VTEP MAC, which the forwarding entry sends to its host.
type vxlanBackend struct {
	dev   vxlanDevice
	index int
	mac   net.HardwareAddr
}

func (v *vxlanBackend) mode() Mode { return ModeVXLAN }

func (v *vxlanBackend) takes(p Peer) bool { return p.VXLANMAC != nil }

func (v *vxlanBackend) sync(peers []Peer) error { return v.dev.sync(peers) }

func (v *vxlanBackend) annotations(ready bool) map[string]string {
	if !ready || v.mac == nil {
		return map[string]string{api.AnnotationVXLANMAC: ""}
	}
	return map[string]string{api.AnnotationVXLANMAC: v.mac.String()}
}

// prepare makes the device ready for a pass, with the VTEP address of the
// node's subnet.
func (v *vxlanBackend) prepare(self netip.Prefix) error {
	index, mac, err := v.dev.ensure(vtepAddr(self))
	if err != nil {
		return err
	}
	v.index, v.mac = index, mac
	return nil
}

func (v *vxlanBackend) route(p Peer) route {
	return route{dst: p.Subnet, gw: vtepAddr(p.Subnet), dev: v.index, node: p.Node}
}
