package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/podnet"
)

// podNetwork is this node's part of the pod network: its /24, the bridge
// pods attach to, the firewall rules and the routes to the other nodes.
// Without hostLevel (simulation) only the subnet and the engine's bridge
// network exist: fw, router and hairpin are nil.
type podNetwork struct {
	subnet  *net.IPNet
	gateway net.IP
	claimer *podnet.Claimer
	fw      *podnet.Firewall
	router  *podnet.Router
	hairpin *podnet.Hairpin
}

// setupPodNetwork claims the node's subnet (after the first sync with the
// cluster, so that others' claims are known), creates the bridge and the
// firewall rules. onMove is told the new gateway if a conflict later moves
// the node to another subnet. hostLevel false leaves the host's firewall,
// routes and bridge settings alone (simulation).
func setupPodNetwork(ctx context.Context, cfg Config, eng engine.Engine, store podnet.ClaimStore,
	rec *events.Recorder, log *slog.Logger, hostLevel bool, onMove func(gw net.IP)) (*podNetwork, error) {
	cidr, err := podnet.ParseClusterCIDR(cfg.ClusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("--cluster-cidr: %w", err)
	}
	var fw *podnet.Firewall
	if hostLevel {
		if fw, err = podnet.NewFirewall(podnet.FirewallConfig{ClusterCIDR: cidr, Log: log}); err != nil {
			return nil, err
		}
	}
	p := &podNetwork{fw: fw}
	p.claimer, err = podnet.NewClaimer(podnet.ClaimConfig{Store: store, Node: cfg.Name, ClusterCIDR: cidr,
		DataDir: cfg.DataDir, RunsPods: podnet.EngineRunsPods(eng, cfg.Name), Events: rec.ForComponent("pod-network"), Log: log,
		Move: func(ctx context.Context, s *net.IPNet) error {
			gw, err := ensureBridge(ctx, eng, s, cfg.Name, log)
			if err != nil {
				return err
			}
			if fw == nil {
				onMove(gw)
				return nil
			}
			if err := fw.EnsureRules(ctx); err != nil {
				return err
			}
			onMove(gw)
			return nil
		}})
	if err != nil {
		return nil, err
	}
	if p.subnet, err = p.claimer.Claim(ctx); err != nil {
		return nil, fmt.Errorf("pod subnet: %w", err)
	}
	if p.gateway, err = ensureBridge(ctx, eng, p.subnet, cfg.Name, log); err != nil {
		return nil, err
	}
	if !hostLevel {
		log.Info("pod network simulated", "subnet", p.subnet, "gateway", p.gateway)
		return p, nil
	}
	// After the bridge: creating a network puts Docker's rules first.
	if err := fw.EnsureRules(ctx); err != nil {
		return nil, fmt.Errorf("pod network firewall: %w", err)
	}
	if p.router, err = podnet.NewRouter(podnet.RouterConfig{Node: cfg.Name, ClusterCIDR: cidr, Log: log}); err != nil {
		return nil, err
	}
	p.hairpin = podnet.NewHairpin("", log)
	log.Info("pod network ready", "subnet", p.subnet, "gateway", p.gateway)
	return p, nil
}

// ensureBridge creates the pod bridge. A bridge left by an older agent with
// another subnet and this node's pods on it is cleared: their containers are
// removed (their pods restart on the new bridge), never anyone else's.
func ensureBridge(ctx context.Context, eng engine.Engine, subnet *net.IPNet, node string, log *slog.Logger) (net.IP, error) {
	gw, err := podnet.EnsureBridge(ctx, eng, subnet)
	if !errors.Is(err, podnet.ErrNetworkInUse) {
		return gw, err
	}
	log.Warn("the pod network has another subnet; restarting this node's pods on the new one", "subnet", subnet)
	list, lerr := eng.ListContainers(ctx, map[string]string{engine.LabelNode: node})
	if lerr != nil {
		return nil, fmt.Errorf("%w (listing containers: %v)", err, lerr)
	}
	for _, c := range list {
		if rerr := eng.RemoveContainer(ctx, c.ID); rerr != nil && !errors.Is(rerr, engine.ErrNotFound) {
			return nil, fmt.Errorf("%w (removing %s: %v)", err, c.ID, rerr)
		}
	}
	return podnet.EnsureBridge(ctx, eng, subnet)
}

// loops returns the pod network's background work.
func (p *podNetwork) loops(eng engine.Engine, nodes podnet.NodeSource) map[string]func(context.Context) error {
	if p.fw == nil {
		return map[string]func(context.Context) error{"pod-subnet": p.claimer.Run}
	}
	return map[string]func(context.Context) error{
		"pod-routes":   func(ctx context.Context) error { return p.router.Run(ctx, nodes) },
		"pod-firewall": func(ctx context.Context) error { return p.fw.Run(ctx, eng) },
		"pod-subnet":   p.claimer.Run,
		"pod-hairpin":  func(ctx context.Context) error { return p.hairpin.Run(ctx, eng) },
	}
}
