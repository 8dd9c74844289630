package gossip

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Snapshot calls fn for every live record (tombstones left out) of the
// store as of one moment, with sealed values opened: from the disk in one
// bbolt read transaction, so that a commit running meanwhile is seen whole
// or not at all; a store kept in memory is read under its read lock. fn
// must be quick: a long read transaction keeps the file from reusing the
// pages that writes free.
func (s *Store) Snapshot(fn func(*Record) error) error {
	if s.disk == nil {
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, r := range s.records {
			if r.Deleted {
				continue
			}
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	d := s.disk
	d.mu.RLock() // no compaction swaps the file under the transaction
	defer d.mu.RUnlock()
	return d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(recordsBucket).ForEach(func(k, v []byte) error {
			r := &Record{}
			if err := r.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("snapshot: record %q: %w", clip(string(k)), err)
			}
			if r.Deleted {
				return nil
			}
			if _, err := d.openRecord(r); err != nil {
				return fmt.Errorf("snapshot: %w", err)
			}
			return fn(r)
		})
	})
}
