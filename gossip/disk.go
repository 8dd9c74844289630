package gossip

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	recordsBucket = []byte("records")
	metaBucket    = []byte("meta")
	horizonKey    = []byte("horizon")
	// rebuildingKey marks a store started empty in place of a damaged one,
	// until its first sync with a peer (Store.Rebuilding).
	rebuildingKey = []byte("rebuilding")
)

// disk persists records in a bbolt file. Records are written only by the
// store's committer (commit.go), which coalesces concurrent writes into one
// fsynced transaction.
type disk struct {
	path string
	// mu lets compaction swap the file: every use of db holds it for
	// reading, compact for writing.
	mu     sync.RWMutex
	db     *bolt.DB
	sealer Sealer // nil: values are stored as they are
	hooks  diskHooks
}

// diskHooks let tests make the disk fail.
type diskHooks struct {
	maxSize    int          // bbolt's MaxSize: the file cannot grow past it
	writeFault func() error // consulted before every write of records
}

// withDiskHooks sets failures of the disk (tests).
func withDiskHooks(h diskHooks) Option { return func(o *storeOptions) { o.diskHooks = h } }

// WithRebuild marks a new, empty store as the replacement of a damaged one:
// Rebuilding reports true, persistently, until the store has completed a
// sync with a peer (a Cluster does that, and adopts the peer's horizon).
func WithRebuild() Option { return func(o *storeOptions) { o.rebuild = true } }

func openDisk(path string, sealer Sealer, hooks diskHooks) (*disk, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	db, err := openChecked(path, &bolt.Options{Timeout: 5 * time.Second, MaxSize: hooks.maxSize})
	if err != nil {
		return nil, err
	}
	err = protect(func() error {
		return db.Update(func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(recordsBucket); err != nil {
				return err
			}
			_, err := tx.CreateBucketIfNotExists(metaBucket)
			return err
		})
	})
	var pe *panicError
	if errors.As(err, &pe) || errors.Is(err, berrors.ErrIncompatibleValue) {
		// A damaged root page: a bucket's name holds a plain value, or
		// reading it crashed (verify passes over some such damage).
		db.Close()
		return nil, &DamagedError{Path: path, Err: fmt.Errorf("the store's buckets: %w", err)}
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("initialise store %s: %w", path, err)
	}
	return &disk{path: path, db: db, sealer: sealer, hooks: hooks}, nil
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
				var fe *FormatError
				if errors.As(err, &fe) && fe.Newer() {
					// A newer build wrote this store (a downgrade): moving it
					// aside as damaged would throw away good state.
					return fmt.Errorf("the store %s holds record %q in a format this build does not read: %w. "+
						"The file was left as it is: run the shoal release that wrote it, or a newer one", d.path, clip(string(k)), err)
				}
				return &DamagedError{Path: d.path, Err: fmt.Errorf("record %q does not decode: %w", clip(string(k)), err)}
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

// write stores records in one transaction (one fsync), in order: a later
// record of a key replaces an earlier one. Only the committer calls it, in
// staging order, and staging admits only records newer than the store's,
// so what reaches the file is always the newest.
func (d *disk) write(recs []*Record) error {
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
	if f := d.hooks.writeFault; f != nil {
		if err := f(); err != nil {
			return err
		}
	}
	return d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		for i, r := range recs {
			if err := b.Put([]byte(r.Key), bufs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// loadMeta returns the persisted collection horizon (0 if none) and
// whether the store is being rebuilt.
func (d *disk) loadMeta() (horizon uint64, rebuilding bool, err error) {
	err = protect(func() error {
		return d.db.View(func(tx *bolt.Tx) error {
			m := tx.Bucket(metaBucket)
			if v := m.Get(horizonKey); len(v) == 8 {
				horizon = binary.BigEndian.Uint64(v)
			}
			rebuilding = m.Get(rebuildingKey) != nil
			return nil
		})
	})
	var pe *panicError
	if errors.As(err, &pe) { // a damaged meta bucket that verify let through
		return 0, false, &DamagedError{Path: d.path, Err: err}
	}
	return horizon, rebuilding, err
}

// setRebuilding marks the store as being rebuilt.
func (d *disk) setRebuilding() error {
	return d.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Put(rebuildingKey, []byte{1}) })
}

// rebuilt ends a rebuild: the horizon becomes at least the one given (the
// peer's the store was rebuilt from), in the same transaction.
func (d *disk) rebuilt(horizon uint64) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(metaBucket)
		if v := m.Get(horizonKey); len(v) == 8 {
			horizon = max(horizon, binary.BigEndian.Uint64(v))
		}
		var h [8]byte
		binary.BigEndian.PutUint64(h[:], horizon)
		if err := m.Put(horizonKey, h[:]); err != nil {
			return err
		}
		return m.Delete(rebuildingKey)
	})
}

// remove deletes collected tombstones, unless a newer write replaced them,
// and records the collection horizon in the same transaction, so that the
// horizon on disk never lags the tombstones that are gone.
func (d *disk) remove(ctx context.Context, keys []string, cutoff, horizon uint64) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.db.Update(func(tx *bolt.Tx) error {
		m := tx.Bucket(metaBucket)
		if v := m.Get(horizonKey); len(v) == 8 {
			horizon = max(horizon, binary.BigEndian.Uint64(v))
		}
		var h [8]byte
		binary.BigEndian.PutUint64(h[:], horizon)
		if err := m.Put(horizonKey, h[:]); err != nil {
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
