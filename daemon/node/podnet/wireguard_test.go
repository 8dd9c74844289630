package podnet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/internal/poll"
	"github.com/shoal-dev/shoal/registry"
)

// fakeWG is a WireGuard device in memory.
type fakeWG struct {
	mu     sync.Mutex
	index  int
	cfg    wireguard.Config
	peers  []string // name endpoint allowed
	keys   []wireguard.Key
	done   chan struct{}
	closed bool
}

func (f *fakeWG) Index() int { return f.index }

func (f *fakeWG) SetPeers(peers []wireguard.Peer) (map[string]error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = nil
	for _, p := range peers {
		f.peers = append(f.peers, p.Name+" "+p.Endpoint.String()+" "+p.AllowedIPs[0].String())
	}
	return nil, nil
}

func (f *fakeWG) SetPrivateKey(k wireguard.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, k)
	return nil
}

func (f *fakeWG) Done() <-chan struct{} { return f.done }

func (f *fakeWG) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeWG) state() (peers []string, keys []wireguard.Key) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.peers), slices.Clone(f.keys)
}

func (f *fakeWG) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// fakeWGs opens fake devices with indexes 20, 21, ...
type fakeWGs struct {
	mu   sync.Mutex
	devs []*fakeWG
	fail error // open fails with it (no /dev/net/tun, the port taken)
}

func (o *fakeWGs) open(_ context.Context, cfg wireguard.Config) (wgDevice, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return nil, o.fail
	}
	d := &fakeWG{index: 20 + len(o.devs), cfg: cfg, done: make(chan struct{})}
	o.devs = append(o.devs, d)
	return d, nil
}

func (o *fakeWGs) last() *fakeWG {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.devs) == 0 {
		return nil
	}
	return o.devs[len(o.devs)-1]
}

func (o *fakeWGs) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.devs)
}

