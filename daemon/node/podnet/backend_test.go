package podnet

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func TestParseMode(t *testing.T) {
	for _, s := range []string{"host-gw", "vxlan", "wireguard", "auto"} {
		if m, err := ParseMode(s); err != nil || string(m) != s {
			t.Errorf("ParseMode(%q) = %q, %v", s, m, err)
		}
	}
	for s, want := range map[string]string{"gre": "give host-gw, vxlan, wireguard or auto", "": "give host-gw"} {
		if _, err := ParseMode(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMode(%q) = %v, want an error with %q", s, err, want)
		}
	}
}

func annotated(n *api.Node, kv ...string) *api.Node {
	n.Annotations = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Annotations[kv[i]] = kv[i+1]
	}
	return n
}

func TestPeersOfValidatesWhatPeersPublish(t *testing.T) {
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	mac := api.AnnotationVXLANMAC
	nodes := nodeMap(
		testNode("a", "10.244.0.0/24", "10.98.0.1"),
		annotated(testNode("b", "10.244.1.0/24", "10.98.0.2"), api.AnnotationPodNetworkBackend, "auto", mac, "0a:5a:0a:62:00:02"),
		testNode("c", "10.244.2.0/24", "10.98.0.3"), // an older agent: nothing published
		annotated(testNode("d", "10.244.3.0/24", "10.98.0.4"), mac, "not-a-mac"),
		annotated(testNode("e", "10.244.4.0/24", "10.98.0.5"), mac, "01:00:5e:00:00:01"),                       // multicast
		annotated(testNode("f", "10.244.5.0/24", "10.98.0.6"), mac, "00:00:00:00:00:00"),                       // zero
		annotated(testNode("g", "10.244.6.0/24", "10.244.9.9"), mac, "0a:5a:0a:62:00:07"),                      // VTEP in the pod network
		annotated(testNode("h", "10.244.7.0/24", "127.0.0.1"), mac, "0a:5a:0a:62:00:08"),                       // loopback
		annotated(testNode("i", "10.244.8.0/24", "10.98.0.9"), mac, "0a:5a:0a:62:00:09:00:00"),                 // too long
		annotated(testNode("j", "10.244.10.0/24", "10.98.0.10"), api.AnnotationPodNetworkBackend, "wireguard"), // newer: kept
	)
	peers, bad := peersOf(nodes, "a", cluster)
	var got []string
	for _, p := range peers {
		got = append(got, p.Node+" "+string(p.Mode)+" "+p.VXLANMAC.String())
	}
	if want := []string{"b auto 0a:5a:0a:62:00:02", "c  ", "j wireguard "}; !slices.Equal(got, want) {
		t.Errorf("peers = %q, want %q", got, want)
	}
	var badNames []string
	for _, b := range bad {
		badNames = append(badNames, b.node)
		if b.err == nil || b.err.Error() == "" {
			t.Errorf("%s: no reason given", b.node)
		}
	}
	slices.Sort(badNames)
	if want := []string{"d", "e", "f", "g", "h", "i"}; !slices.Equal(badNames, want) {
		t.Errorf("bad = %q, want %q", badNames, want)
	}
}

