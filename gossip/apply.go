package gossip

import (
	"context"
	"errors"
	"sync"
)

// maxInbound bounds the received messages waiting for the applier; beyond
// it they are dropped (and counted), and anti-entropy repairs.
const maxInbound = 16384

// item is one received record, or an announce of one to pull. via names
// the member a record was pulled from (already admitted); "" for gossip.
type item struct {
	rec *Record
	ann *announce
	via string
}

// inbox is the queue between memberlist's receive loop (which must never
// block) and the applier goroutine.
type inbox struct {
	max   int
	mu    sync.Mutex
	items []item
	wake  chan struct{}
}

func newInbox(max int) *inbox { return &inbox{max: max, wake: make(chan struct{}, 1)} }

// put queues it, or reports false when the queue is full.
func (q *inbox) put(it item) bool {
	q.mu.Lock()
	if len(q.items) >= q.max {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

func (q *inbox) take() []item {
	q.mu.Lock()
	defer q.mu.Unlock()
	its := q.items
	q.items = nil
	return its
}

// runApplier merges received records into the store in batches, relays
// those that won, and turns announces of versions this store lacks into
// pulls.
func (c *Cluster) runApplier(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.inbound.wake:
		}
		var recs []*Record
		for _, it := range c.inbound.take() {
			switch {
			case it.ann != nil:
				c.onAnnounce(*it.ann)
			case it.via != "": // pulled, and checked, by a puller
				recs = append(recs, it.rec)
			case c.stale(it.rec):
				// Most gossip is a copy of what this store has (relays,
				// retransmits): Apply would ignore it, so skip its checks.
			default:
				recs = append(recs, c.admit([]*Record{it.rec}, "gossip")...)
			}
		}
		if len(recs) == 0 {
			continue
		}
		if err := c.apply(ctx, recs, true); errors.Is(err, ErrClosed) {
			return
		}
	}
}

// stale reports a record that would not change what the store holds: a
// copy of it, or, under last-writer-wins, an older one. With a Merger an
// older record may still carry a field edited concurrently: only Apply
// can tell.
func (c *Cluster) stale(r *Record) bool {
	cur := c.store.Get(r.Key)
	if cur == nil {
		return false
	}
	if r.Same(cur) {
		return true
	}
	return !c.store.Merging() && !r.Newer(cur)
}

// apply merges records from elsewhere; with relay, those that won are
// spread further.
func (c *Cluster) apply(ctx context.Context, recs []*Record, relay bool) error {
	applied, err := c.store.Apply(ctx, recs)
	c.stats.applied.Add(int64(len(applied)))
	if relay && c.running.Load() {
		for _, r := range applied {
			c.spread(r, false)
		}
	}
	// A full disk is logged once by the store; the records come back by
	// anti-entropy once there is space.
	if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrStorageFull) && ctx.Err() == nil {
		c.log.Error("applying replicated records failed; anti-entropy brings them again", "records", len(recs), "err", err)
	}
	return err
}

// onAnnounce schedules a pull of a record this store has no such version
// of, from the live member the announce names; an announce naming anyone
// else (an address, an unknown or dead member) is dropped and counted.
func (c *Cluster) onAnnounce(a announce) {
	if a.From == c.cfg.NodeName {
		return
	}
	err := checkKey(a.Key)
	if err == nil {
		err = checkVersion(a.Version, c.store.Clock().Bound())
	}
	if err != nil {
		c.refuse("announce", a.Version.Node, "gossip", a.Key, err)
		return
	}
	if _, ok := c.members.livePeer(a.From); !ok {
		c.unknownSender("announce", a.From)
		return
	}
	if cur := c.store.Get(a.Key); cur != nil && !announcedNews(cur, a) {
		return
	}
	if !c.pulls.want(a.From, a.Key, a.Version) {
		c.stats.dropped.Add(1)
	}
}

// unknownSender counts and (rate-limited) logs input naming a node that is
// not a live member.
func (c *Cluster) unknownSender(what, name string) {
	c.stats.unknownSenders.Add(1)
	if ok, suppressed := c.limiter.allow("unknown-sender"); ok {
		c.log.Warn("ignored input naming a node that is not a live member; nothing is pulled from it",
			"what", what, "from", clip(name), "suppressed", suppressed)
	}
}

// announcedNews reports whether an announced record may change cur: a newer
// version, or the same version with another content (a merge made it). An
// older version is not pulled even with a Merger: its holder merges this
// agent's newer record when it gets it and announces the result, at the
// newer version with a content of its own.
func announcedNews(cur *Record, a announce) bool {
	if c := cur.Version.Compare(a.Version); c != 0 {
		return c < 0
	}
	return cur.Deleted || cur.Sum() != a.Sum
}
