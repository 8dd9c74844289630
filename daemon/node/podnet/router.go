package podnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
)

// routeTable is the host's main routing table as the Router sees it.
type routeTable interface {
	// list returns the destinations and next hops of the routes with
	// RouteProtocol, and the destinations of all other routes.
	list() (owned map[netip.Prefix]nextHop, foreign map[netip.Prefix]bool, err error)
	replace(r route) error
	remove(dst netip.Prefix) error
	// direct reports whether addr is on a directly connected subnet: the
	// host's route to it has no gateway.
	direct(addr netip.Addr) bool
	// vxlan is the namespace's VXLAN device as cfg describes it.
	vxlan(cfg VXLANConfig) vxlanDevice
	close()
}

// Publisher writes annotations on this node's own Node; an empty value
// removes the key.
type Publisher func(ctx context.Context, annotations map[string]string) error

// RouterConfig configures a Router.
type RouterConfig struct {
	// Node is this node's name; it gets no route.
	Node        string
	ClusterCIDR *net.IPNet
	Log         *slog.Logger
	// Resync is how often the routes are checked even without changes; 0
	// means DefaultResync.
	Resync time.Duration
	// NetNS is the path of the network namespace whose routes to keep, ""
	// for the agent's own (tests give another).
	NetNS string
	// Mode is the backend to use; "" means ModeHostGW.
	Mode Mode
	// VXLAN configures the VXLAN device of modes vxlan, wireguard and
	// auto.
	VXLAN VXLANConfig
	// WireGuard configures the WireGuard device of modes wireguard and
	// auto; under auto, a zero WireGuardConfig (no Identity) runs none.
	WireGuard WireGuardConfig
	// Publish writes what peers need (AnnotationPodNetworkBackend,
	// AnnotationVXLANMAC, wireguard.Annotation) and what this node uses (AnnotationBackendsInUse)
	// on its Node whenever they differ from what it has; nil publishes
	// nothing.
	Publish Publisher
}

// Router keeps, in the host's main routing table, one route per other node,
// over the backend chosen for that pair (chooseBackend): host-gw, its pod
// subnet via its InternalIP address; vxlan, its pod subnet via its VTEP
// address over the VXLAN device, with the device's forwarding and
// neighbour entries for it; wireguard, its pod subnet over the WireGuard
// device, with the peer configured on it. Routes and entries of deleted nodes, or stale
// after a node's subnet, address or backend changed, are removed.
type Router struct {
	cfg     RouterConfig
	cluster netip.Prefix
	log     *slog.Logger
	open    func(netns string) (routeTable, error)
	openWG  func(ctx context.Context, cfg wireguard.Config) (wgDevice, error) // tests: a fake device

	mu      sync.Mutex
	failing map[string]bool // what failed last time, to log repeats once
}

// NewRouter checks the configuration.
func NewRouter(cfg RouterConfig) (*Router, error) {
	cluster, err := clusterPrefix(cfg.ClusterCIDR)
	if err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeHostGW
	}
	if _, err := ParseMode(string(cfg.Mode)); err != nil {
		return nil, fmt.Errorf("pod network backend %w", err)
	}
	if cfg.Mode != ModeHostGW {
		if err := cfg.VXLAN.check(); err != nil {
			return nil, err
		}
	}
	if cfg.Mode == ModeWireGuard || cfg.Mode == ModeAuto && cfg.WireGuard.Identity != nil {
		if err := cfg.WireGuard.check(); err != nil {
			return nil, err
		}
	}
	return &Router{cfg: cfg, cluster: cluster, open: openRouteTable, failing: map[string]bool{},
		log: cfg.Log.With("component", "pod-routes")}, nil
}

// Run keeps the routes in line with the Node objects of src until ctx ends.
// Its routes stay when it returns: pods keep their connectivity while the
// agent restarts.
func (r *Router) Run(ctx context.Context, src NodeSource) error {
	table, err := r.open(r.cfg.NetNS)
	if err != nil {
		return err
	}
	defer table.close()
	var tunnels []tunnel
	if r.cfg.Mode == ModeHostGW {
		// Started with host-gw after another backend: its device goes, and
		// with it every route over it.
		if err := table.vxlan(r.cfg.VXLAN.withDefaults()).remove(); err != nil {
			r.log.Warn("removing the VXLAN device of an earlier backend failed", "err", err)
		}
	} else {
		tunnels = append(tunnels, &vxlanBackend{dev: table.vxlan(r.cfg.VXLAN.withDefaults())})
	}
	if r.cfg.Mode.MayUseWireGuard() && r.cfg.WireGuard.Identity != nil {
		wg := newWGBackend(ctx, r.cfg.WireGuard, r.cfg.NetNS, r.log.With("backend", ModeWireGuard))
		if r.openWG != nil {
			wg.open = r.openWG
		}
		tunnels = append(tunnels, wg)
	}
	followNodes(ctx, src, r.cfg.Resync, r.log, func(ctx context.Context, nodes map[string]*api.Node) {
		r.sync(ctx, table, tunnels, nodes)
	})
	return nil
}

