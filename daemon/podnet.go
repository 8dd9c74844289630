package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/podnet"
	"github.com/shoal-dev/shoal/daemon/node/runtime"
	"github.com/shoal-dev/shoal/daemon/node/sandbox"
	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
)

// podNetwork is this node's part of the pod network: its /24, the bridge
// pods attach to, the pods' addresses and interfaces, the firewall rules
// and the routes to the other nodes. Without hostLevel (simulation) only
// the subnet and the addresses exist: the wiring touches no device, and
// fw, router, hairpin and hostPorts are nil.
type podNetwork struct {
	subnet    *net.IPNet
	gateway   net.IP
	claimer   *podnet.Claimer
	ipam      *podnet.IPAM
	wiring    runtime.PodWiring
	hostPorts *podnet.HostPorts
	fw        *podnet.Firewall
	router    *podnet.Router
	hairpin   *podnet.Hairpin
	eng       engine.Engine
	log       *slog.Logger
	// podMTU is the pod bridge's MTU, which new pods' interfaces get; 0
	// leaves it as it is.
	podMTU int
	// wgMTU is the WireGuard device's MTU; 0 means its default.
	wgMTU int

	mu sync.Mutex
	// legacy: the engine network "shoal" of older agents still has
	// sandboxes; it is removed once they are gone.
	legacy bool
	prefix netip.Prefix // the subnet the bridge and masquerading have
}