func TestChooseBackend(t *testing.T) {
	mac := net.HardwareAddr{0x0a, 0x5a, 1, 2, 3, 4}
	old := Peer{Node: "old"}                                      // publishes nothing
	hostGW := Peer{Node: "hg", Mode: ModeHostGW}                  // no VTEP
	auto := Peer{Node: "auto", Mode: ModeAuto, VXLANMAC: mac}     // takes both
	vxlanOnly := Peer{Node: "vx", Mode: ModeVXLAN, VXLANMAC: mac} // asks for VXLAN
	wg := Peer{Node: "wg", Mode: ModeWireGuard, VXLANMAC: mac}    // asks for WireGuard
	for _, tc := range []struct {
		self    Mode
		vxOK    bool
		wgOK    bool
		peer    Peer
		direct  bool
		want    Mode
		comment string
	}{
		{ModeAuto, true, false, auto, true, ModeHostGW, "same segment: host-gw"},
		{ModeAuto, true, false, auto, false, ModeVXLAN, "routed, no verified key: vxlan"},
		{ModeAuto, true, true, auto, false, ModeWireGuard, "routed, both with keys: wireguard"},
		{ModeAuto, true, true, auto, true, ModeHostGW, "same segment, both with keys: host-gw"},
		{ModeAuto, true, true, wg, true, ModeWireGuard, "a peer that asks for WireGuard gets it both ways"},
		{ModeAuto, true, false, wg, false, ModeVXLAN, "a WireGuard peer whose key does not verify: vxlan"},
		{ModeAuto, true, false, old, false, ModeHostGW, "an older agent knows host-gw only"},
		{ModeAuto, true, false, hostGW, false, ModeHostGW, "a host-gw peer takes no VXLAN"},
		{ModeAuto, true, false, vxlanOnly, true, ModeVXLAN, "a peer that asks for VXLAN gets it both ways"},
		{ModeAuto, false, false, auto, false, ModeHostGW, "no device here (yet): host-gw"},
		{ModeWireGuard, true, true, auto, true, ModeWireGuard, "wireguard asked for: even on one segment"},
		{ModeWireGuard, true, false, auto, true, ModeHostGW, "wireguard asked for, peer without a key, same segment: host-gw"},
		{ModeWireGuard, true, false, auto, false, ModeVXLAN, "wireguard asked for, peer without a key, routed: vxlan"},
		{ModeWireGuard, true, false, old, false, ModeHostGW, "wireguard asked for, peer with nothing: host-gw"},
		{ModeVXLAN, true, false, auto, true, ModeVXLAN, "vxlan asked for: even on one segment"},
		{ModeVXLAN, true, false, old, false, ModeHostGW, "vxlan asked for, peer without it: host-gw"},
		{ModeHostGW, true, true, vxlanOnly, false, ModeHostGW, "host-gw asked for"},
	} {
		if got := chooseBackend(tc.self, tc.vxOK, tc.wgOK, tc.peer, tc.direct); got != tc.want {
			t.Errorf("%s: self %s, peer %s: %s, want %s", tc.comment, tc.self, tc.peer.Node, got, tc.want)
		}
	}
}

// TestNeedsWireGuard: under auto the device is wanted for every peer
// chooseBackend sends through it, and for a peer that uses WireGuard
// towards some node; never for a peer whose key does not verify.
func TestNeedsWireGuard(t *testing.T) {
	mac := net.HardwareAddr{0x0a, 0x5a, 1, 2, 3, 4}
	peers := []Peer{{Node: "old"}, {Node: "hg", Mode: ModeHostGW}, {Node: "auto", Mode: ModeAuto, VXLANMAC: mac},
		{Node: "vx", Mode: ModeVXLAN, VXLANMAC: mac}, {Node: "wg", Mode: ModeWireGuard, VXLANMAC: mac},
		{Node: "uses", Mode: ModeAuto, VXLANMAC: mac, UsesWireGuard: true}}
	for _, p := range peers {
		for _, vxOK := range []bool{false, true} {
			for _, wgOK := range []bool{false, true} {
				for _, direct := range []bool{false, true} {
					if chooseBackend(ModeAuto, vxOK, wgOK, p, direct) == ModeWireGuard && !needsWireGuard(wgOK, p, direct) {
						t.Errorf("peer %s (vxlan %v, wireguard %v, direct %v): chosen for WireGuard, device not wanted", p.Node, vxOK, wgOK, direct)
					}
				}
			}
		}
	}
	for _, tc := range []struct {
		wgOK   bool
		peer   Peer
		direct bool
		want   bool
	}{
		{true, peers[2], true, false},  // auto on the segment
		{true, peers[2], false, true},  // auto behind a router
		{true, peers[4], true, true},   // asks for WireGuard
		{true, peers[5], true, true},   // uses WireGuard, maybe towards this node
		{false, peers[5], true, false}, // ... with a key that does not verify
		{false, peers[2], false, false},
	} {
		if got := needsWireGuard(tc.wgOK, tc.peer, tc.direct); got != tc.want {
			t.Errorf("needsWireGuard(%v, %s, direct %v) = %v, want %v", tc.wgOK, tc.peer.Node, tc.direct, got, tc.want)
		}
	}
}

