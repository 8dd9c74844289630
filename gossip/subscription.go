package gossip

import (
	"context"
	"errors"
	"sort"
	"strings"
)

// Subscriptions read the store's history (the ring of recent changes):
// a subscription is a position in it and a count of the matching changes
// after that position, not a queue of its own. Whatever the number of
// watchers, the changes are kept once, in the history, which is bounded in
// count and bytes; a watcher costs a few words. One that falls behind (more
// matching changes waiting than its limits, or a waiting change pushed out
// of the history) is closed with ErrSubscriptionOverflow.

// ErrSubscriptionOverflow ends a subscription whose watcher fell behind:
// more changes (or bytes of records) waited for it than a subscription
// holds, or the history no longer held them. The watcher lists again and
// subscribes anew, as Kubernetes clients do after a 410.
var ErrSubscriptionOverflow = errors.New("gossip: the watcher fell behind and its subscription was closed")

// subLimits bound what may wait for one subscription.
type subLimits struct {
	changes int // matching changes
	bytes   int // values of the records they hold (old and new)
}

// defaultSubLimits: as many changes as the watch history keeps (a watcher
// further behind could not resume from where it is anyway), and 64 MiB of
// values.
var defaultSubLimits = subLimits{changes: ringSize, bytes: 64 << 20}

// Subscription follows the changes of keys with some prefixes. Its state
// is guarded by the store's lock: written under the write lock when a
// change is published, and by its one reader (Next) under the read lock.
type Subscription struct {
	prefixes []string
	store    *Store
	limits   subLimits
	// cursor is the stamp after which the changes not read yet are; while
	// some wait, the first of them is the first match after it.
	cursor       uint64
	waiting      int // matching changes after cursor
	waitingBytes int
	err          error // why it ended (ErrClosed, ErrSubscriptionOverflow), nil while open
	notify       chan struct{}
	// start is the stamp the subscription began at: its snapshot, if it
	// took one, is the state as of this stamp.
	start uint64
}

// Start is the stamp the subscription began at: a snapshot taken with it
// is the state as of this stamp, and changes after it follow.
func (sub *Subscription) Start() uint64 { return sub.start }

// Position is a stamp up to which every matching change has been read
// with Next: a watcher that stopped here and resumed from it would miss
// nothing. Call it from the subscription's reader, between calls to Next.
func (sub *Subscription) Position() uint64 {
	s := sub.store
	s.mu.RLock()
	defer s.mu.RUnlock()
	if sub.waiting > 0 {
		return sub.cursor
	}
	return max(sub.cursor, s.clock.Last())
}

func (sub *Subscription) matches(key string) bool {
	for _, p := range sub.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

func changeBytes(ch Change) int {
	n := len(ch.New.Value)
	if ch.Old != nil {
		n += len(ch.Old.Value)
	}
	return n
}

func (sub *Subscription) wake() {
	select {
	case sub.notify <- struct{}{}:
	default:
	}
}

// Subscribe starts a subscription to changes of keys with any of the
// prefixes. With since > 0, changes applied after that stamp are replayed
// first (ErrStampTooOld if they are no longer kept). With snapshot, the live
// records at the moment of subscribing are returned too, so that the caller
// sees every state exactly once.
func (s *Store) Subscribe(prefixes []string, since uint64, snapshot bool) (*Subscription, []*Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrClosed
	}
	sub := &Subscription{prefixes: prefixes, notify: make(chan struct{}, 1), store: s, limits: s.subLimits,
		cursor: s.clock.Last()}
	sub.start = sub.cursor
	if since > 0 {
		if since < s.ringFloor {
			return nil, nil, ErrStampTooOld
		}
		sub.cursor = since
		for _, ch := range s.ring[s.after(since):] {
			if !sub.matches(ch.New.Key) {
				continue
			}
			if sub.waiting == 0 {
				sub.cursor = ch.Stamp - 1
			}
			sub.waiting++
			sub.waitingBytes += changeBytes(ch)
		}
		if sub.over() {
			return nil, nil, ErrStampTooOld // more to replay than a subscription holds
		}
	}
	var snap []*Record
	if snapshot {
		for k, r := range s.records {
			if !r.Deleted && sub.matches(k) {
				snap = append(snap, r)
			}
		}
	}
	s.subs[sub] = struct{}{}
	return sub, snap, nil
}