// sync makes one pass: every change is tried even when others fail.
func (r *Router) sync(ctx context.Context, table routeTable, tunnels []tunnel, nodes map[string]*api.Node) {
	peers, bad := peersOf(nodes, r.cfg.Node, r.cluster)
	badKeys := map[string]bool{}
	for _, b := range bad {
		badKeys["peer "+b.node] = true
		r.report("peer "+b.node, b.err, "not routing a node's pods: what it publishes about its pod network is malformed", "node", b.node)
	}
	ready := map[Mode]tunnel{}
	if self, ok := nodes[r.cfg.Node]; ok {
		if subnet, ok := claimOf(self); ok {
			for _, tn := range tunnels {
				err := tn.prepare(subnet)
				r.report(string(tn.mode()), err, "setting up a tunnel device failed; peers are reached by host-gw meanwhile", "backend", tn.mode())
				if err == nil {
					ready[tn.mode()] = tn
				}
			}
		}
	}
	views := r.viewPeers(table, ready, peers)
	wg, wgWanted := r.wireGuardDevice(ready, views)
	wgReady := wg != nil && wg.dev != nil // no device: no peer goes through it
	chosen := map[string]Mode{}
	want := map[netip.Prefix]route{}
	carried := map[Mode][]Peer{}
	for _, v := range views {
		p := v.Peer
		m := chooseBackend(r.cfg.Mode, v.vxOK, v.wgOK && wgReady, p, v.direct)
		chosen[p.Node] = m
		if tn, ok := ready[m]; ok {
			want[p.Subnet] = tn.route(p)
			carried[m] = append(carried[m], p)
			continue
		}
		want[p.Subnet] = route{dst: p.Subnet, gw: p.Addr, node: p.Node}
	}
	// The tunnels' per-peer state first: a route over a tunnel is of use
	// only with it.
	for m, tn := range ready {
		err := tn.sync(carried[m])
		r.report(string(m)+" peers", err, "setting a tunnel's entries for peers failed", "backend", m)
	}
	r.syncRoutes(table, want, badKeys)
	// Closed once the routes have left it.
	if wgReady && !wgWanted {
		wg.closeDevice()
		r.log.Info("wireguard device closed: no peer is reached through it or reaches this node through it")
	}
	ann := map[string]string{}
	for _, tn := range tunnels {
		_, ok := ready[tn.mode()]
		for k, v := range tn.annotations(ok) {
			ann[k] = v
		}
	}
	r.publish(ctx, nodes[r.cfg.Node], ann, chosen)
}

// wireGuardDevice opens the WireGuard device of a ready WireGuard tunnel
// when it is wanted: always under wireguard, under auto only while some
// peer needs it (wireguard-go's buffers, ~33 MB, count as live heap, and
// the collector lets garbage grow as much again). The key is published
// either way, so that peers know this node takes WireGuard; a device that
// fails to open takes the tunnel out of ready, which withdraws the key.
// It returns the tunnel (nil: none, or it failed) and whether the device
// is wanted.
func (r *Router) wireGuardDevice(ready map[Mode]tunnel, views []peerView) (*wgBackend, bool) {
	wg, _ := ready[ModeWireGuard].(*wgBackend)
	wanted := r.cfg.Mode == ModeWireGuard || slices.ContainsFunc(views, func(v peerView) bool {
		return needsWireGuard(v.wgOK, v.Peer, v.direct)
	})
	if wg == nil {
		return nil, wanted
	}
	var err error
	if wanted {
		err = wg.ensureDevice()
	}
	r.report("wireguard device", err, "the wireguard device failed; its key is withdrawn and peers are reached by other backends meanwhile")
	if err != nil {
		delete(ready, ModeWireGuard)
		return nil, wanted
	}
	return wg, wanted
}

// peerView is a peer with what a pass found: whether the ready tunnels
// take it, and whether it is on a directly connected subnet.
type peerView struct {
	Peer
	vxOK, wgOK, direct bool
}

