package gossip

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate is how memberlist calls the cluster. memberlist calls it from
// its own goroutines (the packet loop, under its node lock for events), so
// every method copies what it keeps and hands work to the cluster's own
// goroutines instead of doing it.
type delegate struct{ c *Cluster }

var (
	_ memberlist.Delegate         = (*delegate)(nil)
	_ memberlist.EventDelegate    = (*delegate)(nil)
	_ memberlist.MergeDelegate    = (*delegate)(nil)
	_ memberlist.ConflictDelegate = (*delegate)(nil)
)

func (d *delegate) NodeMeta(limit int) []byte {
	m := *d.c.meta.Load()
	if len(m) > limit {
		return nil // checked by NewCluster; never sent truncated
	}
	return m
}

// NotifyMsg decodes (copying) a user message and queues it for the applier.
func (d *delegate) NotifyMsg(buf []byte) {
	c := d.c
	m, err := decodeMessage(buf)
	if err != nil {
		c.malformed("gossip message", err)
		return
	}
	c.stats.received.Add(1)
	if !c.inbound.put(item{rec: m.rec, ann: m.ann}) {
		c.stats.dropped.Add(1)
	}
}

// GetBroadcasts hands memberlist the queued records that fit in what
// membership messages left of the packet.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte {
	msgs := d.c.queue.GetBroadcasts(overhead, limit)
	d.c.stats.broadcastsSent.Add(int64(len(msgs)))
	return msgs
}

// LocalState is this agent's anti-entropy summary (see summary.go).
func (d *delegate) LocalState(join bool) []byte { return d.c.localState() }

// MergeRemoteState queues the peer's summary for the anti-entropy worker.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {
	c := d.c
	if len(buf) == 0 {
		return // a peer without a store (or an older one) sends nothing
	}
	ps, err := decodeState(buf)
	if err != nil {
		c.malformed("push/pull state", err)
		return
	}
	if ps.Node == c.cfg.NodeName {
		return
	}
	if err := c.checkState(ps); err != nil {
		c.refuse("push/pull state", ps.Node, "push/pull", "", err)
		return
	}
	// memberlist merged the sender's membership before calling us, so the
	// sender is known; it may not be alive yet in this agent's view (a
	// member coming back after it was declared dead is until it refutes
	// that): the anti-entropy worker waits for it a little (syncWith).
	if _, known := c.members.get(ps.Node); !known {
		c.unknownSender("push/pull state", ps.Node)
		return
	}
	ps.received = time.Now()
	c.states.put(ps)
}

// checkState refuses a state from a writer that is not a node name, or
// whose horizon (the newest tombstone it collected, which it could collect
// only after the retention) is newer than now - retention + the maximum
// clock offset: a horizon beyond would make this agent forget records
// written since.
func (c *Cluster) checkState(ps *peerState) error {
	if err := checkNodeName(ps.Node); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidRecord, err)
	}
	clock := c.store.Clock()
	if bound := clock.boundAt(clock.MaxOffset() - c.cfg.Retention); ps.Horizon > bound {
		return fmt.Errorf("%w: a collection horizon at %s, accepted up to %s (now - retention %s + max offset %s)",
			ErrFutureVersion, stampString(ps.Horizon), stampString(bound), c.cfg.Retention, clock.MaxOffset())
	}
	return nil
}

func (d *delegate) NotifyJoin(n *memberlist.Node)   { d.event(n, StateAlive) }
func (d *delegate) NotifyUpdate(n *memberlist.Node) { d.event(n, StateAlive) }
func (d *delegate) NotifyLeave(n *memberlist.Node)  { d.event(n, StateDead) }

func (d *delegate) event(n *memberlist.Node, state MemberState) {
	meta, leaving, err := decodeMeta(n.Meta)
	if err != nil {
		d.c.malformed("metadata of "+n.Name, err)
	}
	d.c.members.update(n, state, meta, leaving)
}

// malformed counts and (rate-limited) logs input that could not be decoded.
func (c *Cluster) malformed(what string, err error) {
	c.stats.malformed.Add(1)
	if ok, suppressed := c.limiter.allow("malformed"); ok {
		c.log.Warn("dropped malformed input", "what", what, "err", err, "suppressed", suppressed)
	}
}
