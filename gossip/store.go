package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// A write is durable before anyone sees it (commit.go).
type Store struct {
	node  string
	clock *Clock
	disk  *disk
	log   *slog.Logger

	mu     sync.RWMutex
	closed bool
	// records are the durable, published records: what readers see.
	records map[string]*Record
	// pending holds, by key, the newest record of a write staged and not
	// yet persisted: writes are decided against it, readers never see it.
	pending map[string]*Record
	// queue holds the staged writes the committer has not taken yet, in
	// staging order.
	queue      []*commit
	commitWake chan struct{}
	commitDone chan struct{}
	full       atomic.Bool // the last commit failed for want of space
	// rebuilding: the store was started empty in place of a damaged one,
	// and has not completed a sync with a peer yet (Rebuilding).
	rebuilding atomic.Bool

	ring      []Change
	ringFloor uint64 // the newest stamp dropped from ring
	ringBytes int    // what ring holds, as changeBytes counts it (history.go)
	ringLimit int    // the most ring may hold in bytes
	subs      map[*Subscription]struct{}
	subLimits subLimits
	overflows uint64 // subscriptions closed for falling behind
	onLocal   []func([]*Record)
	merge     Merger                                           // nil: last-writer-wins
	onPersist func(records int, took time.Duration, err error) // nil: nobody asked
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
	historyBytes      int
	rebuild           bool
	diskHooks         diskHooks
	onPersist         func(records int, took time.Duration, err error)
}

// WithSealer seals the values of sensitive records on disk (see Sealer).
func WithSealer(s Sealer) Option {
	return func(o *storeOptions) { o.sealer = s }
}

// WithPersistObserver has fn told of every commit written to disk (or
// failed): the records it held and how long the write took. It runs on
// the committer's goroutine and must not block (the agent's metrics).
func WithPersistObserver(fn func(records int, took time.Duration, err error)) Option {
	return func(o *storeOptions) { o.onPersist = fn }
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
	o := storeOptions{maxClockOffset: DefaultMaxClockOffset, now: time.Now, subLimits: defaultSubLimits,
		historyBytes: DefaultHistoryBytes}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxClockOffset < 0 {
		return nil, fmt.Errorf("gossip: a negative maximum clock offset (%s)", o.maxClockOffset)
	}
	s := &Store{node: node, clock: newClockWith(o.now, o.maxClockOffset), log: log, records: map[string]*Record{},
		pending: map[string]*Record{}, subs: map[*Subscription]struct{}{}, subLimits: o.subLimits, ringLimit: o.historyBytes,
		onPersist: o.onPersist}
	if path == "" {
		return s, nil
	}
	d, err := openDisk(path, o.sealer, o.diskHooks)
	if err != nil {
		return nil, err
	}
	s.disk = d
	if o.rebuild {
		err = d.setRebuilding()
	}
	if err == nil {
		err = s.load(o.dropFutureRecords)
	}
	if err != nil {
		d.close()
		return nil, err
	}
	s.commitWake, s.commitDone = make(chan struct{}, 1), make(chan struct{})
	go s.runCommitter()
	return s, nil
}

// load reads the persisted records and horizon. Records stamped beyond
// the clock's bound are refused (FutureRecordsError), or deleted with drop.
func (s *Store) load(drop bool) error {
	bound := s.clock.Bound()
	var future []*Record
	err := protect(func() error {
		return s.disk.load(func(r *Record) {
			if r.Version.Time > bound {
				future = append(future, r)
				return
			}
			s.records[r.Key] = r
			s.clock.Observe(r.Version.Time)
		})
	})
	var pe *panicError
	if errors.As(err, &pe) { // verify should have found it: never a crash
		return &DamagedError{Path: s.disk.path, Err: err}
	}
	if err != nil {
		return err
	}
	var rebuilding bool
	if s.horizon, rebuilding, err = s.disk.loadMeta(); err != nil {
		return err
	}
	s.rebuilding.Store(rebuilding)
	s.clock.Restored()
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

// Close completes the writes staged so far, then releases the disk and
// ends every subscription. Writes after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.disk != nil {
		select {
		case s.commitWake <- struct{}{}:
		default:
		}
		<-s.commitDone
	}
	s.mu.Lock()
	for sub := range s.subs {
		sub.err = ErrClosed
		sub.wake()
	}
	s.subs = nil
	s.mu.Unlock()
	if s.disk != nil {
		return s.disk.close()
	}
	return nil
}