func (sub *Subscription) over() bool {
	return sub.waiting > sub.limits.changes || sub.waitingBytes > sub.limits.bytes
}

// after returns the index in the ring of the first change stamped after
// stamp; s.mu is held.
func (s *Store) after(stamp uint64) int {
	return sort.Search(len(s.ring), func(i int) bool { return s.ring[i].Stamp > stamp })
}

// publish counts ch for the subscriptions it matches and wakes them; one
// with more waiting than its limits is closed. s.mu is held for writing.
func (s *Store) publish(ch Change) {
	for sub := range s.subs {
		if !sub.matches(ch.New.Key) {
			continue
		}
		if sub.waiting == 0 {
			sub.cursor = ch.Stamp - 1 // everything before was read or did not match
		}
		sub.waiting++
		sub.waitingBytes += changeBytes(ch)
		if sub.over() {
			s.overflow(sub)
			continue
		}
		sub.wake()
	}
}

// cutBehind closes the subscriptions with a waiting change at or before
// floor, which the history is about to drop. s.mu is held for writing.
func (s *Store) cutBehind(floor uint64) {
	for sub := range s.subs {
		if sub.waiting > 0 && sub.cursor < floor {
			s.overflow(sub)
		}
	}
}

// overflow ends sub with ErrSubscriptionOverflow; s.mu is held for writing.
func (s *Store) overflow(sub *Subscription) {
	delete(s.subs, sub)
	sub.err = ErrSubscriptionOverflow
	sub.waiting, sub.waitingBytes = 0, 0
	sub.wake()
	s.overflows++
	s.log.Warn("closed a watch that fell behind; it lists again",
		"prefixes", sub.prefixes, "max_changes", sub.limits.changes, "max_bytes", sub.limits.bytes)
}

// maxBatch bounds the changes one Next returns.
const maxBatch = 256

// Next returns the changes waiting (at most maxBatch), in order, waiting until there is at
// least one, ctx is done (its error), the store closes (ErrClosed), or the
// watcher fell behind (ErrSubscriptionOverflow: list again). One goroutine
// at a time may call it.
func (sub *Subscription) Next(ctx context.Context) ([]Change, error) {
	s := sub.store
	for {
		s.mu.RLock()
		if sub.err != nil {
			s.mu.RUnlock()
			return nil, sub.err
		}
		if sub.waiting > 0 {
			out := make([]Change, 0, min(sub.waiting, maxBatch))
			rest := s.ring[s.after(sub.cursor):]
			for i, ch := range rest {
				if !sub.matches(ch.New.Key) {
					continue
				}
				if len(out) == maxBatch {
					// The rest waits in the history, not here: a watcher
					// stalled on this batch holds no more than it.
					sub.cursor = rest[i-1].Stamp
					break
				}
				out = append(out, ch)
				sub.waiting--
				sub.waitingBytes -= changeBytes(ch)
			}
			if sub.waiting == 0 {
				sub.cursor, sub.waitingBytes = s.ring[len(s.ring)-1].Stamp, 0
			}
			s.mu.RUnlock()
			return out, nil
		}
		s.mu.RUnlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-sub.notify:
		}
	}
}

// Cancel ends the subscription.
func (sub *Subscription) Cancel() {
	s := sub.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subs != nil {
		delete(s.subs, sub)
	}
	if sub.err == nil {
		sub.err = ErrClosed
	}
	sub.wake()
}

// WatchStats are counters of the store's subscriptions.
type WatchStats struct {
	Subscriptions int    // open now
	Overflows     uint64 // closed because their watcher fell behind
}

// WatchStats returns the counters of the store's subscriptions.
func (s *Store) WatchStats() WatchStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return WatchStats{Subscriptions: len(s.subs), Overflows: s.overflows}
}
