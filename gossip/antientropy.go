package gossip

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Anti-entropy rides on memberlist's push/pull: every PushPullInterval (and
// on every join) two members exchange LocalState, a summary of their
// records (summary.go). Each side then, in the background:
//
//  1. compares the peer's bucket hashes with its own and stops if equal;
//  2. asks the peer (the live member the state names, by name) for the
//     digest of the differing buckets;
//  3. pulls, in batches, the records the peer has newer or it lacks, and
//     applies them. It never sends: the peer pulls what it needs itself in
//     its own half of the exchange.
//
// What the peer sends is checked like everything received: a state whose
// horizon is newer than now - retention + the maximum clock offset is
// refused (delegate.go), digest entries beyond the clock bound are
// skipped, and every record pulled or forgotten passes admit.
//
// Long absence. Deleted keys leave tombstones, collected after the
// retention; each store remembers the newest version it collected (its
// horizon, Store.Horizon). Below a store's horizon, "absent" may mean
// "deleted and forgotten", so:
//   - a store never accepts a record of a key it lacks whose version is at
//     or below its own horizon (Store.Apply refuses it): the others cannot
//     be re-infected by an agent that was away longer than the retention;
//   - an agent forgets (by a tombstone of the same version, which wins the
//     merge) every record the peer lacks whose version is at or below the
//     peer's horizon: it was deleted there while this agent was away.
// Unlike wiping the store of an agent that was away too long, this keeps
// what is still valid (so a whole cluster restarted after a long weekend
// loses nothing), keeps writes made apart that are newer than the peer's
// horizon, and needs no agreement on who was away.

// relayLimit: records applied by one exchange are relayed by gossip when
// they are few (a healed partition spreads in seconds, not in push/pull
// rounds), not when many (a new agent catching up would flood everyone
// with what they have).
const relayLimit = 256

// stateQueue holds the latest summary received from each peer.
type stateQueue struct {
	mu      sync.Mutex
	pending map[string]*peerState
	order   []string
	wake    chan struct{}
}

func newStateQueue() *stateQueue {
	return &stateQueue{pending: map[string]*peerState{}, wake: make(chan struct{}, 1)}
}

func (q *stateQueue) put(ps *peerState) {
	q.mu.Lock()
	if _, ok := q.pending[ps.Node]; !ok {
		q.order = append(q.order, ps.Node)
	}
	q.pending[ps.Node] = ps
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// putIfAbsent queues a summary again unless the peer sent a newer one.
func (q *stateQueue) putIfAbsent(ps *peerState) {
	q.mu.Lock()
	_, newer := q.pending[ps.Node]
	q.mu.Unlock()
	if !newer {
		q.put(ps)
	}
}

func (q *stateQueue) take() *peerState {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.order) == 0 {
		return nil
	}
	node := q.order[0]
	q.order = q.order[1:]
	ps := q.pending[node]
	delete(q.pending, node)
	return ps
}

func (c *Cluster) runAntiEntropy(ctx context.Context) {
	for {
		ps := c.states.take()
		if ps == nil {
			select {
			case <-ctx.Done():
				return
			case <-c.states.wake:
				continue
			}
		}
		err := c.syncWith(ctx, ps)
		if err == nil {
			err = c.endRebuild(ps)
		}
		switch {
		case errors.Is(err, errNotMember):
			continue
		case errors.Is(err, ErrStorageFull):
			// The disk is full: what was not stored is pulled again at the
			// next push/pull exchange, once there is space.
			continue
		case err != nil:
			// The peer's API may not answer yet (it is starting): try again
			// soon rather than at the next push/pull round, unless a newer
			// summary from that peer came meanwhile.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			c.states.putIfAbsent(ps)
			continue
		}
		c.stats.syncRounds.Add(1)
		c.markSynced()
	}
}

// endRebuild ends the rebuild of a store that replaced a damaged one, once
// it has completed a sync with a peer: it adopts the peer's horizon (see
// Store.Rebuilding).
func (c *Cluster) endRebuild(ps *peerState) error {
	if !c.store.Rebuilding() {
		return nil
	}
	if err := c.store.rebuilt(ps.Horizon); err != nil {
		return err
	}
	c.log.Info("rebuilt this agent's store from a peer", "peer", ps.Node, "records", c.store.Len())
	return nil
}