// Rebuilding reports a store started empty in place of a damaged one
// (WithRebuild) that has not completed a sync with a peer yet: until then
// it holds less than the cluster does, and its agent must not act on it.
func (s *Store) Rebuilding() bool { return s.rebuilding.Load() }

// rebuilt ends a rebuild after a complete sync with a peer, adopting the
// peer's collection horizon: the store now holds what the peer holds, so
// a record absent from both at or below that horizon was deleted.
func (s *Store) rebuilt(horizon uint64) error {
	if !s.rebuilding.Load() {
		return nil
	}
	if s.disk != nil {
		if err := s.disk.rebuilt(horizon); err != nil {
			return fmt.Errorf("end the rebuild of %s: %w", s.disk.path, err)
		}
	}
	s.mu.Lock()
	s.horizon = max(s.horizon, horizon)
	s.mu.Unlock()
	s.rebuilding.Store(false)
	return nil
}

// Node is the name this store writes versions with.
func (s *Store) Node() string { return s.node }

// Clock is the store's hybrid logical clock.
func (s *Store) Clock() *Clock { return s.clock }

// OnLocalWrite registers a hook called with every local write (Update)
// once it is durable and published (replication broadcasts it), in the
// order of their versions. Hooks must not block.
func (s *Store) OnLocalWrite(fn func([]*Record)) {
	s.mu.Lock()
	s.onLocal = append(s.onLocal, fn)
	s.mu.Unlock()
}

// SetMerger makes Apply resolve a record that differs from the one held with
// m instead of last-writer-wins (see Merger). Set it before the store
// receives anything.
func (s *Store) SetMerger(m Merger) {
	s.mu.Lock()
	s.merge = m
	s.mu.Unlock()
}

// Merging reports whether a Merger is set: then a record with an older
// version may still change the one held, and replication compares content
// (Record.Sum), not only versions.
func (s *Store) Merging() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.merge != nil
}

