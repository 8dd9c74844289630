package gossip

import (
	"context"
	"math/rand/v2"

	"github.com/hashicorp/memberlist"
)

// Every record this agent writes, and every record it learns and applies
// (it relays it: memberlist does not forward user messages), is spread two
// ways:
//
//   - queued in memberlist's TransmitLimitedQueue, which piggybacks it on
//     gossip packets to random members, RetransmitMult x log10(N+1) times;
//     a newer write of a key replaces the queued older one (the key is the
//     broadcast's name);
//   - pushed at once, in its own packet: by the member that wrote it to
//     every other member, up to maxDirect of them; by a member that learned
//     it to Fanout random members, once, when it first applies it. memberlist
//     fills each gossip packet with membership messages first and gives user
//     messages what remains (hashicorp/memberlist#299), so during membership
//     churn the queue alone can starve; the push does not wait for a gossip
//     round either. Relays alone ("infect and die" with fanout 3) leave about
//     6% of the members without each write (the share s with s = e^-3(1-s)):
//     in a burst of 200 writes on 10 members, those waited for the slow
//     gossip queue or the next anti-entropy round, 11 to 16 s at p99
//     (BenchmarkWriteBurst in gossiptest). A write costs about
//     min(N-1, maxDirect) + N x Fanout small packets.
//
// A record whose message exceeds maxInline is announced instead (key,
// version, the name of the member that has it), and receivers pull it from
// that member.

// maxQueued bounds the gossip queue to the newest writes; anti-entropy
// repairs what is pruned. The queue is a second path beside the pushes,
// and a slow one: each agent's gossip packets carry a few messages, each
// sent RetransmitMult x log10(N+1) times, so a few messages retire per
// round. A queue of thousands, filled by a rollout that every agent
// relays, kept every agent sending full packets for minutes after the
// cluster went quiet; 256 drain in well under a minute.
const maxQueued = 256

// maxDirect bounds the members a write's own agent pushes it to: all of
// them in clusters of up to 33 agents; beyond, the relays reach the rest.
const maxDirect = 32

// push is a message for the pusher; own marks this agent's own write.
type push struct {
	msg []byte
	own bool
}

// namedBroadcast is one queued message, named by its record's key.
type namedBroadcast struct {
	name string
	msg  []byte
}

var _ memberlist.NamedBroadcast = (*namedBroadcast)(nil)

func (b *namedBroadcast) Name() string    { return b.name }
func (b *namedBroadcast) Message() []byte { return b.msg }
func (b *namedBroadcast) Finished()       {}

func (b *namedBroadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}

// onLocalWrite is the store's hook: it runs in the writer's goroutine, so
// it only encodes and queues.
func (c *Cluster) onLocalWrite(recs []*Record) {
	if !c.running.Load() {
		return
	}
	for _, r := range recs {
		// Hooks of concurrent writes may run out of order; never let an
		// older version replace a newer one in the queue.
		if cur := c.store.Get(r.Key); cur != nil && cur.Newer(r) {
			continue
		}
		c.spread(r, true)
	}
}

// spread queues r (or its announce) for gossip and for an immediate push;
// own says r is this agent's own write, not a relay.
func (c *Cluster) spread(r *Record, own bool) {
	msg := encodeRecordMsg(r)
	if len(msg) > maxInline {
		msg = encodeAnnounce(announce{Key: r.Key, Version: r.Version, Sum: r.Sum(), From: c.cfg.NodeName})
	}
	c.queue.QueueBroadcast(&namedBroadcast{name: r.Key, msg: msg})
	c.stats.broadcastsQueued.Add(1)
	if c.queue.NumQueued() > maxQueued {
		c.queue.Prune(maxQueued)
	}
	if c.tm.fanout > 0 {
		select {
		case c.pushes <- push{msg: msg, own: own}:
		default: // the queue still carries it
		}
	}
}

// runPusher sends each pushed message to random live members: Fanout of
// them for a relay, up to maxDirect for an own write.
func (c *Cluster) runPusher(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-c.pushes:
			peers := c.members.peers()
			rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
			n := c.tm.fanout
			if m.own {
				n = max(n, maxDirect)
			}
			for _, p := range peers[:min(n, len(peers))] {
				to := &memberlist.Node{Name: p.Name, Addr: p.ip, Port: p.port}
				if err := c.ml.SendBestEffort(to, m.msg); err != nil {
					c.log.Debug("push failed", "to", p.Name, "err", err)
					continue
				}
				c.stats.pushes.Add(1)
			}
		}
	}
}