// errNotMember ends an exchange with a node that is not a live member
// (and did not become one within aliveWait): it is not retried.
var errNotMember = errors.New("gossip: not a live member")

// errNotAliveYet: the exchange is retried, since the member may be about
// to refute the death this agent saw (a restart, a healed partition).
var errNotAliveYet = errors.New("gossip: the member is not alive in this agent's view yet")

// aliveWait is how long a state from a known member that is not alive
// waits for it to be: refuting a death takes a gossip round or two.
const aliveWait = 5 * time.Second

// syncWith brings this store up to date with the peer's summary, pulling
// from the live member that sent it, by name.
func (c *Cluster) syncWith(ctx context.Context, ps *peerState) error {
	peer, ok := c.members.livePeer(ps.Node)
	if !ok {
		if time.Since(ps.received) < aliveWait {
			return errNotAliveYet
		}
		c.unknownSender("push/pull state", ps.Node)
		return errNotMember
	}
	buckets := len(ps.Buckets)
	mine := fold(c.fullSummary(), buckets)
	var diff []int
	for i, h := range mine {
		if h != ps.Buckets[i] {
			diff = append(diff, i)
		}
	}
	if len(diff) == 0 {
		return nil
	}
	var theirs []DigestEntry
	for group := range slices.Chunk(diff, digestGroup(ps.Records, buckets)) {
		es, err := c.pullDigest(ctx, peer, buckets, group)
		if err != nil {
			return err
		}
		theirs = append(theirs, c.checkEntries(es, buckets, group, peer.Name)...)
	}
	pull, forget := plan(recordsIn(c.store, buckets, diff), theirs, c.store.Horizon(), ps.Horizon, c.store.Merging())
	var applied []*Record
	if forget = c.admit(forget, peer.Name); len(forget) > 0 {
		got, err := c.store.Apply(ctx, forget)
		c.stats.forgotten.Add(int64(len(got)))
		if err != nil {
			return err
		}
		if len(got) > 0 {
			c.log.Info("forgot records the peer deleted while this agent was away", "peer", ps.Node, "records", len(got))
		}
		applied = append(applied, got...)
	}
	recs, err := c.pullAll(ctx, peer, pull)
	if len(recs) > 0 {
		got, aerr := c.store.Apply(ctx, recs)
		c.stats.applied.Add(int64(len(got)))
		applied = append(applied, got...)
		if err == nil {
			err = aerr
		}
	}
	if err != nil {
		return err
	}
	if len(applied) <= relayLimit && c.running.Load() {
		for _, r := range applied {
			c.spread(r, false)
		}
	}
	return nil
}

// digestGroup returns how many buckets to ask a digest of at once, so
// that the answer stays well within maxDigestEntries going by the record
// count the peer claims (which is only a hint: a forged one costs more
// requests, never a larger answer).
func digestGroup(records uint64, buckets int) int {
	perBucket := records/uint64(buckets) + 1
	return int(max(1, min(uint64(buckets), maxDigestEntries/2/perBucket)))
}

// checkEntries keeps the digest entries of the buckets asked for whose key
// and version are well-formed and within the clock bound: an entry beyond
// it would be refused when pulled. Refused entries are counted.
func (c *Cluster) checkEntries(es []DigestEntry, buckets int, which []int, peer string) []DigestEntry {
	want := make(map[int]bool, len(which))
	for _, i := range which {
		want[i] = true
	}
	bound := c.store.Clock().Bound()
	out := es[:0]
	for _, e := range es {
		err := checkKey(e.Key)
		if err == nil {
			err = checkVersion(e.Version, bound)
		}
		if err != nil {
			c.refuse("digest entry", e.Version.Node, peer, e.Key, err)
			continue
		}
		if want[bucketOf(keyHash(e.Key), buckets)] {
			out = append(out, e)
		}
	}
	return out
}