func TestPeerReadsWhetherItUsesWireGuard(t *testing.T) {
	cluster := netip.MustParsePrefix("10.244.0.0/16")
	for v, want := range map[string]bool{"": false, "host-gw": false, "host-gw,vxlan": false, "wireguard": true,
		"host-gw,wireguard": true, "host-gw,vxlan,wireguard": true, "wireguard2": false} {
		p := Peer{Node: "b", Addr: netip.MustParseAddr("10.98.0.2")}
		if err := p.readAnnotations(map[string]string{api.AnnotationBackendsInUse: v}, cluster); err != nil {
			t.Fatal(err)
		}
		if p.UsesWireGuard != want {
			t.Errorf("backends in use %q: uses WireGuard %v, want %v", v, p.UsesWireGuard, want)
		}
	}
}

func TestVXLANConfigCheck(t *testing.T) {
	ok := VXLANConfig{Local: netip.MustParseAddr("10.98.0.1")}
	if err := ok.check(); err != nil {
		t.Errorf("check: %v", err)
	}
	for _, c := range []VXLANConfig{{}, {Local: netip.MustParseAddr("127.0.0.1")}, {Local: netip.MustParseAddr("fd00::1")},
		{Local: ok.Local, Port: 70000}, {Local: ok.Local, ID: 1 << 24}, {Local: ok.Local, Device: "a-name-far-too-long"}} {
		if err := c.check(); err == nil {
			t.Errorf("check(%+v) = nil, want an error", c)
		}
	}
	if _, err := NewRouter(RouterConfig{Node: "a", ClusterCIDR: mustCIDR(t, "10.244.0.0/16"), Mode: ModeAuto}); err == nil {
		t.Error("NewRouter in auto mode without the node's address: no error")
	}
	if _, err := NewRouter(RouterConfig{Node: "a", ClusterCIDR: mustCIDR(t, "10.244.0.0/16"), Mode: "gre"}); err == nil {
		t.Error("NewRouter with an unknown mode: no error")
	}
}

// fakeVXLAN is a VXLAN device in memory.
type fakeVXLAN struct {
	mu      sync.Mutex
	addr    netip.Addr
	peers   []string // "MAC -> address" of the forwarding entries
	removed bool
}

func (f *fakeVXLAN) ensure(addr netip.Addr) (int, net.HardwareAddr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addr = addr
	return 7, vxlanMAC(netip.MustParseAddr("10.98.0.1")), nil
}

func (f *fakeVXLAN) sync(peers []Peer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = nil
	for _, p := range peers {
		f.peers = append(f.peers, p.VXLANMAC.String()+" -> "+p.Addr.String())
	}
	return nil
}

func (f *fakeVXLAN) remove() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = true
	return nil
}

// address is the device's address; the Router sets it again on every
// resync, so a test reads it under the lock.
func (f *fakeVXLAN) address() netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addr
}

func (f *fakeVXLAN) isRemoved() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removed
}

func (f *fakeVXLAN) entries() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.peers)
}

