package podnet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// FirewallConfig configures a Firewall.
type FirewallConfig struct {
	ClusterCIDR *net.IPNet
	// ServiceCIDR, when valid, is the Services' virtual range: a packet from
	// a pod to it that the service proxy did not translate (a Service with
	// no backend) is not accepted here but left to the proxy's REJECT.
	ServiceCIDR netip.Prefix
	// Bridge is the pod bridge device; "" means BridgeDevice.
	Bridge string
	Log    *slog.Logger
	// Resync is how often Run checks the rules; 0 means DefaultResync.
	Resync time.Duration
	// NetNS is the path of the network namespace whose rules to keep, ""
	// for the agent's own (tests give another; it needs nsenter).
	NetNS string
}

// Firewall keeps the pod network's iptables rules (chains ChainPostrouting
// and ChainForward) and the jumps to them: first in nat POSTROUTING (ahead of
// Docker's masquerading), and in filter FORWARD below Docker's jump to
// DOCKER-USER, where an administrator's rules, and any FORWARD rule put
// above ours, decide first. Docker inserts its own rules first whenever it
// starts or creates a network, and rules get deleted by hand, so they are
// checked again and again; a FORWARD jump in its place is never moved.
type Firewall struct {
	cfg     FirewallConfig
	cluster netip.Prefix
	log     *slog.Logger
	// exec runs an iptables command with stdin and returns its stdout.
	exec func(ctx context.Context, stdin string, args ...string) (string, error)

	mu sync.Mutex // one EnsureRules at a time
}

// NewFirewall checks the configuration.
func NewFirewall(cfg FirewallConfig) (*Firewall, error) {
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
	if cfg.Bridge == "" {
		cfg.Bridge = BridgeDevice
	}
	f := &Firewall{cfg: cfg, cluster: cluster, log: cfg.Log.With("component", "pod-firewall")}
	f.exec = func(ctx context.Context, stdin string, args ...string) (string, error) {
		return runIptables(ctx, cfg.NetNS, stdin, args...)
	}
	return f, nil
}

// EnsureRules puts the chains, their rules and the jumps to them in place, in
// one atomic change per table, and changes nothing when all is in place. It
// is safe for concurrent use; call it after creating the pod bridge too.
func (f *Firewall) EnsureRules(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	specs := chainsFor(f.cluster, f.cfg.ServiceCIDR, f.cfg.Bridge)
	for _, table := range []string{"nat", "filter"} {
		listing, err := f.exec(ctx, "", "iptables", "-w", "5", "-t", table, "-S")
		if err != nil {
			return fmt.Errorf("list %s rules: %w", table, err)
		}
		input := restoreInput(table, listing, specs)
		if input == "" {
			continue
		}
		if _, err := f.exec(ctx, input, "iptables-restore", "-w", "5", "--noflush"); err != nil {
			return fmt.Errorf("write %s rules: %w", table, err)
		}
		f.log.Info("pod network rules set", "table", table)
		f.log.Debug("pod network rules written", "table", table, "input", input)
	}
	return nil
}

// Run calls EnsureRules now, every resync period, and whenever the
// engine's event stream comes back after breaking (dockerd restarted and
// put its own rules first), until ctx ends. eng may be nil.
func (f *Firewall) Run(ctx context.Context, eng engine.Engine) error {
	failing := false
	ensure := func() {
		err := f.EnsureRules(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil && !failing:
			f.log.Warn("keeping the pod network rules failed", "err", err)
		case err != nil:
			f.log.Debug("keeping the pod network rules failed again", "err", err)
		case failing:
			f.log.Info("pod network rules in place again")
		}
		failing = err != nil && ctx.Err() == nil
	}
	ensure()
	tick := time.NewTicker(f.cfg.Resync)
	defer tick.Stop()
	events, breaks, stop := subscribe(ctx, eng)
	defer func() { stop() }()
	// While the stream is down, the engine is asked every pause whether it
	// is back.
	var retry <-chan time.Time
	pause := minPause
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			ensure()
		case _, ok := <-events:
			if !ok {
				events = nil
			}
		case err := <-breaks:
			stop()
			events, breaks = nil, nil
			f.log.Debug("engine event stream broke; checking the rules once the engine is back", "err", err)
			pause = minPause
			retry = time.After(pause)
		case <-retry:
			ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := eng.Info(ictx)
			cancel()
			if err != nil {
				pause = min(2*pause, maxPause)
				retry = time.After(pause)
				continue
			}
			retry = nil
			ensure()
			events, breaks, stop = subscribe(ctx, eng)
		}
	}
}

// subscribe follows the engine's events; nil channels without an engine.
func subscribe(ctx context.Context, eng engine.Engine) (<-chan engine.Event, <-chan error, context.CancelFunc) {
	if eng == nil {
		return nil, nil, func() {}
	}
	sctx, cancel := context.WithCancel(ctx)
	events, breaks := eng.Events(sctx)
	return events, breaks, cancel
}
