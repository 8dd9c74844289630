package gossip

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	recordsBucket = []byte("records")
	metaBucket    = []byte("meta")
	horizonKey    = []byte("horizon")
)

// disk persists records in a bbolt file. Concurrent writes are coalesced into
// one fsynced transaction by bbolt's Batch.
type disk struct {
	// mu lets compaction swap the file: every use of db holds it for
	// reading, compact for writing.
	mu     sync.RWMutex
	db     *bolt.DB
	sealer Sealer // nil: values are stored as they are
}

func openDisk(path string, sealer Sealer) (*disk, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open store %s (is another agent using this data dir?): %w", path, err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	if err := db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(recordsBucket); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(metaBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise store %s: %w", path, err)
	}
	return &disk{db: db, sealer: sealer}, nil
}

func (d *disk) close() error { return d.db.Close() }

// load reads every record, opening sealed values; sensitive records found
// in clear (written before sealing was on) are sealed on disk at once.
func (d *disk) load(fn func(*Record)) error {
	var clear []*Record
	err := d.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(recordsBucket).ForEach(func(k, v []byte) error {
			r := &Record{}
			if err := r.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("load record %q: %w", k, err)
			}
			wasClear, err := d.openRecord(r)
			if err != nil {
				return fmt.Errorf("load record %q: %w", k, err)
			}
			if wasClear {
				clear = append(clear, r)
			}
			fn(r)
			return nil
		})
	})
	if err != nil || len(clear) == 0 {
		return err
	}
	// The same versions again, sealed this time (write would skip them as
	// not newer).
	err = d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		for _, r := range clear {
			sealed, err := d.sealRecord(r)
			if err != nil {
				return err
			}
			enc, _ := sealed.MarshalBinary()
			if err := b.Put([]byte(r.Key), enc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sealing records stored in clear: %w", err)
	}
	return d.compact()
}

// write stores records, keeping whichever version is newer if a concurrent
// write of the same key reached the disk first.
func (d *disk) write(ctx context.Context, recs []*Record) error {
	// Sealing happens under the lock, so that a key rotation (which holds
	// it exclusively while it rewrites) never misses a value sealed with
	// the key it retires.
	d.mu.RLock()
	defer d.mu.RUnlock()
	bufs := make([][]byte, len(recs))
	for i, r := range recs {
		sealed, err := d.sealRecord(r)
		if err != nil {
			return err
		}
		b, err := sealed.MarshalBinary()
		if err != nil {
			return err
		}
		bufs[i] = b
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return d.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		for i, r := range recs {
			if old := b.Get([]byte(r.Key)); old != nil {
				var cur Record
				if cur.UnmarshalBinary(old) == nil {
					// Newer compares values on a version tie: compare plain.
					if _, err := d.openRecord(&cur); err == nil && !r.Newer(&cur) {
						continue
					}
				}
			}
			if err := b.Put([]byte(r.Key), bufs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadHorizon returns the persisted collection horizon (0 if none).
func (d *disk) loadHorizon() (uint64, error) {
	var h uint64
	err := d.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(metaBucket).Get(horizonKey); len(v) == 8 {
			h = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	return h, err
}

// remove deletes collected tombstones, unless a newer write replaced them,
// and records the collection horizon in the same transaction, so that the
// horizon on disk never lags the tombstones that are gone.
func (d *disk) remove(ctx context.Context, keys []string, cutoff, horizon uint64) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.db.Update(func(tx *bolt.Tx) error {
		var h [8]byte
		binary.BigEndian.PutUint64(h[:], horizon)
		if err := tx.Bucket(metaBucket).Put(horizonKey, h[:]); err != nil {
			return err
		}
		b := tx.Bucket(recordsBucket)
		for _, k := range keys {
			if err := ctx.Err(); err != nil {
				return err
			}
			old := b.Get([]byte(k))
			var cur Record
			if old == nil || cur.UnmarshalBinary(old) != nil || !cur.Deleted || cur.Version.Time >= cutoff {
				continue
			}
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

// drop deletes the given keys unless a record at or below bound replaced
// them (Open's deletion of records stamped in the future).
func (d *disk) drop(keys []string, bound uint64) error {
	return d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		for _, k := range keys {
			var cur Record
			if old := b.Get([]byte(k)); old != nil && cur.UnmarshalBinary(old) == nil && cur.Version.Time <= bound {
				continue
			}
			if err := b.Delete([]byte(k)); err != nil {
				return fmt.Errorf("delete record %q: %w", k, err)
			}
		}
		return nil
	})
}
