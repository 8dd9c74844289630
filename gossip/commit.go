package gossip

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// The write contract: a write (Update, or records from elsewhere by Apply)
// is published to watchers, broadcast and acknowledged only once it is
// fsync'd. The steps:
//
//  1. Stage, under the store's lock: the write is decided against the
//     durable records plus those staged before it and still persisting
//     (pending), so two concurrent writes never both create one name; it
//     gets its versions and joins the queue. Readers (Get, Scan, watches)
//     never see a staged record.
//  2. Commit, on the committer goroutine: everything queued is written in
//     one bbolt transaction, one fsync, while new writes keep queueing for
//     the next one (group commit).
//  3. Publish, under the lock again: the batch's records become the
//     store's, in queue order, and watchers get them in that order; then
//     the local writes are handed to the OnLocalWrite hooks (broadcast),
//     and the writers are answered.
//
// A failed commit publishes nothing: the batch, and every write queued
// behind it (each was decided against a state that included the batch),
// fail with a PersistError, and the pending records are dropped, so the
// store is exactly as it was before them. The request's context plays no
// part once a write is staged: it completes, or fails, as a whole.

// ErrStorageFull means the disk holding the store has no space left (or
// its file cannot grow): the write was not stored. Writes succeed again by
// themselves once there is space.
var ErrStorageFull = errors.New("gossip: no space left for the store")

// PersistError is a write that could not be made durable: nothing of it
// was stored, published or sent. errors.Is(err, ErrStorageFull) tells a
// full disk.
type PersistError struct {
	Path    string // the store's file
	Records int    // how many records the failed commit held
	Err     error  // the disk's error
}

// Full reports a full disk (or a file that cannot grow).
func (e *PersistError) Full() bool { return isStorageFull(e.Err) }

func (e *PersistError) Error() string {
	if e.Full() {
		return fmt.Sprintf("the disk holding %s is full (%v): nothing was written", e.Path, e.Err)
	}
	return fmt.Sprintf("writing to %s failed (%v): nothing was written", e.Path, e.Err)
}

func (e *PersistError) Unwrap() []error {
	if e.Full() {
		return []error{e.Err, ErrStorageFull}
	}
	return []error{e.Err}
}

// isStorageFull reports the errors of a disk without space: ENOSPC or a
// quota (EDQUOT), a file too large (EFBIG), bbolt's size limit. bbolt
// formats some growth errors with %s, so the text is checked too.
func isStorageFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) ||
		errors.Is(err, berrors.ErrMaxSizeReached) || errors.Is(err, ErrStorageFull) {
		return true
	}
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, syscall.ENOSPC.Error()) || strings.Contains(msg, syscall.EDQUOT.Error()) ||
		strings.Contains(msg, syscall.EFBIG.Error())
}

// commit is one staged write waiting to be persisted and published.
type commit struct {
	recs  []*Record
	local bool          // from Update: handed to the OnLocalWrite hooks
	done  chan struct{} // closed once published, or failed (err)
	err   error
}

// stageLocked queues recs as one write; s.mu is held and the records are
// already in s.pending. Without a disk there is nothing to wait for: they
// are published at once (finish runs the hooks).
func (s *Store) stageLocked(recs []*Record, local bool) *commit {
	c := &commit{recs: recs, local: local, done: make(chan struct{})}
	if s.disk == nil {
		s.publishLocked(c)
		close(c.done)
		return c
	}
	s.queue = append(s.queue, c)
	select {
	case s.commitWake <- struct{}{}:
	default:
	}
	return c
}

// finish waits until c is published or failed; whatever the caller's
// context does meanwhile, the outcome is the same.
func (s *Store) finish(c *commit) error {
	if s.disk == nil {
		s.afterPublish([]*commit{c})
		return nil
	}
	<-c.done
	return c.err
}

// publishLocked makes c's records the store's and tells the watchers, in
// order; s.mu is held.
func (s *Store) publishLocked(c *commit) {
	for _, r := range c.recs {
		if s.pending[r.Key] == r {
			delete(s.pending, r.Key)
		}
		s.applyLocked(r)
	}
}

// afterPublish hands the local writes to the hooks (broadcast), in order,
// outside the lock.
func (s *Store) afterPublish(cs []*commit) {
	s.mu.RLock()
	hooks := s.onLocal
	s.mu.RUnlock()
	for _, c := range cs {
		if c.local {
			for _, h := range hooks {
				h(c.recs)
			}
		}
	}
}

// runCommitter persists the queued writes batch by batch until the store
// closes (after the queue is drained). It is the only writer of records
// to disk, so they reach the file in staging order.
func (s *Store) runCommitter() {
	defer close(s.commitDone)
	for {
		s.mu.Lock()
		batch, closed := s.queue, s.closed
		s.queue = nil
		s.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-s.commitWake
			continue
		}
		s.commitBatch(batch)
	}
}

// commitBatch writes a batch in one transaction and publishes it, or
// fails it and everything queued behind it.
func (s *Store) commitBatch(batch []*commit) {
	var recs []*Record
	for _, c := range batch {
		recs = append(recs, c.recs...)
	}
	start := time.Now()
	err := s.disk.write(recs)
	if s.onPersist != nil {
		s.onPersist(len(recs), time.Since(start), err)
	}
	s.mu.Lock()
	if err != nil {
		failed := append(batch, s.queue...)
		s.queue = nil
		clear(s.pending)
		s.mu.Unlock()
		perr := &PersistError{Path: s.disk.path, Records: len(recs), Err: err}
		s.persistFailed(perr, len(failed))
		for _, c := range failed {
			c.err = perr
			close(c.done)
		}
		return
	}
	for _, c := range batch {
		s.publishLocked(c)
	}
	s.mu.Unlock()
	s.persisted()
	s.afterPublish(batch)
	for _, c := range batch {
		close(c.done)
	}
}

// persistFailed logs a failed commit; a full disk is logged once, when it
// fills, not at every refused write.
func (s *Store) persistFailed(err *PersistError, writes int) {
	if !err.Full() {
		s.log.Error("persisting writes failed; nothing of them was stored, published or sent",
			"path", err.Path, "writes", writes, "records", err.Records, "err", err.Err)
		return
	}
	if s.full.CompareAndSwap(false, true) {
		s.log.Error("the disk holding the store is full: writes are refused (507) until there is space again; "+
			"reads, running pods and gossip go on, and writes resume by themselves once space is freed",
			"path", err.Path, "err", err.Err)
	}
}

// persisted notes a successful commit (the end of a full disk).
func (s *Store) persisted() {
	if s.full.CompareAndSwap(true, false) {
		s.log.Info("the disk holding the store has space again: writes resume", "path", s.disk.path)
	}
}

// Full reports whether the last commit failed for want of disk space.
func (s *Store) Full() bool { return s.full.Load() }