// testCA is a cluster CA and the node identities it issues.
type testCA struct {
	ca   *identity.CA
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	ca, err := identity.NewCA(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &testCA{ca: ca, pool: pool}
}

func (c *testCA) node(t *testing.T, name string) *identity.Node {
	t.Helper()
	n, err := identity.IssueSelf(c.ca, nil, name, []net.IP{net.ParseIP("10.98.0.1")}, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	n.Trust = []*x509.Certificate{c.ca.Cert}
	return n
}

// signedKey is the annotation of a fresh key of node, signed by its identity.
func (c *testCA) signedKey(t *testing.T, name string) string {
	t.Helper()
	nk, err := wireguard.LoadNodeKey(t.TempDir(), c.node(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return nk.Annotation
}

// TestRouterAutoUsesWireGuardAcrossSegments: under auto, a routed peer with
// a verified key goes through WireGuard, one on the segment by host-gw, a
// routed one whose key is signed by another cluster's CA by VXLAN (and is
// never configured on the device); routes do not flap across passes; the
// node publishes its signed key, made again and put into the device when
// its certificate is renewed; a device that stops is made again.
func TestRouterAutoUsesWireGuardAcrossSegments(t *testing.T) {
	store := testStore(t)
	table := &fakeTable{owned: map[netip.Prefix]netip.Addr{}, onLink: map[netip.Addr]bool{netip.MustParseAddr("10.98.0.2"): true}}
	cluster, foreign := newTestCA(t), newTestCA(t)
	addNode(t, store, "a", "10.244.0.0/24", "10.98.0.1")
	addNode(t, store, "b", "10.244.1.0/24", "10.98.0.2") // same segment
	addNode(t, store, "c", "10.244.2.0/24", "10.98.1.3") // behind a router
	addNode(t, store, "d", "10.244.3.0/24", "10.98.1.4") // behind a router, a stranger's key
	for name, key := range map[string]string{"b": cluster.signedKey(t, "b"), "c": cluster.signedKey(t, "c"), "d": foreign.signedKey(t, "d")} {
		n := getNode(t, store, name)
		ip := n.Status.Addresses[0].Address
		n.Annotations = map[string]string{api.AnnotationPodNetworkBackend: "auto",
			api.AnnotationVXLANMAC: vxlanMAC(netip.MustParseAddr(ip)).String(), wireguard.Annotation: key}
		if _, err := store.Update(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	live := identity.NewLive(cluster.node(t, "a"))
	wgs := &fakeWGs{}
	r, err := NewRouter(RouterConfig{Node: "a", ClusterCIDR: mustCIDR(t, "10.244.0.0/16"), Log: testLog(t),
		Resync: 50 * time.Millisecond, Mode: ModeAuto, VXLAN: VXLANConfig{Local: netip.MustParseAddr("10.98.0.1")},
		WireGuard: WireGuardConfig{DataDir: t.TempDir(), Identity: live.Node, Trust: live.Pool},
		Publish:   AnnotateNode(store, "a")})
	if err != nil {
		t.Fatal(err)
	}
	r.open = func(string) (routeTable, error) { return table, nil }
	r.openWG = wgs.open
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, store) }()
	t.Cleanup(func() { cancel(); <-done })

	want := []string{"10.244.1.0/24 via 10.98.0.2", "10.244.2.0/24 dev 20", "10.244.3.0/24 via 10.244.3.0 dev 7 onlink"}
	poll.Cond(t, 10*time.Second, "host-gw on the segment, wireguard to the routed peer, vxlan to the stranger", func() bool {
		return slices.Equal(table.routes(), want)
	})
	dev := wgs.last()
	if peers, _ := dev.state(); !slices.Equal(peers, []string{"c 10.98.1.3:51820 10.244.2.0/24"}) {
		t.Errorf("wireguard peers %q, want c only", peers)
	}
	if dev.cfg.Address != netip.MustParsePrefix("10.244.0.1/32") || !dev.cfg.LeaveRoutes || dev.cfg.ListenPort != wireguard.DefaultPort {
		t.Errorf("device config: address %s, leave routes %v, port %d", dev.cfg.Address, dev.cfg.LeaveRoutes, dev.cfg.ListenPort)
	}
	var published string
	poll.Cond(t, 10*time.Second, "the signed key and the backends in use published", func() bool {
		ann := getNode(t, store, "a").Annotations
		published = ann[wireguard.Annotation]
		return published != "" && ann[api.AnnotationBackendsInUse] == "host-gw,vxlan,wireguard"
	})
	pub, err := wireguard.VerifyKey(published, "a", cluster.pool, time.Now())
	if err != nil {
		t.Fatalf("the published key does not verify: %v", err)
	}
	if want, _ := dev.cfg.PrivateKey.PublicKey(); pub != want {
		t.Errorf("published key %s, the device's %s", pub, want)
	}

	// Passes go by: no route is replaced again (no flapping).
	table.mu.Lock()
	before := maps(table.replaced)
	table.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	table.mu.Lock()
	after := maps(table.replaced)
	table.mu.Unlock()
	if !slices.Equal(before, after) {
		t.Errorf("routes replaced again while nothing changed: %v, then %v", before, after)
	}

	// A renewed certificate: a new key, put into the device, published.
	live.Set(cluster.node(t, "a"))
	poll.Cond(t, 10*time.Second, "the new key in the device and published", func() bool {
		_, keys := dev.state()
		ann := getNode(t, store, "a").Annotations[wireguard.Annotation]
		return len(keys) == 1 && ann != published && ann != ""
	})
	_, keys := dev.state()
	newPub, _ := keys[0].PublicKey()
	got, err := wireguard.VerifyKey(getNode(t, store, "a").Annotations[wireguard.Annotation], "a", cluster.pool, time.Now())
	if err != nil || got != newPub {
		t.Errorf("published after the renewal: %s, %v; want the device's new key %s", got, err, newPub)
	}

	// The device stops (deleted from outside): made again, routes over it.
	close(dev.done)
	poll.Cond(t, 10*time.Second, "a new device and the route over it", func() bool {
		return wgs.count() == 2 && slices.Equal(table.routes(),
			[]string{"10.244.1.0/24 via 10.98.0.2", "10.244.2.0/24 dev 21", "10.244.3.0/24 via 10.244.3.0 dev 7 onlink"})
	})
	dev.mu.Lock()
	closed := dev.closed
	dev.mu.Unlock()
	if !closed {
		t.Error("the stopped device was not closed")
	}
	if k := wgs.last().cfg.PrivateKey; k != keys[0] {
		t.Error("the new device does not have the renewed key")
	}
}

// maps lists a count map as sorted "prefix=n" strings.
func maps(m map[netip.Prefix]int) []string {
	var out []string
	for _, p := range sortedPrefixes(m) {
		out = append(out, fmt.Sprintf("%s=%d", p, m[p]))
	}
	return out
}

func TestWireGuardModeNeedsAnIdentity(t *testing.T) {
	_, err := NewRouter(RouterConfig{Node: "a", ClusterCIDR: mustCIDR(t, "10.244.0.0/16"), Mode: ModeWireGuard,
		VXLAN: VXLANConfig{Local: netip.MustParseAddr("10.98.0.1")}})
	if err == nil {
		t.Fatal("wireguard without an identity accepted")
	}
}

// wgFixture is node a (10.244.0.0/24, 10.98.0.1) with a Router using fake
// WireGuard devices; its peers publish keys signed by ca.
type wgFixture struct {
	store *registry.Registry
	table *fakeTable
	wgs   *fakeWGs
	ca    *testCA
}

// newWGFixture makes node a; onLink are the peer addresses direct reports
// as directly connected.
func newWGFixture(t *testing.T, onLink ...string) *wgFixture {
	t.Helper()
	f := &wgFixture{store: testStore(t), table: &fakeTable{owned: map[netip.Prefix]netip.Addr{}, onLink: map[netip.Addr]bool{}},
		wgs: &fakeWGs{}, ca: newTestCA(t)}
	for _, a := range onLink {
		f.table.onLink[netip.MustParseAddr(a)] = true
	}
	addNode(t, f.store, "a", "10.244.0.0/24", "10.98.0.1")
	return f
}

// addPeer adds an auto peer with a VTEP and a verified key; kv adds or
// overrides annotations.
func (f *wgFixture) addPeer(t *testing.T, name, cidr, ip string, kv ...string) {
	t.Helper()
	addNode(t, f.store, name, cidr, ip)
	n := getNode(t, f.store, name)
	n.Annotations = map[string]string{api.AnnotationPodNetworkBackend: "auto",
		api.AnnotationVXLANMAC: vxlanMAC(netip.MustParseAddr(ip)).String(), wireguard.Annotation: f.ca.signedKey(t, name)}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Annotations[kv[i]] = kv[i+1]
	}
	if _, err := f.store.Update(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

// start runs a's Router in mode until the test ends.
func (f *wgFixture) start(t *testing.T, mode Mode) {
	t.Helper()
	live := identity.NewLive(f.ca.node(t, "a"))
	r, err := NewRouter(RouterConfig{Node: "a", ClusterCIDR: mustCIDR(t, "10.244.0.0/16"), Log: testLog(t),
		Resync: 50 * time.Millisecond, Mode: mode, VXLAN: VXLANConfig{Local: netip.MustParseAddr("10.98.0.1")},
		WireGuard: WireGuardConfig{DataDir: t.TempDir(), Identity: live.Node, Trust: live.Pool},
		Publish:   AnnotateNode(f.store, "a")})
	if err != nil {
		t.Fatal(err)
	}
	r.open = func(string) (routeTable, error) { return f.table, nil }
	r.openWG = f.wgs.open
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, f.store) }()
	t.Cleanup(func() { cancel(); <-done })
}

// published waits until a's annotations have the backends in use inUse,
// and returns them.
func (f *wgFixture) published(t *testing.T, inUse string) map[string]string {
	t.Helper()
	var ann map[string]string
	poll.Cond(t, 10*time.Second, "a's backends in use: "+inUse, func() bool {
		ann = getNode(t, f.store, "a").Annotations
		return ann[api.AnnotationBackendsInUse] == inUse
	})
	return ann
}

func (f *wgFixture) expectRoutes(t *testing.T, what string, want ...string) {
	t.Helper()
	poll.Cond(t, 10*time.Second, what, func() bool { return slices.Equal(f.table.routes(), want) })
}

// TestRouterAutoNoDeviceForDirectPeers: under auto, with every peer on the
// segment and none using WireGuard, the device is never opened (its
// buffers would cost ~33 MB of heap), yet the key is published. A peer
// that uses WireGuard but whose key does not verify opens none either.
func TestRouterAutoNoDeviceForDirectPeers(t *testing.T) {
	f := newWGFixture(t, "10.98.0.2", "10.98.0.3")
	f.addPeer(t, "b", "10.244.1.0/24", "10.98.0.2", api.AnnotationBackendsInUse, "host-gw,vxlan")
	f.addPeer(t, "c", "10.244.2.0/24", "10.98.0.3", api.AnnotationBackendsInUse, "wireguard",
		wireguard.Annotation, newTestCA(t).signedKey(t, "c")) // a stranger's key
	f.start(t, ModeAuto)

	ann := f.published(t, "host-gw")
	if _, err := wireguard.VerifyKey(ann[wireguard.Annotation], "a", f.ca.pool, time.Now()); err != nil {
		t.Errorf("the key is not published (or does not verify) without a device: %v", err)
	}
	f.expectRoutes(t, "host-gw to both", "10.244.1.0/24 via 10.98.0.2", "10.244.2.0/24 via 10.98.0.3")
	time.Sleep(300 * time.Millisecond) // passes go by
	if n := f.wgs.count(); n != 0 {
		t.Errorf("%d wireguard devices opened, want none", n)
	}
}

// TestRouterAutoDeviceWhilePeerRouted: a routed peer with a verified key
// opens the device and goes through it; once it is gone the device is
// closed, the key still published; a routed peer again opens a new one.
func TestRouterAutoDeviceWhilePeerRouted(t *testing.T) {
	f := newWGFixture(t, "10.98.0.2")
	f.addPeer(t, "b", "10.244.1.0/24", "10.98.0.2")
	f.addPeer(t, "c", "10.244.2.0/24", "10.98.1.3") // behind a router
	f.start(t, ModeAuto)

	f.expectRoutes(t, "host-gw to b, wireguard to c", "10.244.1.0/24 via 10.98.0.2", "10.244.2.0/24 dev 20")
	dev := f.wgs.last()
	if peers, _ := dev.state(); !slices.Equal(peers, []string{"c 10.98.1.3:51820 10.244.2.0/24"}) {
		t.Errorf("wireguard peers %q, want c", peers)
	}
	key := f.published(t, "host-gw,wireguard")[wireguard.Annotation]
	if key == "" {
		t.Error("no key published while the device runs")
	}

	if _, err := f.store.Delete(context.Background(), api.KindNode, "", "c", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 10*time.Second, "the device closed once c is gone", dev.isClosed)
	f.expectRoutes(t, "host-gw to b only", "10.244.1.0/24 via 10.98.0.2")
	if got := f.published(t, "host-gw")[wireguard.Annotation]; got != key {
		t.Errorf("key published without the device: %q, want the same as before", got)
	}
	if n := f.wgs.count(); n != 1 {
		t.Errorf("%d devices opened, want 1", n)
	}

	f.addPeer(t, "d", "10.244.3.0/24", "10.98.1.4") // behind a router
	f.expectRoutes(t, "wireguard to d through a new device", "10.244.1.0/24 via 10.98.0.2", "10.244.3.0/24 dev 21")
}

// TestRouterAutoDeviceForPeerUsingWireGuard: a peer on the segment that
// uses WireGuard (towards some node: maybe this one, with asymmetric
// routes) opens the device; it is still reached by host-gw.
func TestRouterAutoDeviceForPeerUsingWireGuard(t *testing.T) {
	f := newWGFixture(t, "10.98.0.2")
	f.addPeer(t, "b", "10.244.1.0/24", "10.98.0.2", api.AnnotationBackendsInUse, "host-gw,wireguard")
	f.start(t, ModeAuto)

	poll.Cond(t, 10*time.Second, "a device opened", func() bool { return f.wgs.count() == 1 })
	f.expectRoutes(t, "host-gw to b", "10.244.1.0/24 via 10.98.0.2")
	if f.published(t, "host-gw")[wireguard.Annotation] == "" {
		t.Error("no key published")
	}
	time.Sleep(200 * time.Millisecond)
	if f.wgs.last().isClosed() {
		t.Error("the device was closed while b uses WireGuard")
	}
}

// TestRouterWireGuardModeDeviceAlways: under wireguard the device runs even
// when every peer is on the segment, and they are reached through it.
func TestRouterWireGuardModeDeviceAlways(t *testing.T) {
	f := newWGFixture(t, "10.98.0.2")
	f.addPeer(t, "b", "10.244.1.0/24", "10.98.0.2")
	f.start(t, ModeWireGuard)

	f.expectRoutes(t, "wireguard to b on the segment", "10.244.1.0/24 dev 20")
	if f.published(t, "wireguard")[wireguard.Annotation] == "" {
		t.Error("no key published")
	}
}

// TestRouterAutoDeviceFails: when the device is needed and cannot be
// opened, the key is withdrawn and the routed peer goes by VXLAN; a later
// pass opens it and the peer goes through WireGuard.
func TestRouterAutoDeviceFails(t *testing.T) {
	f := newWGFixture(t)
	f.wgs.fail = errors.New("no /dev/net/tun")
	f.addPeer(t, "c", "10.244.2.0/24", "10.98.1.3") // behind a router
	f.start(t, ModeAuto)

	f.expectRoutes(t, "vxlan to c", "10.244.2.0/24 via 10.244.2.0 dev 7 onlink")
	if f.published(t, "vxlan")[wireguard.Annotation] != "" {
		t.Error("key published though the device failed")
	}

	f.wgs.mu.Lock()
	f.wgs.fail = nil
	f.wgs.mu.Unlock()
	f.expectRoutes(t, "wireguard to c once the device opens", "10.244.2.0/24 dev 20")
	if f.published(t, "wireguard")[wireguard.Annotation] == "" {
		t.Error("no key published once the device runs")
	}
}
