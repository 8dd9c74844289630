package gossip

import (
	"net"
	"sync/atomic"
)

// Stats are counters of replication since the cluster started.
type Stats struct {
	// BroadcastsQueued counts records and announces put in the gossip queue
	// (local writes and relays); BroadcastsSent counts their transmissions.
	BroadcastsQueued int64
	BroadcastsSent   int64
	// Queued is the number of messages in the gossip queue now.
	Queued int64
	// Pushes counts messages sent at once to random members (fanout).
	Pushes int64
	// MessagesReceived counts well-formed user messages received.
	MessagesReceived int64
	// Malformed counts messages, states and request bodies dropped because
	// they could not be decoded.
	Malformed int64
	// Dropped counts received messages dropped because the inbound queue
	// was full; anti-entropy repairs what they carried.
	Dropped int64
	// Refused counts what was decoded but refused: records that failed
	// validation or carry a version beyond the clock bound, digest entries
	// of such versions, push/pull states with a horizon beyond its bound,
	// and pull or digest answers over their size bound or not answering
	// what was asked.
	Refused int64
	// UnknownSenders counts announces and push/pull states naming a node
	// that is not a live member: nothing is pulled from them.
	UnknownSenders int64
	// RecordsApplied counts records from elsewhere that won and were applied.
	RecordsApplied int64
	// Pulls counts HTTP pulls and digests made; PullErrors those that failed;
	// RecordsPulled the records they returned.
	Pulls         int64
	PullErrors    int64
	RecordsPulled int64
	// SyncRounds counts anti-entropy exchanges completed with a peer.
	SyncRounds int64
	// Forgotten counts records dropped because a peer had deleted them and
	// collected their tombstones (see antientropy.go).
	Forgotten int64
	// Joins counts successful join attempts; JoinFailures failed ones.
	Joins        int64
	JoinFailures int64
	// Bytes on the wire, counted so that summing them over every agent
	// gives the cluster's traffic with each byte once: PacketBytesSent is
	// the UDP this agent sent (memberlist's probes and gossip, direct
	// pushes); StreamBytesIn and StreamBytesOut are what was read and
	// written on the TCP connections its gossip port accepted (memberlist's
	// push/pull, and the TLS agent-to-agent endpoints: record pulls,
	// digests, joins), encryption and TLS included.
	PacketBytesSent int64
	StreamBytesIn   int64
	StreamBytesOut  int64
}

// counters is the live, atomic form of Stats.
type counters struct {
	broadcastsQueued, broadcastsSent, pushes, received, malformed, dropped atomic.Int64
	refused, unknownSenders                                                atomic.Int64
	applied, pulls, pullErrors, pulled, syncRounds, forgotten              atomic.Int64
	joins, joinFailures                                                    atomic.Int64
	packetBytesSent, streamBytesIn, streamBytesOut                         atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		BroadcastsQueued: c.broadcastsQueued.Load(), BroadcastsSent: c.broadcastsSent.Load(), Pushes: c.pushes.Load(),
		MessagesReceived: c.received.Load(), Malformed: c.malformed.Load(), Dropped: c.dropped.Load(),
		Refused: c.refused.Load(), UnknownSenders: c.unknownSenders.Load(),
		RecordsApplied: c.applied.Load(), Pulls: c.pulls.Load(), PullErrors: c.pullErrors.Load(),
		RecordsPulled: c.pulled.Load(), SyncRounds: c.syncRounds.Load(), Forgotten: c.forgotten.Load(),
		Joins: c.joins.Load(), JoinFailures: c.joinFailures.Load(),
		PacketBytesSent: c.packetBytesSent.Load(), StreamBytesIn: c.streamBytesIn.Load(), StreamBytesOut: c.streamBytesOut.Load(),
	}
}

// countedConn counts the bytes of an accepted connection.
type countedConn struct {
	net.Conn
	c *counters
}

func (cc *countedConn) Read(b []byte) (int, error) {
	n, err := cc.Conn.Read(b)
	cc.c.streamBytesIn.Add(int64(n))
	return n, err
}

func (cc *countedConn) Write(b []byte) (int, error) {
	n, err := cc.Conn.Write(b)
	cc.c.streamBytesOut.Add(int64(n))
	return n, err
}

// StateDigest returns how many records the store holds (tombstones
// included) and one hash of all their keys and versions: two agents with
// the same digest hold the same state. It reads every record; it is for
// checks and tests, not for a hot path.
func (c *Cluster) StateDigest() (records int, hash uint64) {
	sums, n := summarize(c.store, 1)
	return n, sums[0]
}