// TestRouterAutoPicksPerPeer runs a Router in auto mode: host-gw to the
// peer on its segment and to an older agent, VXLAN to the routed peer; the
// annotations it publishes say so; a deleted peer's entries go.
func TestRouterAutoPicksPerPeer(t *testing.T) {
	store := testStore(t)
	table := &fakeTable{owned: map[netip.Prefix]netip.Addr{}, onLink: map[netip.Addr]bool{
		netip.MustParseAddr("10.98.0.2"): true, netip.MustParseAddr("10.98.0.4"): true}}
	addNode(t, store, "a", "10.244.0.0/24", "10.98.0.1")
	addNode(t, store, "b", "10.244.1.0/24", "10.98.0.2") // same segment
	addNode(t, store, "c", "10.244.2.0/24", "10.98.1.3") // behind a router
	addNode(t, store, "d", "10.244.3.0/24", "10.98.1.4") // behind a router, an older agent
	for name, ip := range map[string]string{"b": "10.98.0.2", "c": "10.98.1.3"} {
		n := getNode(t, store, name)
		n.Annotations = map[string]string{api.AnnotationPodNetworkBackend: "auto",
			api.AnnotationVXLANMAC: vxlanMAC(netip.MustParseAddr(ip)).String()}
		if _, err := store.Update(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewRouter(RouterConfig{Node: "a", ClusterCIDR: mustCIDR(t, "10.244.0.0/16"), Log: testLog(t),
		Resync: 100 * time.Millisecond, Mode: ModeAuto, VXLAN: VXLANConfig{Local: netip.MustParseAddr("10.98.0.1")},
		Publish: AnnotateNode(store, "a")})
	if err != nil {
		t.Fatal(err)
	}
	r.open = func(string) (routeTable, error) { return table, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, store) }()
	t.Cleanup(func() { cancel(); <-done })

	poll.Cond(t, 10*time.Second, "host-gw on the segment and to the older agent, vxlan across the router", func() bool {
		return slices.Equal(table.routes(), []string{"10.244.1.0/24 via 10.98.0.2", "10.244.2.0/24 via 10.244.2.0 dev 7 onlink",
			"10.244.3.0/24 via 10.98.1.4"})
	})
	if got, want := table.vx.entries(), []string{"0a:5a:0a:62:01:03 -> 10.98.1.3"}; !slices.Equal(got, want) {
		t.Errorf("forwarding entries %q, want %q", got, want)
	}
	if got := table.vx.address(); got != netip.MustParseAddr("10.244.0.0") {
		t.Errorf("VTEP address %s, want the subnet's network address", got)
	}
	poll.Cond(t, 10*time.Second, "the annotations published", func() bool {
		ann := getNode(t, store, "a").Annotations
		return ann[api.AnnotationPodNetworkBackend] == "auto" && ann[api.AnnotationVXLANMAC] == "0a:5a:0a:62:00:01" &&
			ann[api.AnnotationBackendsInUse] == "host-gw,vxlan"
	})

	if _, err := store.Delete(context.Background(), api.KindNode, "", "c", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 10*time.Second, "the deleted peer's route and entries gone", func() bool {
		return slices.Equal(table.routes(), []string{"10.244.1.0/24 via 10.98.0.2", "10.244.3.0/24 via 10.98.1.4"}) &&
			len(table.vx.entries()) == 0
	})
	poll.Cond(t, 10*time.Second, "in use: host-gw only", func() bool {
		return getNode(t, store, "a").Annotations[api.AnnotationBackendsInUse] == "host-gw"
	})
}

// TestRouterHostGWRemovesDevice: an agent started with host-gw removes the
// VXLAN device an earlier backend left.
func TestRouterHostGWRemovesDevice(t *testing.T) {
	store := testStore(t)
	table := &fakeTable{owned: map[netip.Prefix]netip.Addr{}}
	addNode(t, store, "a", "10.244.0.0/24", "10.98.0.1")
	startRouter(t, store, func(string) (routeTable, error) { return table, nil }, "")
	poll.Cond(t, 10*time.Second, "the device removed", func() bool {
		table.mu.Lock()
		vx := table.vx
		table.mu.Unlock()
		return vx != nil && vx.isRemoved()
	})
}
