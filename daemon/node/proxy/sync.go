package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// sync makes the kernel hold the rules of the cached state. changedAt is
// when the first change it carries arrived (zero: none, a resync or retry).
func (p *Proxier) sync(ctx context.Context, c *cache, changedAt time.Time) error {
	start := time.Now()
	services, endpoints := c.lists()
	rs := build(servicePorts(services, endpoints), p.cfg.Rules)
	generated := time.Now()
	res := SyncResult{Full: !p.kernel.known, Generate: generated.Sub(start), ServicePorts: len(rs.ports)}
	for _, t := range rs.tables() {
		res.Chains += len(t.chains)
		res.Rules += t.nrules
	}
	err := p.apply(ctx, rs, &res)
	res.End = time.Now()
	res.Apply = res.End.Sub(generated)
	res.Err = err
	if err == nil && !changedAt.IsZero() {
		res.Latency = res.End.Sub(changedAt)
	}
	first := p.record(res)
	if p.cfg.OnSync != nil {
		p.cfg.OnSync(res)
	}
	if err == nil && len(res.Tables) > 0 {
		// The first rules are worth a line at info; every change after
		// them is debug.
		level := slog.LevelDebug
		if first {
			level = slog.LevelInfo
		}
		p.log.Log(ctx, level, "rules applied", "tables", res.Tables, "full", res.Full, "servicePorts", res.ServicePorts,
			"rules", res.Rules, "generate", res.Generate, "apply", res.Apply, "latency", res.Latency)
	}
	return err
}

// apply restores the tables that changed, then flushes stale UDP flows and
// installs the jumps as needed.
func (p *Proxier) apply(ctx context.Context, rs *ruleSet, res *SyncResult) error {
	ctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	k := p.cfg.Kernel
	full := !p.kernel.known
	if p.kernel.applied == nil {
		p.kernel.applied = map[string]map[string][]byte{}
	}
	for _, t := range rs.tables() {
		var prev map[string][]byte
		var existing []string
		if full {
			saved, err := k.Save(ctx, t.name)
			if err != nil {
				return fmt.Errorf("proxy: read %s table: %w", t.name, err)
			}
			existing = shoalChains(saved)
		} else {
			prev = p.kernel.applied[t.name]
			for c := range prev {
				existing = append(existing, c)
			}
		}
		stale := t.staleChains(existing)
		data := t.renderChanged(prev, stale)
		if data == nil {
			continue
		}
		p.countRestore()
		if err := k.Restore(ctx, data); err != nil {
			p.kernel.known = false
			return fmt.Errorf("proxy: restore %s table: %w", t.name, err)
		}
		p.kernel.applied[t.name] = t.chainRules()
		res.Tables = append(res.Tables, t.name)
	}
	p.kernel.known = true
	if p.kernel.ports != nil {
		p.flushStaleFlows(ctx, staleUDPFlows(p.kernel.ports, rs.ports))
	}
	p.kernel.ports = rs.ports
	if p.kernel.ports == nil {
		p.kernel.ports = []servicePort{}
	}
	if full || !p.kernel.jumpsOK {
		added, err := ensureJumps(ctx, k)
		if err != nil {
			p.kernel.jumpsOK = false
			return err
		}
		if added > 0 {
			p.log.Info("installed jumps to shoal chains", "count", added)
		}
		p.kernel.jumpsOK = true
	}
	return nil
}

// flushStaleFlows deletes conntrack entries; failures only cost stale flows
// until they time out, so they are logged, not returned.
func (p *Proxier) flushStaleFlows(ctx context.Context, flows [][]string) {
	for _, args := range flows {
		err := p.cfg.Kernel.Conntrack(ctx, args...)
		switch {
		case err == nil:
		case errors.Is(err, ErrNoConntrack):
			if !p.kernel.noConntrackOK {
				p.kernel.noConntrackOK = true
				p.log.Warn("conntrack tool not found: UDP flows to removed endpoints last until they time out; install Debian package conntrack")
			}
			return
		case exitCode(err) == 1:
			// conntrack says "0 flow entries have been deleted" this way.
		default:
			p.log.Warn("conntrack flush failed", "args", args, "err", err)
		}
	}
}

func (p *Proxier) countRestore() {
	p.mu.Lock()
	p.stats.Restores++
	p.mu.Unlock()
}

// record counts a sync in the stats and reports whether it was the first
// that succeeded.
func (p *Proxier) record(res SyncResult) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if res.Err != nil {
		p.stats.Failures++
		return false
	}
	p.stats.Syncs++
	p.stats.LastSync = res.End
	p.stats.ServicePorts, p.stats.Chains, p.stats.Rules = res.ServicePorts, res.Chains, res.Rules
	if res.Latency > 0 {
		p.stats.LastLatency = res.Latency
		p.stats.MaxLatency = max(p.stats.MaxLatency, res.Latency)
	}
	return p.stats.Syncs == 1
}
