package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Change is one applied change of a key, in the order the store applied it.
// Stamp is the local clock reading at apply time: strictly increasing, so a
// watcher can resume after any stamp it saw.
type Change struct {
	Stamp uint64
	Old   *Record // nil when the key was absent
	New   *Record
}

// ErrStampTooOld means a watch asked to resume from a point no longer kept.
var ErrStampTooOld = errors.New("gossip: resume point is older than the kept history")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("gossip: store closed")

// ringSize bounds the history kept for watches that resume.
const ringSize = 8192

// HistorySize is how many changes the store keeps for watches that resume
// from a stamp; one that resumes from further back gets ErrStampTooOld.
const HistorySize = ringSize

// Store is the local replica: every record in memory, persisted to disk, with
// ordered change notification. Records handed out must not be modified.
type Store struct {
	node  string
	clock *Clock
	disk  *disk
	log   *slog.Logger

	mu        sync.RWMutex
	closed    bool
	records   map[string]*Record
	ring      []Change
	ringFloor uint64 // the newest stamp dropped from ring
	subs      map[*Subscription]struct{}
	subLimits subLimits
	onLocal   []func([]*Record)
	// horizon is the newest version time of any tombstone this store has
	// collected: a key it lacks with a version at or below it may be one it
	// deleted and forgot, so Apply refuses it (no resurrection).
	horizon uint64
}

// Option changes how Open opens a store.
type Option func(*storeOptions)

type storeOptions struct {
	maxClockOffset    time.Duration
	dropFutureRecords bool
	now               func() time.Time
	subLimits         subLimits
	sealer            Sealer
}

// WithSealer seals the values of sensitive records on disk (see Sealer).
func WithSealer(s Sealer) Option {
	return func(o *storeOptions) { o.sealer = s }
}

// WithMaxClockOffset bounds how far ahead of this host's clock a version
// from elsewhere may be (default DefaultMaxClockOffset): the clock never
// follows a timestamp beyond it, Apply refuses records beyond it, and Open
// refuses a state whose records are beyond it (see WithDropFutureRecords).
func WithMaxClockOffset(d time.Duration) Option {
	return func(o *storeOptions) { o.maxClockOffset = d }
}

// WithDropFutureRecords makes Open delete, instead of refusing to open, the
// records persisted with a version beyond now + the maximum offset.
func WithDropFutureRecords() Option {
	return func(o *storeOptions) { o.dropFutureRecords = true }
}

// withClock sets the time source (tests).
func withClock(now func() time.Time) Option { return func(o *storeOptions) { o.now = now } }

// WithSubscriptionLimits sets how many changes, and how many bytes of
// record values, may wait for one subscriber before it is closed with
// ErrSubscriptionOverflow (default: 8192 changes, 64 MiB).
func WithSubscriptionLimits(changes, bytes int) Option {
	return func(o *storeOptions) { o.subLimits = subLimits{changes: changes, bytes: bytes} }
}

// FutureRecordsError is returned by Open for a persisted state holding
// records stamped later than now + the maximum clock offset: this host's
// clock is behind (or was stepped back), or the records were forged. The
// store is not opened: running with them would either lose them or let
// them win over every write until the wall clock reaches them.
type FutureRecordsError struct {
	Count     int
	Newest    Version
	Keys      []string      // a few of them, quoted, for the log
	Now       time.Time     // this host's clock when the store was opened
	MaxOffset time.Duration // the maximum clock offset
}

func (e *FutureRecordsError) Error() string {
	return fmt.Sprintf("the stored state holds %d record(s) stamped up to %s (the newest by node %q), later than this host's clock "+
		"(%s) plus the maximum clock offset (%s), such as %s: if this host's clock is behind, set it right (is NTP running?) "+
		"and start again; if the clock is right, those records were written by a clock that ran ahead, or forged: "+
		"start once with --drop-future-records to delete them", e.Count, TimeOf(e.Newest.Time).UTC().Format(time.RFC3339Nano),
		clip(e.Newest.Node), e.Now.UTC().Format(time.RFC3339Nano), e.MaxOffset, strings.Join(e.Keys, ", "))
}