// resolve returns what the store keeps of cur (held, not nil) and r
// (received): cur when r changes nothing.
func (s *Store) resolve(cur, r *Record) *Record {
	if r.Same(cur) {
		return cur
	}
	if s.merge != nil {
		if m, ok := s.merge(r.Key, cur, r); ok && m != nil {
			if m != cur && m.Same(cur) {
				return cur
			}
			return m
		}
	}
	return Merge(cur, r)
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

// Len is how many records the store holds, tombstones included.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.records)
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
// transaction sees it (its own writes first, in the order made, then the
// store's other records, those of writes still persisting included),
// tombstones included, until fn returns false. It runs under the store's
// write lock: fn must not call the store.
func (t *Txn) Range(prefix string, fn func(*Record) bool) {
	for _, key := range t.order {
		if strings.HasPrefix(key, prefix) && !fn(t.writes[key]) {
			return
		}
	}
	for key, r := range t.s.pending {
		if _, staged := t.writes[key]; !staged && strings.HasPrefix(key, prefix) && !fn(r) {
			return
		}
	}
	for key, r := range t.s.records {
		if _, staged := t.writes[key]; staged || !strings.HasPrefix(key, prefix) {
			continue
		}
		if _, pending := t.s.pending[key]; !pending && !fn(r) {
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
	return t.s.latestLocked(key)
}

// latestLocked is the newest record of key, durable or still persisting;
// s.mu is held.
func (s *Store) latestLocked(key string) *Record {
	if r, ok := s.pending[key]; ok {
		return r
	}
	return s.records[key]
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
// versions and are persisted (fsync'd), then published to watchers and
// handed to the OnLocalWrite hooks, together, before Update returns. If fn
// returns an error nothing is written; if persisting fails (a
// PersistError: ErrStorageFull for a full disk) nothing is written,
// published or sent either. ctx is fn's (Txn.Context); once fn has
// returned, the write completes or fails as a whole, whatever ctx does.
func (s *Store) Update(ctx context.Context, fn func(*Txn) error) ([]*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
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
		s.pending[key] = r
		written = append(written, r)
	}
	c := s.stageLocked(written, true)
	s.mu.Unlock()
	if err := s.finish(c); err != nil {
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

// Apply merges records that came from elsewhere; it returns those applied
// (a record the Merger made in place of one received included). A record
// is resolved against the one held by the Merger if one is set, else by
// last-writer-wins (older records are ignored). A record of a key the
// store lacks whose version is at or below the
// collection horizon (see Horizon), and a record stamped beyond the clock's
// bound (now + the maximum offset): the caller validates and counts those.
// Those that win are persisted, then published, as a local write is; if
// persisting fails none is applied (a PersistError), and anti-entropy
// brings them again later.
func (s *Store) Apply(ctx context.Context, recs []*Record) ([]*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	var won []*Record
	bound := s.clock.Bound()
	for _, r := range recs {
		if r.Version.Time > bound {
			continue // the caller counts it (Cluster.admit); never stored
		}
		s.clock.Observe(r.Version.Time)
		if r = s.winnerLocked(r); r == nil {
			continue
		}
		s.pending[r.Key] = r
		won = append(won, r)
	}
	if len(won) == 0 {
		s.mu.Unlock()
		return nil, nil
	}
	c := s.stageLocked(won, false)
	s.mu.Unlock()
	if err := s.finish(c); err != nil {
		return nil, err
	}
	return won, nil
}

// winnerLocked returns what the store keeps of a record from elsewhere,
// if it changes what the store holds for its key (written or staged): the
// record itself when it is newer (or, with a Merger, what the Merger makes
// of the two), or, for a key the store lacks, when it is newer than the
// collection horizon. nil: the store keeps what it has. s.mu is held.
func (s *Store) winnerLocked(r *Record) *Record {
	cur := s.latestLocked(r.Key)
	if cur == nil {
		if r.Version.Time > s.horizon {
			return r
		}
		return nil
	}
	if w := s.resolve(cur, r); w != cur {
		return w
	}
	return nil
}

// applyLocked installs r and publishes the change; s.mu is held.
func (s *Store) applyLocked(r *Record) {
	ch := Change{Stamp: s.clock.Now(), Old: s.records[r.Key], New: r}
	s.records[r.Key] = r
	s.remember(ch)
	s.publish(ch)
}

// CollectTombstones forgets tombstones older than retention, from memory and
// disk, and raises the collection horizon to the newest one it forgot.
// Nodes away for longer must rejoin by pulling, not pushing.
// They are removed from disk first: memory follows only once the disk has.
func (s *Store) CollectTombstones(ctx context.Context, retention time.Duration) (int, error) {
	cutoff := uint64(time.Now().Add(-retention).UnixMilli()) << 16
	collect := map[string]*Record{}
	s.mu.RLock()
	horizon := s.horizon
	for k, r := range s.records {
		if r.Deleted && r.Version.Time < cutoff {
			collect[k] = r
			horizon = max(horizon, r.Version.Time)
		}
	}
	s.mu.RUnlock()
	if len(collect) == 0 {
		return 0, nil
	}
	if s.disk != nil {
		if err := s.disk.remove(ctx, slices.Collect(maps.Keys(collect)), cutoff, horizon); err != nil {
			return 0, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range collect {
		if s.records[k] == r { // else a newer write replaced it meanwhile
			delete(s.records, k)
		}
	}
	s.horizon = max(s.horizon, horizon)
	return len(collect), nil
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