// viewPeers looks at every peer once a pass (a key is verified once); a
// peer's directness is asked only when some tunnel could carry it.
func (r *Router) viewPeers(table routeTable, ready map[Mode]tunnel, peers []Peer) []peerView {
	views := make([]peerView, 0, len(peers))
	for _, p := range peers {
		v := peerView{Peer: p, direct: true}
		if vx, ok := ready[ModeVXLAN]; ok {
			v.vxOK = vx.takes(p)
		}
		if wg, ok := ready[ModeWireGuard]; ok {
			v.wgOK = wg.takes(p)
		}
		if (r.cfg.Mode == ModeAuto || r.cfg.Mode == ModeWireGuard) && (v.vxOK || v.wgOK) {
			v.direct = table.direct(p.Addr)
		}
		views = append(views, v)
	}
	return views
}

// syncRoutes makes the table's routes of ours the wanted ones.
func (r *Router) syncRoutes(table routeTable, want map[netip.Prefix]route, keep map[string]bool) {
	owned, foreign, err := table.list()
	if err != nil {
		r.report("list", err, "listing routes failed")
		return
	}
	r.report("list", nil, "")
	replace, remove, blocked := routeChanges(want, owned, foreign)
	for _, rt := range replace {
		err := table.replace(rt)
		r.report("replace "+rt.dst.String(), err, "adding a route to a node's pods failed",
			"node", rt.node, "subnet", rt.dst.String(), "via", rt.via())
		if err == nil {
			r.log.Info("route to a node's pods set", "node", rt.node, "subnet", rt.dst.String(), "via", rt.via())
		}
	}
	for _, dst := range remove {
		err := table.remove(dst)
		r.report("remove "+dst.String(), err, "removing a route failed", "subnet", dst.String())
		if err == nil {
			r.log.Info("route removed", "subnet", dst.String(), "via", route{gw: owned[dst].gw, dev: owned[dst].dev}.via())
		}
	}
	for _, rt := range blocked {
		r.report("blocked "+rt.dst.String(), errBlocked, "not routing a node's pods: the host has another route to that subnet",
			"node", rt.node, "subnet", rt.dst.String())
	}
	r.forgetExcept(replace, remove, blocked, keep)
}

// publish writes this node's pod network annotations when its Node lacks
// them or has others.
func (r *Router) publish(ctx context.Context, self *api.Node, tunnels map[string]string, chosen map[string]Mode) {
	if self == nil || r.cfg.Publish == nil {
		return
	}
	want := map[string]string{
		api.AnnotationPodNetworkBackend: string(r.cfg.Mode),
		api.AnnotationVXLANMAC:          "", // removed if no tunnel sets it (host-gw)
		wireguard.Annotation:            "", // likewise (host-gw, vxlan)
		api.AnnotationBackendsInUse:     inUse(chosen),
	}
	for k, v := range tunnels {
		want[k] = v
	}
	same := true
	for k, v := range want {
		if self.Annotations[k] != v {
			same = false
		}
	}
	if same {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := r.cfg.Publish(pctx, want)
	r.report("publish", err, "writing the pod network annotations on this node failed; tried again at the next pass")
	if err == nil {
		r.log.Info("pod network annotations written", "backend", r.cfg.Mode, "vxlan-mac", want[api.AnnotationVXLANMAC],
			"wireguard-key", want[wireguard.Annotation] != "", "in-use", want[api.AnnotationBackendsInUse])
	}
}

// forgetExcept drops the failures of routes this pass did not try, such as
// those of nodes that are gone.
func (r *Router) forgetExcept(replace []route, remove []netip.Prefix, blocked []route, more map[string]bool) {
	keep := map[string]bool{"list": true, "vxlan": true, "vxlan peers": true, "wireguard": true, "wireguard device": true, "wireguard peers": true, "publish": true}
	for k := range more {
		keep[k] = true
	}
	for _, rt := range replace {
		keep["replace "+rt.dst.String()] = true
	}
	for _, dst := range remove {
		keep["remove "+dst.String()] = true
	}
	for _, rt := range blocked {
		keep["blocked "+rt.dst.String()] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for key := range r.failing {
		if !keep[key] {
			delete(r.failing, key)
		}
	}
}

// errBlocked: a route of someone else has the destination.
var errBlocked = errors.New("the destination has a route this agent does not own")

// report logs a failure the first time it happens in a row, and its end.
func (r *Router) report(key string, err error, msg string, args ...any) {
	r.mu.Lock()
	was := r.failing[key]
	if err != nil {
		r.failing[key] = true
	} else {
		delete(r.failing, key)
	}
	r.mu.Unlock()
	switch {
	case err != nil && !was:
		r.log.Warn(msg, append(args, "err", err)...)
	case err != nil:
		r.log.Debug(msg, append(args, "err", err)...)
	case was && key == "list":
		r.log.Info("listing routes works again")
	}
}