// Open loads the store persisted at path (a bbolt file, created if absent) for
// node. An empty path keeps the store in memory only (tests).
func Open(path, node string, log *slog.Logger, opts ...Option) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := storeOptions{maxClockOffset: DefaultMaxClockOffset, now: time.Now, subLimits: defaultSubLimits}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxClockOffset < 0 {
		return nil, fmt.Errorf("gossip: a negative maximum clock offset (%s)", o.maxClockOffset)
	}
	s := &Store{node: node, clock: newClockWith(o.now, o.maxClockOffset), log: log, records: map[string]*Record{},
		subs: map[*Subscription]struct{}{}, subLimits: o.subLimits}
	if path != "" {
		d, err := openDisk(path, o.sealer)
		if err != nil {
			return nil, err
		}
		s.disk = d
		if err := s.load(o.dropFutureRecords); err != nil {
			d.close()
			return nil, err
		}
	}
	return s, nil
}

// load reads the persisted records and horizon. Records stamped beyond
// the clock's bound are refused (FutureRecordsError), or deleted with drop.
func (s *Store) load(drop bool) error {
	bound := s.clock.Bound()
	var future []*Record
	err := s.disk.load(func(r *Record) {
		if r.Version.Time > bound {
			future = append(future, r)
			return
		}
		s.records[r.Key] = r
		s.clock.Observe(r.Version.Time)
	})
	if err != nil {
		return err
	}
	if s.horizon, err = s.disk.loadHorizon(); err != nil {
		return err
	}
	if len(future) == 0 {
		return nil
	}
	slices.SortFunc(future, func(a, b *Record) int { return b.Version.Compare(a.Version) })
	if !drop {
		fe := &FutureRecordsError{Count: len(future), Newest: future[0].Version, Now: s.clock.now(), MaxOffset: s.clock.MaxOffset()}
		for _, r := range future[:min(len(future), 5)] {
			fe.Keys = append(fe.Keys, strconv.Quote(clip(r.Key)))
		}
		return fe
	}
	keys := make([]string, len(future))
	for i, r := range future {
		keys[i] = r.Key
		s.log.Warn("deleting a record stamped beyond this host's clock plus the maximum offset",
			"key", r.Key, "writer", r.Version.Node, "stamped", TimeOf(r.Version.Time).UTC().Format(time.RFC3339Nano))
	}
	return s.disk.drop(keys, bound)
}

// Close releases the disk and ends every subscription.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for sub := range s.subs {
		sub.end(ErrClosed)
	}
	s.subs = nil
	s.mu.Unlock()
	if s.disk != nil {
		return s.disk.close()
	}
	return nil
}

// Node is the name this store writes versions with.
func (s *Store) Node() string { return s.node }

// Clock is the store's hybrid logical clock.
func (s *Store) Clock() *Clock { return s.clock }

// OnLocalWrite registers a hook called with every batch of local writes after
// they are applied (replication broadcasts them). Hooks must not block.
func (s *Store) OnLocalWrite(fn func([]*Record)) {
	s.mu.Lock()
	s.onLocal = append(s.onLocal, fn)
	s.mu.Unlock()
}

// Get returns the record of key (possibly a tombstone), or nil.
func (s *Store) Get(key string) *Record {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.records[key]
}

// Scan calls fn for every live (not deleted) record whose key has the prefix,
// under a read lock: fn must be quick and must not call the store.
func (s *Store) Scan(prefix string, fn func(*Record)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k, r := range s.records {
		if !r.Deleted && strings.HasPrefix(k, prefix) {
			fn(r)
		}
	}
}

// All calls fn for every record, tombstones too (anti-entropy digests).
func (s *Store) All(fn func(*Record)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.records {
		fn(r)
	}
}

// Stamp returns the stamp of the latest change: a list taken now is complete
// up to it, and a watch from it misses nothing after.
func (s *Store) Stamp() uint64 { return s.clock.Last() }

// Txn is a set of local writes decided atomically against the current state.
type Txn struct {
	s *Store
	// ctx is the context of the write (Context).
	ctx    context.Context
	writes map[string]*Record
	order  []string
}

// Context is the context of the write the transaction is part of.
func (t *Txn) Context() context.Context { return t.ctx }

// Range calls fn with the record of every key with the prefix as the
// transaction sees it (staged writes first, in the order made, then the
// store's other records), tombstones included, until fn returns false. It
// runs under the store's write lock: fn must not call the store.
func (t *Txn) Range(prefix string, fn func(*Record) bool) {
	for _, key := range t.order {
		if strings.HasPrefix(key, prefix) && !fn(t.writes[key]) {
			return
		}
	}
	for key, r := range t.s.records {
		if _, staged := t.writes[key]; !staged && strings.HasPrefix(key, prefix) && !fn(r) {
			return
		}
	}
}

// Staged reports whether the transaction wrote key.
func (t *Txn) Staged(key string) bool {
	_, ok := t.writes[key]
	return ok
}

