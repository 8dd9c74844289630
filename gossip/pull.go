package gossip

import (
	"context"
	"sync"
)

// Pulls of announced records run in pullWorkers goroutines, at most one
// request per source at a time, pullBatch keys per request; at most
// maxPending keys wait (beyond, announces are dropped and anti-entropy
// repairs).
const (
	pullWorkers = 4
	maxPending  = 16384
)

// puller holds the keys to pull, grouped by the API address to pull from.
type puller struct {
	mu     sync.Mutex
	byAddr map[string]map[string]struct{}
	wanted map[string]Version // newest version asked for, per key
	busy   map[string]bool
	n      int
	wake   chan struct{}
}

func newPuller() *puller {
	return &puller{byAddr: map[string]map[string]struct{}{}, wanted: map[string]Version{}, busy: map[string]bool{},
		wake: make(chan struct{}, 1)}
}

// want asks for key at version v (or newer) from addr; false if full.
func (p *puller) want(addr, key string, v Version) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.wanted[key]; ok && w.Compare(v) >= 0 {
		return true
	}
	keys := p.byAddr[addr]
	if _, ok := keys[key]; !ok {
		if p.n >= maxPending {
			return false
		}
		if keys == nil {
			keys = map[string]struct{}{}
			p.byAddr[addr] = keys
		}
		keys[key] = struct{}{}
		p.n++
	}
	p.wanted[key] = v
	p.signal()
	return true
}

func (p *puller) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// take returns up to pullBatch keys of a source no worker is pulling from.
func (p *puller) take() (string, []string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, keys := range p.byAddr {
		if p.busy[addr] {
			continue
		}
		batch := make([]string, 0, min(len(keys), pullBatch))
		for k := range keys {
			if len(batch) == pullBatch {
				break
			}
			batch = append(batch, k)
			delete(keys, k)
		}
		p.n -= len(batch)
		if len(keys) == 0 {
			delete(p.byAddr, addr)
		}
		p.busy[addr] = true
		if len(p.byAddr) > 0 {
			p.signal() // more work for another worker
		}
		return addr, batch, true
	}
	return "", nil, false
}

func (p *puller) done(addr string, keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.busy, addr)
	for _, k := range keys {
		delete(p.wanted, k)
	}
	if len(p.byAddr) > 0 {
		p.signal()
	}
}

// runPuller pulls announced records and hands them to the applier, which
// relays them (announcing this agent as a source of the large ones).
func (c *Cluster) runPuller(ctx context.Context) {
	for {
		addr, keys, ok := c.pulls.take()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-c.pulls.wake:
				continue
			}
		}
		recs, err := c.pullRecords(ctx, addr, keys)
		c.pulls.done(addr, keys)
		if err != nil {
			continue
		}
		for _, r := range recs {
			if !c.inbound.put(item{rec: r}) {
				c.stats.dropped.Add(1)
			}
		}
	}
}

// pullRecords fetches records with a timeout, counting and logging.
func (c *Cluster) pullRecords(ctx context.Context, addr string, keys []string) ([]*Record, error) {
	tctx, cancel := context.WithTimeout(ctx, c.tm.pullTimeout)
	defer cancel()
	c.stats.pulls.Add(1)
	recs, err := c.fetch.PullRecords(tctx, addr, keys)
	if err != nil {
		c.pullFailed(ctx, addr, err)
		return nil, err
	}
	c.limiter.reset("pull/" + addr)
	c.stats.pulled.Add(int64(len(recs)))
	return recs, nil
}

// pullFailed counts and logs a failed pull; ctx is the cluster's.
func (c *Cluster) pullFailed(ctx context.Context, addr string, err error) {
	c.stats.pullErrors.Add(1)
	if ctx.Err() != nil {
		return // shutting down
	}
	if ok, suppressed := c.limiter.allow("pull/" + addr); ok {
		c.log.Warn("pull from peer failed; anti-entropy will retry", "peer", addr, "err", err, "suppressed", suppressed)
	}
}