// plan compares this store's records in some buckets (mine) with the
// peer's digest of the same buckets: it returns the keys to pull, and the
// tombstones that forget what the peer deleted and collected. Under
// last-writer-wins only newer records are pulled; with a Merger (merging)
// every record whose version or content differs is, since an older one
// may carry a field edited concurrently or a delete that wins: both sides
// pull, both merge, and both hold the same bytes.
func plan(mine map[string]*Record, theirs []DigestEntry, myHorizon, peerHorizon uint64, merging bool) (pull []string, forget []*Record) {
	seen := make(map[string]bool, len(theirs))
	for _, e := range theirs {
		seen[e.Key] = true
		cur := mine[e.Key]
		switch {
		case cur == nil:
			if e.Version.Time > myHorizon { // else Store.Apply would refuse it
				pull = append(pull, e.Key)
			}
		case e.Version.Compare(cur.Version) > 0, e.Version == cur.Version && e.Deleted && !cur.Deleted:
			pull = append(pull, e.Key)
		case merging && (e.Version != cur.Version || e.Deleted != cur.Deleted || e.Sum != cur.Sum()):
			pull = append(pull, e.Key)
		}
	}
	for k, r := range mine {
		if !seen[k] && !r.Deleted && r.Version.Time <= peerHorizon {
			forget = append(forget, &Record{Key: k, Version: r.Version, Deleted: true})
		}
	}
	slices.SortFunc(forget, func(a, b *Record) int { return cmpString(a.Key, b.Key) })
	return pull, forget
}

// recordsIn returns the store's records in the given buckets.
func recordsIn(st *Store, buckets int, which []int) map[string]*Record {
	want := make([]bool, buckets)
	for _, i := range which {
		want[i] = true
	}
	out := map[string]*Record{}
	st.All(func(r *Record) {
		if want[bucketOf(keyHash(r.Key), buckets)] {
			out[r.Key] = r
		}
	})
	return out
}

func (c *Cluster) pullDigest(ctx context.Context, p Peer, buckets int, which []int) ([]DigestEntry, error) {
	tctx, cancel := context.WithTimeout(ctx, c.tm.pullTimeout)
	defer cancel()
	c.stats.pulls.Add(1)
	es, err := c.fetch.PullDigest(tctx, p, buckets, which)
	if err == nil && len(es) > maxDigestEntries {
		err = fmt.Errorf("%w: %d digest entries, at most %d", ErrAnswerTooLarge, len(es), maxDigestEntries)
	}
	if err != nil {
		if errors.Is(err, ErrAnswerTooLarge) {
			c.refuse("digest answer", p.Name, p.Name, "", err)
		}
		c.pullFailed(ctx, p.Name, err)
		return nil, err
	}
	return es, nil
}

// fullSummary is the summary at maxBuckets with the record count; a
// summary with fewer buckets is a fold of it (buckets are low hash bits).
type fullSummary struct {
	sums    []uint64
	records int
}

func (c *Cluster) fullSummary() fullSummary {
	sums, n := summarize(c.store, maxBuckets)
	return fullSummary{sums: sums, records: n}
}

func fold(s fullSummary, buckets int) []uint64 {
	out := make([]uint64, buckets)
	for i, h := range s.sums {
		out[i&(buckets-1)] ^= h
	}
	return out
}

// stateCache keeps the encoded LocalState until the store changes.
type stateCache struct {
	mu             sync.Mutex
	stamp, horizon uint64
	buf            []byte
}

// localState returns this agent's push/pull state.
func (c *Cluster) localState() []byte {
	stamp, horizon := c.store.Stamp(), c.store.Horizon()
	c.state.mu.Lock()
	defer c.state.mu.Unlock()
	if c.state.buf != nil && c.state.stamp == stamp && c.state.horizon == horizon {
		return c.state.buf
	}
	full := c.fullSummary()
	ps := &peerState{Node: c.cfg.NodeName, Horizon: horizon, Records: uint64(full.records)}
	ps.Buckets = fold(full, bucketCount(full.records))
	c.state.stamp, c.state.horizon, c.state.buf = stamp, horizon, ps.encode()
	return c.state.buf
}
