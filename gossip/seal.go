package gossip

import (
	"context"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Sealer encrypts the values of sensitive records before they reach the
// disk (Secrets, token hashes, the cluster's keys), so that state.db holds
// them only as ciphertext. Records in memory and on the wire are plain:
// they travel only between agents, over encrypted gossip and mutual TLS.
type Sealer interface {
	// Sensitive says whether a key's value is sealed on disk.
	Sensitive(key string) bool
	// Seal encrypts a value; the key is bound in as additional data, so a
	// sealed value cannot be moved to another key.
	Seal(key string, plain []byte) ([]byte, error)
	// Open decrypts what Seal wrote, with whichever of its keys sealed it.
	// A value that is not sealed is returned as it is (stores written
	// before sealing was on), with sealed false.
	Open(key string, data []byte) (plain []byte, sealed bool, err error)
}

// sealRecord returns the record as it is written to disk.
func (d *disk) sealRecord(r *Record) (*Record, error) {
	if d.sealer == nil || r.Deleted || len(r.Value) == 0 || !d.sealer.Sensitive(r.Key) {
		return r, nil
	}
	v, err := d.sealer.Seal(r.Key, r.Value)
	if err != nil {
		return nil, fmt.Errorf("seal %s: %w", r.Key, err)
	}
	c := *r
	c.Value = v
	return &c, nil
}

// openRecord decodes a record read from disk, and reports whether it is a
// sensitive record stored in clear (to be sealed now).
func (d *disk) openRecord(r *Record) (clear bool, err error) {
	if d.sealer == nil || r.Deleted || len(r.Value) == 0 || !d.sealer.Sensitive(r.Key) {
		return false, nil
	}
	plain, sealed, err := d.sealer.Open(r.Key, r.Value)
	if err != nil {
		return false, fmt.Errorf("open %s: %w", r.Key, err)
	}
	r.Value = plain
	return !sealed, nil
}

// reseal rewrites every sensitive record with the sealer's current key (a
// key rotation) in one transaction, and returns how many it rewrote.
func (d *disk) reseal(ctx context.Context) (int, error) {
	if d.sealer == nil {
		return 0, nil
	}
	n := 0
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(recordsBucket)
		type kv struct{ k, v []byte }
		var out []kv
		err := b.ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			r := &Record{}
			if err := r.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("record %q: %w", k, err)
			}
			if r.Deleted || len(r.Value) == 0 || !d.sealer.Sensitive(r.Key) {
				return nil
			}
			if _, err := d.openRecord(r); err != nil {
				return err
			}
			s, err := d.sealRecord(r)
			if err != nil {
				return err
			}
			enc, _ := s.MarshalBinary()
			out = append(out, kv{append([]byte(nil), k...), enc})
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range out {
			if err := b.Put(e.k, e.v); err != nil {
				return err
			}
		}
		n = len(out)
		return nil
	})
	return n, err
}

// compact rewrites the file without its free pages: bbolt keeps the
// pages a write replaced, so a value once written in clear (or sealed with
// a key being retired) would stay in the file's bytes until reused.
func (d *disk) compact() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	path := d.db.Path()
	tmp := path + ".compact"
	_ = os.Remove(tmp)
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("compact %s: %w", path, err)
	}
	if err := bolt.Compact(dst, d.db, 64<<20); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact %s: %w", path, err)
	}
	if err := dst.Sync(); err != nil {
		dst.Close()
		os.Remove(tmp)
		return fmt.Errorf("compact %s: %w", path, err)
	}
	dst.Close()
	if err := d.db.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("compact %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second, MaxSize: d.hooks.maxSize})
	if err != nil {
		return fmt.Errorf("reopen %s after compaction: %w", path, err)
	}
	d.db = db
	return nil
}

// Reseal rewrites every sensitive record on disk with the sealer's current
// key: after a key rotation, the older keys can go.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	if s.disk == nil {
		return 0, nil
	}
	n, err := s.disk.reseal(ctx)
	if err != nil {
		return n, err
	}
	return n, s.disk.compact()
}
