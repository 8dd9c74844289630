package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// A damaged store file must never crash the agent: bbolt trusts its file,
// and on a truncated or corrupted one it can panic, or fault on a page
// beyond the end of its memory map (a fault Go does not turn into a panic
// unless asked). So the file is checked in three steps before use:
//
//  1. checkFile reads the two meta pages itself and checks that the file
//     holds every page the newest valid one counts (truncation);
//  2. bbolt opens it with faults turned into panics, and panics recovered;
//  3. verify walks every page reachable from the buckets (again with
//     faults as panics), then runs bbolt's own consistency check, which
//     then meets only pages known to be in the file.
//
// Any failure is a DamagedError; the agent moves the file aside and
// rebuilds from its peers (daemon), and never runs on a file that failed.

// DamagedError is a store file that cannot be opened or fails
// verification: truncated, overwritten, or inconsistent.
type DamagedError struct {
	Path string
	Err  error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("the store %s is damaged: %v", e.Path, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// MoveAside renames a damaged store file to <path>.damaged-<UTC time>,
// keeping it for inspection, and returns the new name.
func MoveAside(path string, now time.Time) (string, error) {
	base := path + ".damaged-" + now.UTC().Format("20060102T150405Z")
	dest := base
	for i := 1; ; i++ {
		if _, err := os.Lstat(dest); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dest = fmt.Sprintf("%s-%d", base, i)
	}
	if err := os.Rename(path, dest); err != nil {
		return "", fmt.Errorf("move the damaged store aside: %w", err)
	}
	_ = os.Remove(path + ".compact") // a compaction's leftover, if any
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the rename survives a crash
		d.Close()
	}
	return dest, nil
}

// openChecked opens the bbolt file at path, checked as described above.
func openChecked(path string, opts *bolt.Options) (*bolt.DB, error) {
	if err := checkFile(path); err != nil {
		var de *DamagedError
		if errors.As(err, &de) {
			return nil, err
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	var file *os.File
	opts.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	var db *bolt.DB
	err := protect(func() (err error) {
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		if file != nil {
			file.Close() // releases the file's lock; the abandoned mapping stays
		}
		return nil, &DamagedError{Path: path, Err: err}
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("open store %s: another process holds it (is another agent using this data dir?): %w", path, err)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum),
		errors.Is(err, berrors.ErrInvalidMapping):
		return nil, &DamagedError{Path: path, Err: err}
	case err != nil:
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := verify(db); err != nil {
		db.Close()
		return nil, &DamagedError{Path: path, Err: err}
	}
	return db, nil
}

// panicError is a panic (or a memory fault) of bbolt on a damaged file.
type panicError struct{ v any }

func (e *panicError) Error() string { return fmt.Sprintf("reading it failed: %v", e.v) }

// protect runs fn with memory faults turned into panics, and recovers.
func protect(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{v}
		}
	}()
	return fn()
}

// verify reads every page reachable from the buckets, every value to its
// last byte, then runs bbolt's consistency check (freelist, page
// references, ordering): at most a few of its findings are reported.
func verify(db *bolt.DB) error {
	var sink byte
	err := protect(func() error {
		return db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(_ []byte, b *bolt.Bucket) error { return walkBucket(b, &sink) })
		})
	})
	if err != nil {
		return err
	}
	var found []error
	err = db.View(func(tx *bolt.Tx) error {
		n := 0
		for e := range tx.Check() {
			if n++; n <= 3 {
				found = append(found, e)
			}
		}
		if n > 3 {
			found = append(found, fmt.Errorf("and %d more faults", n-3))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(found) > 0 {
		return fmt.Errorf("its consistency check failed: %w", errors.Join(found...))
	}
	return nil
}

func walkBucket(b *bolt.Bucket, sink *byte) error {
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if c := b.Bucket(k); c != nil {
				return walkBucket(c, sink)
			}
			return nil
		}
		if len(v) > 0 {
			*sink ^= v[len(v)-1] // touch the value's last page
		}
		return nil
	})
}

// bbolt's meta page, as it lays it out (version 2): a 16-byte page header,
// then magic, version, page size, flags (4 bytes each), the root bucket
// (root page, sequence), the freelist page, the high-water mark (page
// count), the transaction id and an FNV-64a checksum of what precedes it
// (8 bytes each), in the machine's byte order.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltMetaOffset   = 16
	boltMetaSize     = 64
	boltNoFreelist   = ^uint64(0)
	boltMetaSumBytes = 56
)

type boltMeta struct {
	pageSize                   uint32
	root, freelist, pgid, txid uint64
}

// readMeta reads and validates the meta page at off.
func readMeta(f *os.File, off int64) (*boltMeta, error) {
	var buf [boltMetaOffset + boltMetaSize]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return nil, fmt.Errorf("meta page at byte %d: %w", off, err)
	}
	m := buf[boltMetaOffset:]
	le := binary.NativeEndian
	if le.Uint32(m[0:]) != boltMagic {
		return nil, fmt.Errorf("meta page at byte %d: not a bbolt meta page", off)
	}
	if v := le.Uint32(m[4:]); v != boltVersion {
		return nil, fmt.Errorf("meta page at byte %d: bbolt version %d, not %d", off, v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSumBytes])
	if h.Sum64() != le.Uint64(m[boltMetaSumBytes:]) {
		return nil, fmt.Errorf("meta page at byte %d: checksum mismatch", off)
	}
	return &boltMeta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]),
		pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, nil
}

// checkFile checks that an existing store file has a valid meta page and
// holds every page it counts. A missing file is fine (a new store); an
// empty one is not (a store that lost its content).
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	damaged := func(format string, args ...any) error {
		return &DamagedError{Path: path, Err: fmt.Errorf(format, args...)}
	}
	if size == 0 {
		return damaged("the file is empty (0 bytes)")
	}
	// As bbolt: the page size comes from the first meta page, or else the
	// second is searched for at the possible page sizes.
	m0, err0 := readMeta(f, 0)
	var m1 *boltMeta
	err1 := err0
	if m0 != nil {
		m1, err1 = readMeta(f, int64(m0.pageSize))
	} else {
		for i := 0; i <= 14 && m1 == nil; i++ {
			if off := int64(1024) << i; off < size {
				m1, err1 = readMeta(f, off)
			}
		}
	}
	m := m0
	switch {
	case m0 == nil && m1 == nil:
		return damaged("neither of its meta pages is valid (%v; %v)", err0, err1)
	case m0 == nil || m1 != nil && m1.txid > m0.txid:
		m = m1
	}
	ps := uint64(m.pageSize)
	if ps < 512 || ps&(ps-1) != 0 {
		return damaged("its meta page gives an impossible page size (%d)", ps)
	}
	if pages := uint64(size) / ps; m.pgid > pages {
		return damaged("the file is truncated: it holds %d bytes, its last transaction (%d) counts %d pages of %d bytes",
			size, m.txid, m.pgid, ps)
	}
	if m.root >= m.pgid || m.freelist != boltNoFreelist && m.freelist >= m.pgid {
		return damaged("its meta page points beyond its %d pages (root %d, freelist %d)", m.pgid, m.root, m.freelist)
	}
	return nil
}
