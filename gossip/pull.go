package gossip

import (
	"context"
	"errors"
	"fmt"
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

// puller holds the keys to pull, grouped by the name of the member to
// pull from.
type puller struct {
	mu     sync.Mutex
	byPeer map[string]map[string]struct{} // member name -> keys
	wanted map[string]Version             // newest version asked for, per key
	busy   map[string]bool
	n      int
	wake   chan struct{}
}

func newPuller() *puller {
	return &puller{byPeer: map[string]map[string]struct{}{}, wanted: map[string]Version{}, busy: map[string]bool{},
		wake: make(chan struct{}, 1)}
}

// want asks for key at version v (or newer) from the member named peer;
// false if full.
func (p *puller) want(peer, key string, v Version) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.wanted[key]; ok && w.Compare(v) >= 0 {
		return true
	}
	keys := p.byPeer[peer]
	if _, ok := keys[key]; !ok {
		if p.n >= maxPending {
			return false
		}
		if keys == nil {
			keys = map[string]struct{}{}
			p.byPeer[peer] = keys
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
	for peer, keys := range p.byPeer {
		if p.busy[peer] {
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
			delete(p.byPeer, peer)
		}
		p.busy[peer] = true
		if len(p.byPeer) > 0 {
			p.signal() // more work for another worker
		}
		return peer, batch, true
	}
	return "", nil, false
}

func (p *puller) done(peer string, keys []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.busy, peer)
	for _, k := range keys {
		delete(p.wanted, k)
	}
	if len(p.byPeer) > 0 {
		p.signal()
	}
}

// runPuller pulls announced records from the live member that announced
// them and hands them to the applier, which relays them (announcing this
// agent as a source of the large ones).
func (c *Cluster) runPuller(ctx context.Context) {
	for {
		name, keys, ok := c.pulls.take()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-c.pulls.wake:
				continue
			}
		}
		var recs []*Record
		peer, alive := c.members.livePeer(name)
		if alive {
			recs, _ = c.pullAll(ctx, peer, keys)
		} else {
			c.unknownSender("announce", name) // died since it announced
		}
		c.pulls.done(name, keys)
		for _, r := range recs {
			if !c.inbound.put(item{rec: r, via: peer.Name}) {
				c.stats.dropped.Add(1)
			}
		}
	}
}

// pullAll pulls the records of keys from the member, pullBatch keys per
// request, asking again for what follows the last record of an answer the
// member cut short at MaxAnswer. The records returned passed admit.
func (c *Cluster) pullAll(ctx context.Context, p Peer, keys []string) ([]*Record, error) {
	var out []*Record
	for len(keys) > 0 {
		batch := keys[:min(len(keys), pullBatch)]
		recs, last, err := c.pullRecords(ctx, p, batch)
		if err != nil {
			return out, err
		}
		out = append(out, c.admit(recs, p.Name)...)
		if last < 0 { // none of the batch is there
			keys = keys[len(batch):]
		} else {
			keys = keys[last+1:]
		}
	}
	return out, nil
}

// pullRecords fetches records with a timeout, counting and logging. The
// answer must hold only keys asked for, in the order asked: last is the
// index in keys of its last record (-1 if none).
func (c *Cluster) pullRecords(ctx context.Context, p Peer, keys []string) (recs []*Record, last int, err error) {
	tctx, cancel := context.WithTimeout(ctx, c.tm.pullTimeout)
	defer cancel()
	c.stats.pulls.Add(1)
	recs, err = c.fetch.PullRecords(tctx, p, keys)
	if err == nil {
		last, err = checkAnswer(keys, recs)
	}
	if err != nil {
		if errors.Is(err, ErrAnswerTooLarge) || errors.Is(err, ErrBadAnswer) {
			c.refuse("pull answer", p.Name, p.Name, "", err)
		}
		c.pullFailed(ctx, p.Name, err)
		return nil, -1, err
	}
	c.limiter.reset("pull/" + p.Name)
	c.stats.pulled.Add(int64(len(recs)))
	return recs, last, nil
}

// ErrBadAnswer is returned for a pull answer holding a key that was not
// asked for, or keys out of the order asked.
var ErrBadAnswer = errors.New("gossip: the answer does not answer what was asked")

// checkAnswer checks that recs answer keys in order and returns the index
// of the last one answered (-1 if none).
func checkAnswer(keys []string, recs []*Record) (int, error) {
	last := -1
	for _, r := range recs {
		i := last + 1
		for i < len(keys) && keys[i] != r.Key {
			i++
		}
		if i == len(keys) {
			return -1, fmt.Errorf("%w: %d records for %d keys, one of them not asked for or out of order", ErrBadAnswer, len(recs), len(keys))
		}
		last = i
	}
	return last, nil
}

// pullFailed counts and logs a failed pull; ctx is the cluster's.
func (c *Cluster) pullFailed(ctx context.Context, peer string, err error) {
	c.stats.pullErrors.Add(1)
	if ctx.Err() != nil {
		return // shutting down
	}
	if ok, suppressed := c.limiter.allow("pull/" + peer); ok {
		c.log.Warn("pull from peer failed; anti-entropy will retry", "peer", peer, "err", err, "suppressed", suppressed)
	}
}