// Get returns the current record of key as the transaction sees it.
func (t *Txn) Get(key string) *Record {
	if r, ok := t.writes[key]; ok {
		return r
	}
	return t.s.records[key]
}

// Put writes a value.
func (t *Txn) Put(key string, value []byte) { t.set(&Record{Key: key, Value: value}) }

// Delete writes a tombstone, if the key is live.
func (t *Txn) Delete(key string) {
	if r := t.Get(key); r != nil && !r.Deleted {
		t.set(&Record{Key: key, Deleted: true})
	}
}

func (t *Txn) set(r *Record) {
	if _, ok := t.writes[r.Key]; !ok {
		t.order = append(t.order, r.Key)
	}
	t.writes[r.Key] = r
}

// Update runs fn under the store's write lock; the writes it makes get new
// versions, are applied and published together, and are persisted before
// Update returns. If fn returns an error nothing is written.
func (s *Store) Update(ctx context.Context, fn func(*Txn) error) ([]*Record, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	t := &Txn{s: s, ctx: ctx, writes: map[string]*Record{}}
	err := s.clock.checkAhead()
	if err == nil {
		err = fn(t)
	}
	for _, key := range t.order {
		if err != nil {
			break
		}
		err = checkLocal(t.writes[key])
	}
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	if len(t.order) == 0 {
		s.mu.Unlock()
		return nil, nil
	}
	written := make([]*Record, 0, len(t.order))
	for _, key := range t.order {
		r := t.writes[key]
		r.Version = Version{Time: s.clock.Now(), Node: s.node}
		s.applyLocked(r)
		written = append(written, r)
	}
	hooks := s.onLocal
	s.mu.Unlock()
	for _, h := range hooks {
		h(written)
	}
	if err := s.persist(ctx, written); err != nil {
		return nil, err
	}
	return written, nil
}

// checkLocal holds a local write to the structure every agent requires of
// a record it receives (validate.go), so that whatever is written here can
// be replicated.
func checkLocal(r *Record) error {
	if err := checkKey(r.Key); err != nil {
		return fmt.Errorf("write %q: %w", clip(r.Key), err)
	}
	if len(r.Value) > MaxValueSize {
		return fmt.Errorf("write %q: %w: a value of %d bytes, at most %d", r.Key, ErrInvalidRecord, len(r.Value), MaxValueSize)
	}
	return nil
}

// Apply merges records that came from elsewhere; it returns those that won
// and were applied. Records older than what the store holds are ignored, and
// so is a record of a key the store lacks whose version is at or below the
// collection horizon (see Horizon), and a record stamped beyond the clock's
// bound (now + the maximum offset): the caller validates and counts those.
func (s *Store) Apply(ctx context.Context, recs []*Record) ([]*Record, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	var applied []*Record
	bound := s.clock.Bound()
	for _, r := range recs {
		if r.Version.Time > bound {
			continue // the caller counts it (Cluster.admit); never stored
		}
		s.clock.Observe(r.Version.Time)
		cur := s.records[r.Key]
		if cur != nil && !r.Newer(cur) || cur == nil && r.Version.Time <= s.horizon {
			continue
		}
		s.applyLocked(r)
		applied = append(applied, r)
	}
	s.mu.Unlock()
	if len(applied) == 0 {
		return nil, nil
	}
	return applied, s.persist(ctx, applied)
}

// applyLocked installs r and publishes the change; s.mu is held.
func (s *Store) applyLocked(r *Record) {
	ch := Change{Stamp: s.clock.Now(), Old: s.records[r.Key], New: r}
	s.records[r.Key] = r
	if len(s.ring) >= ringSize {
		drop := len(s.ring) / 4
		s.ringFloor = s.ring[drop-1].Stamp
		s.ring = append(s.ring[:0:0], s.ring[drop:]...)
	}
	s.ring = append(s.ring, ch)
	for sub := range s.subs {
		if sub.matches(r.Key) && !sub.push(ch) {
			delete(s.subs, sub) // overflowed: ended, and its queue released
			s.log.Warn("closed a watch that fell behind; it lists again",
				"prefixes", sub.prefixes, "max_changes", sub.limits.changes, "max_bytes", sub.limits.bytes)
		}
	}
}

func (s *Store) persist(ctx context.Context, recs []*Record) error {
	if s.disk == nil {
		return nil
	}
	if err := s.disk.write(ctx, recs); err != nil {
		s.log.Error("persisting records failed", "records", len(recs), "err", err)
		return fmt.Errorf("persist %d records: %w", len(recs), err)
	}
	return nil
}

