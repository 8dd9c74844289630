package podnet

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// routeTable is the host's main routing table as the Router sees it.
type routeTable interface {
	// list returns the destinations and gateways of the routes with
	// RouteProtocol, and the destinations of all other routes.
	list() (owned map[netip.Prefix]netip.Addr, foreign map[netip.Prefix]bool, err error)
	replace(r route) error
	remove(dst netip.Prefix) error
	close()
}

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
}

// Router keeps, in the host's main routing table, one route per other node:
// its pod subnet via its InternalIP address (host-gw). Routes of deleted
// nodes, or stale after a node's subnet or address changed, are removed.
type Router struct {
	cfg     RouterConfig
	cluster netip.Prefix
	log     *slog.Logger
	open    func(netns string) (routeTable, error)

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
	followNodes(ctx, src, r.cfg.Resync, r.log, func(_ context.Context, nodes map[string]*api.Node) {
		r.sync(table, nodes)
	})
	return nil
}

// sync makes one pass: every change is tried even when others fail.
func (r *Router) sync(table routeTable, nodes map[string]*api.Node) {
	owned, foreign, err := table.list()
	if err != nil {
		r.report("list", err, "listing routes failed")
		return
	}
	r.report("list", nil, "")
	replace, remove, blocked := routeChanges(desiredRoutes(nodes, r.cfg.Node, r.cluster), owned, foreign)
	for _, rt := range replace {
		err := table.replace(rt)
		r.report("replace "+rt.dst.String(), err, "adding a route to a node's pods failed",
			"node", rt.node, "subnet", rt.dst.String(), "via", rt.gw.String())
		if err == nil {
			r.log.Info("route to a node's pods set", "node", rt.node, "subnet", rt.dst.String(), "via", rt.gw.String())
		}
	}
	for _, dst := range remove {
		err := table.remove(dst)
		r.report("remove "+dst.String(), err, "removing a route failed", "subnet", dst.String())
		if err == nil {
			r.log.Info("route removed", "subnet", dst.String(), "via", owned[dst].String())
		}
	}
	for _, rt := range blocked {
		r.report("blocked "+rt.dst.String(), errBlocked, "not routing a node's pods: the host has another route to that subnet",
			"node", rt.node, "subnet", rt.dst.String())
	}
	r.forgetExcept(replace, remove, blocked)
}

// forgetExcept drops the failures of routes this pass did not try, such as
// those of nodes that are gone.
func (r *Router) forgetExcept(replace []route, remove []netip.Prefix, blocked []route) {
	keep := map[string]bool{"list": true}
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
