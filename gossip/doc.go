// Package gossip holds the replicated object store: versioned records merged by
// last writer wins, tombstones, local persistence in bbolt, ordered watches, and
// (with memberlist) the membership and replication between agents.
package gossip
