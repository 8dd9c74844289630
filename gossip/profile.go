package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// Profile selects the timings of membership and replication.
type Profile int

const (
	// ProfileLAN is for real hosts on one network.
	ProfileLAN Profile = iota
	// ProfileLocal is for members on one machine (tests): everything is
	// tens of times faster, and the CPU cost goes up accordingly.
	ProfileLocal
)

func (p Profile) String() string {
	if p == ProfileLocal {
		return "local"
	}
	return "lan"
}

// timings are the intervals of one profile.
type timings struct {
	// joinRetry is the wait between join attempts while no peer answered.
	joinRetry time.Duration
	// rejoin is how often remembered peers that are not alive members are
	// tried again, so that the halves of a long partition find each other
	// after memberlist has given up on them.
	rejoin time.Duration
	// contact is how often the last-contact time and peers file are saved.
	contact time.Duration
	// logEvery rate-limits repeated failures in the logs.
	logEvery time.Duration
	// pullTimeout bounds one HTTP pull or digest.
	pullTimeout time.Duration
	// fanout is how many random members get a new record at once, besides
	// the gossip queue (see broadcast.go).
	fanout int
}

// peerExpiry is how long a remembered peer not seen alive is kept (and
// tried again). Three days: longer than any partition worth healing.
const peerExpiry = 72 * time.Hour

func (p Profile) timings() timings {
	if p == ProfileLocal {
		return timings{joinRetry: 50 * time.Millisecond, rejoin: 200 * time.Millisecond, contact: 50 * time.Millisecond,
			logEvery: time.Second, pullTimeout: 2 * time.Second, fanout: 3}
	}
	return timings{joinRetry: 2 * time.Second, rejoin: 30 * time.Second, contact: 30 * time.Second,
		logEvery: 30 * time.Second, pullTimeout: 10 * time.Second, fanout: 3}
}

// memberlistConfig returns memberlist's configuration for the profile.
//
// LAN starts from memberlist's DefaultLANConfig and changes:
//
//   - GossipInterval 200 ms -> 100 ms: a gossip round reaches 3 random
//     members; halving the interval halves the time a queued broadcast
//     waits, at ~30 small packets a second per member.
//
//   - PushPullInterval 30 s -> 15 s: a member that missed broadcasts
//     converges within about 15 s; each exchange carries the record summary
//     (8 KiB at most, see summary.go). memberlist stretches the interval for
//     clusters above 32 members.
//
//   - DeadNodeReclaimTime 0 -> 30 s: an agent restarted at a new address may
//     take back its name 30 s after its old address was declared dead.
//
//   - ProbeInterval 1 s -> 500 ms and ProbeTimeout 500 ms -> 300 ms: a dead
//     host is declared dead in about 3 s instead of 5 s, which is most of a
//     failover before the eviction timeout. Indirect probes through 3 other
//     members guard against one slow path.
//
//   - SuspicionMult 4 -> 3: Lifeguard's suspicion waits for k =
//     SuspicionMult - 2 other members to suspect the node too, and turns
//     itself off (k = 0, a flat minimum) when fewer than k members besides
//     the suspect and the suspector exist. With 4, a cluster of 3 had k = 0:
//     one member behind a lossy link declared a healthy peer dead after a
//     flat 2 s. With 3, k = 1 from 3 members up: a suspicion lasts up to
//     SuspicionMaxTimeoutMult (6) x 1.5 s = 9 s unless one other member
//     confirms it, and 1.5 s (3 x log10 N probe intervals, at least 1) once
//     one does, as every survivor of a dead host does within a probe round.
//     Two members alone cannot confirm anything: 1.5 s flat.
func (p Profile) memberlistConfig() *memberlist.Config {
	if p == ProfileLocal {
		c := memberlist.DefaultLocalConfig()
		c.GossipInterval = 20 * time.Millisecond
		c.ProbeInterval = 100 * time.Millisecond
		c.ProbeTimeout = 50 * time.Millisecond
		c.SuspicionMult = 2
		c.PushPullInterval = 250 * time.Millisecond
		c.TCPTimeout = time.Second
		c.GossipToTheDeadTime = time.Second
		c.DeadNodeReclaimTime = 100 * time.Millisecond
		c.RetransmitMult = 3
		return c
	}
	c := memberlist.DefaultLANConfig()
	c.GossipInterval = 100 * time.Millisecond
	c.PushPullInterval = 15 * time.Second
	c.DeadNodeReclaimTime = 30 * time.Second
	c.ProbeInterval = 500 * time.Millisecond
	c.ProbeTimeout = 300 * time.Millisecond
	c.SuspicionMult = 3
	return c
}