// CollectTombstones forgets tombstones older than retention, from memory and
// disk, and raises the collection horizon to the newest one it forgot.
// Nodes away for longer must rejoin by pulling, not pushing.
func (s *Store) CollectTombstones(ctx context.Context, retention time.Duration) (int, error) {
	cutoff := uint64(time.Now().Add(-retention).UnixMilli()) << 16
	var keys []string
	s.mu.Lock()
	for k, r := range s.records {
		if r.Deleted && r.Version.Time < cutoff {
			delete(s.records, k)
			keys = append(keys, k)
			s.horizon = max(s.horizon, r.Version.Time)
		}
	}
	horizon := s.horizon
	s.mu.Unlock()
	if s.disk == nil || len(keys) == 0 {
		return len(keys), nil
	}
	return len(keys), s.disk.remove(ctx, keys, cutoff, horizon)
}

// Horizon returns the newest version time among the tombstones this store
// has collected (0 if none). Below it, "absent" may mean "deleted": Apply
// refuses records of absent keys at or below it, and replication uses a
// peer's horizon to forget records the peer deleted and forgot.
func (s *Store) Horizon() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.horizon
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
	sub := &Subscription{prefixes: prefixes, notify: make(chan struct{}, 1), store: s, limits: s.subLimits}
	if since > 0 {
		if since < s.ringFloor {
			return nil, nil, ErrStampTooOld
		}
		for _, ch := range s.ring {
			if ch.Stamp > since && sub.matches(ch.New.Key) && !sub.push(ch) {
				return nil, nil, ErrStampTooOld // more to replay than a queue holds
			}
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

// ErrSubscriptionOverflow ends a subscription whose watcher fell behind:
// more changes (or bytes of records) waited for it than a subscription
// holds. The watcher lists again and subscribes anew, as Kubernetes clients
// do after a 410.
var ErrSubscriptionOverflow = errors.New("gossip: the watcher fell behind and its subscription was closed")

// subLimits bound what waits in one subscription's queue.
type subLimits struct {
	changes int // queued changes
	bytes   int // values of the records they hold (old and new)
}

// defaultSubLimits: as many changes as the watch history keeps (a watcher
// further behind could not resume from where it is anyway), and 64 MiB of
// values (32 records of the largest size).
var defaultSubLimits = subLimits{changes: ringSize, bytes: 64 << 20}

// Subscription is a bounded, ordered queue of changes for one watcher, so
// that a slow watcher never blocks a writer: one that falls behind by more
// than the bounds is closed with ErrSubscriptionOverflow and its queue
// released.
type Subscription struct {
	prefixes []string
	store    *Store
	limits   subLimits
	mu       sync.Mutex
	queue    []Change
	bytes    int
	err      error // why it ended (ErrClosed, ErrSubscriptionOverflow), nil while open
	notify   chan struct{}
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

// push queues a change; it reports false when that overflowed the queue,
// which is then released and the subscription ended (the store drops it).
func (sub *Subscription) push(ch Change) bool {
	sub.mu.Lock()
	if sub.err != nil {
		sub.mu.Unlock()
		return true
	}
	sub.queue = append(sub.queue, ch)
	sub.bytes += changeBytes(ch)
	over := len(sub.queue) > sub.limits.changes || sub.bytes > sub.limits.bytes
	if over {
		sub.queue, sub.bytes, sub.err = nil, 0, ErrSubscriptionOverflow
	}
	sub.mu.Unlock()
	sub.wake()
	return !over
}

func (sub *Subscription) wake() {
	select {
	case sub.notify <- struct{}{}:
	default:
	}
}

// end closes the subscription with err unless it already ended.
func (sub *Subscription) end(err error) {
	sub.mu.Lock()
	if sub.err == nil {
		sub.err = err
	}
	sub.mu.Unlock()
	sub.wake()
}

// Next returns the queued changes, waiting until there is at least one, ctx
// is done (its error), the store closes (ErrClosed), or the watcher fell
// behind (ErrSubscriptionOverflow: what was queued is gone; list again).
func (sub *Subscription) Next(ctx context.Context) ([]Change, error) {
	for {
		sub.mu.Lock()
		if len(sub.queue) > 0 {
			q := sub.queue
			sub.queue, sub.bytes = nil, 0
			sub.mu.Unlock()
			return q, nil
		}
		err := sub.err
		sub.mu.Unlock()
		if err != nil {
			return nil, err
		}
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
	if s.subs != nil {
		delete(s.subs, sub)
	}
	s.mu.Unlock()
	sub.end(ErrClosed)
}
