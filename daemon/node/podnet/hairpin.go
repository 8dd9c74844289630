package podnet

import (
	"context"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// Hairpin keeps hairpin mode on every port of the pod bridge, so that a pod
// reaching a Service whose chosen backend is itself gets its packets back:
// the service proxy DNATs (and masquerades) them to the pod's own address,
// and the bridge must send them out of the port they came in. Docker turns
// hairpin on only without its userland proxy. Ports appear as sandboxes
// start, so it acts on container start events, and every resync.
type Hairpin struct {
	bridge string
	log    *slog.Logger
	resync time.Duration
	set    func(bridge string) (int, error)
}

// NewHairpin keeps hairpin mode on the ports of bridge ("" = BridgeDevice).
func NewHairpin(bridge string, log *slog.Logger) *Hairpin {
	if bridge == "" {
		bridge = BridgeDevice
	}
	return &Hairpin{bridge: bridge, log: log, resync: 10 * time.Second, set: setHairpin}
}

// Ensure turns hairpin mode on for every port that lacks it.
func (h *Hairpin) Ensure() error {
	n, err := h.set(h.bridge)
	if n > 0 {
		h.log.Debug("hairpin mode turned on", "ports", n)
	}
	return err
}

// Run keeps hairpin mode on until ctx ends.
func (h *Hairpin) Run(ctx context.Context, eng engine.Engine) error {
	tick := time.NewTicker(h.resync)
	defer tick.Stop()
	events, breaks, stop := subscribe(ctx, eng)
	defer stop()
	warned := false
	ensure := func() {
		if err := h.Ensure(); err != nil && !warned {
			h.log.Warn("setting hairpin mode on the pod bridge failed", "err", err)
			warned = true
		}
	}
	ensure()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			ensure()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// A sandbox, or the only container of a pod without one: both
			// hold a pod's network, and neither has a sandbox label.
			if ev.Action == "start" && ev.Labels[engine.LabelPodUID] != "" && ev.Labels[engine.LabelSandbox] == "" {
				ensure()
			}
		case <-breaks:
			// The stream broke (engine restart): resubscribe on the next tick.
			stop()
			events, breaks, stop = subscribe(ctx, eng)
		}
	}
}