// setupPodNetwork claims the node's subnet (after the first sync with the
// cluster, so that others' claims are known), creates the bridge and the
// firewall rules; addr is the node's address, which VXLAN sends from; live
// is the node's identity, which signs its WireGuard key. onMove is told the new gateway if a conflict later moves
// the node to another subnet. hostLevel false leaves the host's firewall,
// routes and devices alone (simulation).
func setupPodNetwork(ctx context.Context, cfg Config, addr string, live *identity.Live, eng engine.Engine, store podNetworkStore,
	rec *events.Recorder, log *slog.Logger, hostLevel bool, onMove func(gw net.IP)) (*podNetwork, error) {
	cidr, err := podnet.ParseClusterCIDR(cfg.ClusterCIDR)
	if err != nil {
		return nil, fmt.Errorf("--cluster-cidr: %w", err)
	}
	mode, err := podnet.ParseMode(cfg.PodNetworkBackend)
	if err != nil {
		return nil, fmt.Errorf("--pod-network-backend %w", err)
	}
	var fw *podnet.Firewall
	if hostLevel {
		if fw, err = podnet.NewFirewall(podnet.FirewallConfig{ClusterCIDR: cidr, ServiceCIDR: serviceRange(cfg), Log: log}); err != nil {
			return nil, err
		}
	}
	p := &podNetwork{fw: fw, eng: eng, log: log}
	p.claimer, err = podnet.NewClaimer(podnet.ClaimConfig{Store: store, Node: cfg.Name, ClusterCIDR: cidr,
		DataDir: cfg.DataDir, RunsPods: podnet.EngineRunsPods(eng, cfg.Name), Events: rec.ForComponent("pod-network"), Log: log,
		Move: func(ctx context.Context, s *net.IPNet) error {
			pfx, _ := netip.ParsePrefix(s.String())
			if p.ipam != nil {
				if err := p.ipam.Reset(pfx); err != nil {
					return err
				}
			}
			gw, err := p.ensureBridge(ctx, pfx, hostLevel)
			if err != nil {
				return err
			}
			if fw != nil {
				if err := fw.EnsureRules(ctx); err != nil {
					return err
				}
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
	pfx, err := netip.ParsePrefix(p.subnet.String())
	if err != nil {
		return nil, fmt.Errorf("pod subnet %s: %w", p.subnet, err)
	}
	if p.ipam, err = podnet.OpenIPAM(cfg.DataDir, pfx); err != nil {
		return nil, err
	}
	if !hostLevel {
		p.wiring = podnet.SimulatedWiring{IPAM: p.ipam}
		p.gateway, _ = p.ensureBridge(ctx, pfx, false)
		log.Info("pod network simulated", "subnet", p.subnet, "gateway", p.gateway)
		return p, nil
	}
	local, mode, err := p.pickMTU(mode, addr)
	if err != nil {
		return nil, err
	}
	p.migrate(ctx)
	if p.gateway, err = p.ensureBridge(ctx, pfx, true); err != nil {
		return nil, err
	}
	if err := fw.EnsureRules(ctx); err != nil {
		return nil, fmt.Errorf("pod network firewall: %w", err)
	}
	wg := podnet.WireGuardConfig{Port: cfg.WireGuardPort, MTU: p.wgMTU, DataDir: cfg.DataDir}
	if live != nil {
		wg.Identity, wg.Trust = live.Node, live.Pool
	}
	if p.router, err = podnet.NewRouter(podnet.RouterConfig{Node: cfg.Name, ClusterCIDR: cidr, Log: log,
		Mode: mode, VXLAN: podnet.VXLANConfig{Local: local}, WireGuard: wg, Publish: podnet.AnnotateNode(store, cfg.Name)}); err != nil {
		return nil, err
	}
	p.wiring = &podnet.BridgeWiring{IPAM: p.ipam, Log: log}
	p.hostPorts = podnet.NewHostPorts("", log)
	p.hairpin = podnet.NewHairpin("", log)
	log.Info("pod network ready", "subnet", p.subnet, "gateway", p.gateway, "backend", mode, "pod-mtu", p.podMTU)
	return p, nil
}

// podNetworkStore is what the pod network needs of the object store:
// claiming a subnet, and writing its annotations on the node's own Node.
type podNetworkStore interface {
	podnet.ClaimStore
	podnet.NodeWriter
}

// pickMTU sets the pods' MTU for the backend: the uplink's (the link with
// the node's address), less the largest overhead of the encapsulations some
// peer may be reached through, so that no path black-holes full-sized
// packets: VXLAN's 50 bytes under vxlan, WireGuard's 80 under wireguard
// and auto (which may use both: the smaller MTU fits both). Under auto, a
// node whose address is on no local link (VXLAN cannot send from it) falls
// back to host-gw; under vxlan and wireguard that is an error.
func (p *podNetwork) pickMTU(mode podnet.Mode, addr string) (netip.Addr, podnet.Mode, error) {
	local, perr := netip.ParseAddr(addr)
	var mtu int
	err := perr
	if err == nil && (!local.Unmap().Is4() || !local.IsGlobalUnicast()) {
		err = fmt.Errorf("the node's address %s is not a unicast IPv4 address (give --advertise)", addr)
	}
	if err == nil {
		mtu, err = podnet.UplinkMTU(local.Unmap())
	}
	switch {
	case err != nil && (mode == podnet.ModeVXLAN || mode == podnet.ModeWireGuard):
		return netip.Addr{}, "", fmt.Errorf("--pod-network-backend %s: %w", mode, err)
	case err != nil && mode == podnet.ModeAuto:
		p.log.Warn("VXLAN and WireGuard cannot run here; reaching every peer by host-gw", "address", addr, "err", err)
		return netip.Addr{}, podnet.ModeHostGW, nil
	case err != nil:
		return netip.Addr{}, mode, nil // host-gw: the bridge's MTU stays as it is
	case mode.MayUseWireGuard():
		p.podMTU = wireguard.MTUFor(mtu)
		p.wgMTU = wireguard.MTUFor(mtu)
	case mode.Encapsulates():
		p.podMTU = mtu - podnet.VXLANOverhead
	default:
		p.podMTU = mtu
	}
	return local.Unmap(), mode, nil
}

// migrate removes the engine network "shoal" that older agents attached
// sandboxes to. While sandboxes of theirs are attached, it stays (and so
// does the engine's bridge shoal0, which new pods' veths join): they keep
// running until replaced, and the network is removed once empty.
func (p *podNetwork) migrate(ctx context.Context) {
	err := p.eng.RemoveNetwork(ctx, podnet.NetworkName)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err == nil:
		p.log.Info("removed the engine network of older agents; the agent now wires pods itself", "network", podnet.NetworkName)
		p.legacy = false
	case errors.Is(err, engine.ErrNotFound):
		p.legacy = false
	case errors.Is(err, engine.ErrInUse):
		if !p.legacy {
			p.log.Warn("sandboxes of an older agent are on the engine network; it is kept until they are replaced", "network", podnet.NetworkName, "err", err)
		}
		p.legacy = true
	default:
		p.log.Warn("removing the engine network of older agents failed; tried again later", "network", podnet.NetworkName, "err", err)
	}
}

// ensureBridge makes the pod bridge have the subnet's gateway, puts the
// pods' host ends back on it (it may have been made again) and keeps the
// masquerading of pod traffic that leaves the node. Without hostLevel it
// only computes the gateway.
func (p *podNetwork) ensureBridge(ctx context.Context, subnet netip.Prefix, hostLevel bool) (net.IP, error) {
	if !hostLevel {
		return subnet.Masked().Addr().Next().AsSlice(), nil
	}
	gw, err := podnet.EnsurePodBridge(podnet.BridgeDevice, subnet)
	if err != nil {
		return nil, err
	}
	if p.podMTU > 0 {
		if err := podnet.SetPodMTU(podnet.BridgeDevice, p.podMTU); err != nil {
			return nil, err
		}
	}
	if n, err := podnet.ReattachPorts(podnet.BridgeDevice); err != nil {
		p.log.Warn("putting pods' veths back on the pod bridge failed", "err", err)
	} else if n > 0 {
		p.log.Info("put pods' veths back on the pod bridge", "veths", n)
	}
	p.mu.Lock()
	old := p.prefix
	p.mu.Unlock()
	if err := podnet.EnsureMasquerade(ctx, podnet.BridgeDevice, subnet, old); err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.prefix = subnet
	p.mu.Unlock()
	return gw.AsSlice(), nil
}

// keepBridge checks the bridge, its ports and the masquerading every
// resync, and removes the old engine network once its sandboxes are gone.
func (p *podNetwork) keepBridge(ctx context.Context) error {
	tick := time.NewTicker(podnet.DefaultResync)
	defer tick.Stop()
	warned := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		p.mu.Lock()
		legacy, pfx := p.legacy, p.prefix
		p.mu.Unlock()
		if legacy {
			p.migrate(ctx)
		}
		_, err := p.ensureBridge(ctx, pfx, true)
		switch {
		case err != nil && !warned && ctx.Err() == nil:
			p.log.Warn("keeping the pod bridge failed", "err", err)
			warned = true
		case err == nil:
			warned = false
		}
	}
}

// loops returns the pod network's background work.
func (p *podNetwork) loops(eng engine.Engine, nodes podnet.NodeSource) map[string]func(context.Context) error {
	if p.fw == nil {
		return map[string]func(context.Context) error{"pod-subnet": p.claimer.Run}
	}
	return map[string]func(context.Context) error{
		"pod-routes":     func(ctx context.Context) error { return p.router.Run(ctx, nodes) },
		"pod-firewall":   func(ctx context.Context) error { return p.fw.Run(ctx, eng) },
		"pod-subnet":     p.claimer.Run,
		"pod-hairpin":    func(ctx context.Context) error { return p.hairpin.Run(ctx, eng) },
		"pod-bridge":     p.keepBridge,
		"pod-host-ports": p.hostPorts.Run,
	}
}

// runtimeConfig is what the runner needs of the pod network.
func (p *podNetwork) runtimeConfig(cfg *runtime.Config) {
	cfg.Wiring = p.wiring
	if p.hostPorts != nil {
		// The pod network is real: sandboxes have processes and files.
		cfg.HostPorts = p.hostPorts
		cfg.HostsEntry = sandbox.AddHostsEntry
		cfg.WakeGate = sandbox.WakeNetWait
	}
}

// serviceRange is --service-cidr as a prefix (checked by validate); the
// zero prefix if it does not parse.
func serviceRange(cfg Config) netip.Prefix {
	p, _ := netip.ParsePrefix(cfg.ServiceCIDR)
	return p
}
