package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/proxy"
)

// Simulation runs an agent that leaves its host alone, so that many agents
// can share one process on loopback (the scale benchmark,
// daemon/scaletest): the container engine is the one given, and nothing
// host-wide is touched: no iptables (pod network firewall, Service
// rules), no routes, no hairpin settings, no DNS or ingress listener. All
// the rest is the real agent: identity and join, the store on disk, gossip
// with its keyring and mutual TLS, the API, the registry, the
// controllers, the scheduler, the runner and every watch (DNS zone,
// Service rules and Ingress routes are still computed, only not
// installed).
//
// It is a Go-only option: no flag or environment variable of `shoal
// agent` reaches it.
type Simulation struct {
	// Engine replaces the Docker Engine (enginetest.Fake in the benchmark).
	Engine engine.Engine
	// SandboxImage is the pod sandbox image, already present in Engine.
	SandboxImage string
	// MaxPods is the pod capacity the node reports (0: the usual 110), so
	// that a few simulated nodes can hold many pods.
	MaxPods int
}

// RunSimulated is Run for an agent in simulation (see Simulation).
func RunSimulated(ctx context.Context, cfg Config, log *slog.Logger, sim Simulation) error {
	if sim.Engine == nil || sim.SandboxImage == "" {
		return errors.New("simulated agent: an engine and a sandbox image are required")
	}
	if sim.MaxPods < 0 {
		return fmt.Errorf("simulated agent: MaxPods %d is negative", sim.MaxPods)
	}
	// No listener outside the API and gossip ports.
	cfg.DNSAddr, cfg.IngressAddr, cfg.IngressTLSAddr = "off", "", ""
	if err := cfg.validate(); err != nil {
		return err
	}
	return run(ctx, cfg, log, &sim)
}

// engine returns the simulation's engine, or connects to the real one.
func (s *Simulation) engine(ctx context.Context, cfg Config, log *slog.Logger) (engine.Engine, error) {
	if s != nil {
		return s.Engine, nil
	}
	return connectEngine(ctx, cfg, log)
}

// hostLevel says whether the agent may change its host's network.
func (s *Simulation) hostLevel() bool { return s == nil }

// node adjusts the Node the agent registers.
func (s *Simulation) node(n *api.Node) *api.Node {
	if s == nil || s.MaxPods == 0 {
		return n
	}
	pods := api.NewMilliQuantity(int64(s.MaxPods) * 1000)
	n.Status.Capacity[api.ResourcePods] = pods
	n.Status.Allocatable[api.ResourcePods] = pods
	return n
}

// proxyKernel is where Service rules go: nil (the host's iptables) for a
// real agent, nowhere in simulation.
func (s *Simulation) proxyKernel() proxy.Kernel {
	if s == nil {
		return nil
	}
	return discardKernel{}
}

// discardKernel takes Service rules and installs none: the proxy still
// computes them on every change, which is the cost the simulation keeps.
type discardKernel struct{}

func (discardKernel) Restore(context.Context, []byte) error        { return nil }
func (discardKernel) Save(context.Context, string) ([]byte, error) { return nil, nil }
func (discardKernel) Iptables(context.Context, ...string) error    { return nil }
func (discardKernel) Conntrack(context.Context, ...string) error   { return proxy.ErrNoConntrack }
