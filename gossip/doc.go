// Package gossip holds the replicated object store: versioned records merged by
// last writer wins, tombstones, local persistence in bbolt, ordered watches, and
// (with memberlist) the membership and replication between agents.
//
// A write, local or received, is fsync'd before anyone sees it or it is sent
// (commit.go); a store file that is damaged is refused with a DamagedError,
// never a crash, and a store opened WithRebuild in its place is rebuilt from
// a peer (damage.go). docs/consistency.md states the contract.
package gossip
