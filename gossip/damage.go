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
// unless asked, and not at all on the goroutine bbolt's own check runs
// on). So the file is checked before bbolt maps it:
//
//  1. checkFile reads the two meta pages and checks that the file holds
//     every page the newest valid one counts (truncation);
//  2. it then reads, from the file (not the map), every page reachable
//     from the root and the freelist page, and checks every page id and
//     every key and value extent against the file's bounds (pageChecker);
//  3. bbolt opens it (faults turned into panics, panics recovered), and
//     its own consistency check runs, which now meets only pages and
//     extents known to be in the file.
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
			// The abandoned map keeps the file (and its lock) until the
			// process ends; the damaged file is moved aside, so the lock
			// never stands in the way of its replacement.
			file.Close()
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

// verify runs bbolt's consistency check (freelist, page references, key
// order): at most a few of its findings are reported.
func verify(db *bolt.DB) error {
	var found []error
	err := db.View(func(tx *bolt.Tx) error {
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
	pc := &pageChecker{f: f, ps: ps, pages: m.pgid, seen: map[uint64]bool{}}
	if err := pc.checkFreelist(m.freelist); err != nil {
		return damaged("%v", err)
	}
	if err := pc.checkTree(m.root, "the root bucket", 0); err != nil {
		return damaged("%v", err)
	}
	return nil
}

// bbolt's page layout: a header (id 8 bytes, flags 2, count 2, overflow
// 4), then count elements of 16 bytes: a branch element is (position 4,
// key size 4, child page 8), a leaf element (flags 4, position 4, key size
// 4, value size 4), the position counted from the element itself. A leaf
// element flagged as a bucket holds (root page 8, sequence 8) and, when
// the root page is 0, the bucket's own leaf page inline.
const (
	pageHeaderSize   = 16
	pageElementSize  = 16
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	bucketLeafFlag   = 0x01
	maxTreeDepth     = 64
)

// pageChecker reads pages from the file and checks their structure.
type pageChecker struct {
	f     *os.File
	ps    uint64
	pages uint64 // the high-water mark: valid ids are below
	seen  map[uint64]bool
}

// read returns page id with its overflow pages, after checking they lie
// below the high-water mark and the page knows its own id.
func (c *pageChecker) read(id uint64, what string) ([]byte, error) {
	if id < 2 || id >= c.pages {
		return nil, fmt.Errorf("%s points to page %d, outside pages 2..%d", what, id, c.pages-1)
	}
	head := make([]byte, pageHeaderSize)
	if _, err := c.f.ReadAt(head, int64(id*c.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	ne := binary.NativeEndian
	if got := ne.Uint64(head); got != id {
		return nil, fmt.Errorf("page %d (%s) says it is page %d", id, what, got)
	}
	overflow := uint64(ne.Uint32(head[12:]))
	if overflow >= c.pages-id {
		return nil, fmt.Errorf("page %d (%s) runs past the file's %d pages", id, what, c.pages)
	}
	buf := make([]byte, (1+overflow)*c.ps)
	if _, err := c.f.ReadAt(buf, int64(id*c.ps)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	return buf, nil
}

// checkFreelist checks the freelist page: its type, and that every page
// id it lists is one of the file's.
func (c *pageChecker) checkFreelist(id uint64) error {
	if id == boltNoFreelist {
		return nil
	}
	p, err := c.read(id, "the meta page's freelist")
	if err != nil {
		return err
	}
	ne := binary.NativeEndian
	if flags := ne.Uint16(p[8:]); flags&freelistPageFlag == 0 {
		return fmt.Errorf("the freelist page %d is not a freelist page (flags %#x)", id, flags)
	}
	n, ids := uint64(ne.Uint16(p[10:])), p[pageHeaderSize:]
	if n == 0xFFFF { // the count is the first element
		n, ids = ne.Uint64(ids), ids[8:]
	}
	if n > uint64(len(ids))/8 {
		return fmt.Errorf("the freelist page %d lists %d pages, more than it holds", id, n)
	}
	for i := range n {
		if free := ne.Uint64(ids[i*8:]); free < 2 || free >= c.pages {
			return fmt.Errorf("the freelist page %d lists page %d, outside pages 2..%d", id, free, c.pages-1)
		}
	}
	return nil
}

// checkTree checks the page id of a bucket's tree and what it references.
func (c *pageChecker) checkTree(id uint64, what string, depth int) error {
	if depth > maxTreeDepth {
		return fmt.Errorf("%s nests deeper than %d levels", what, maxTreeDepth)
	}
	if c.seen[id] {
		return fmt.Errorf("page %d (%s) is referenced twice", id, what)
	}
	c.seen[id] = true
	p, err := c.read(id, what)
	if err != nil {
		return err
	}
	return c.checkPage(p, id, what, depth)
}

// checkPage checks one branch or leaf page (p, from the file or inline in
// a bucket's value) and recurses into what it references.
func (c *pageChecker) checkPage(p []byte, id uint64, what string, depth int) error {
	ne := binary.NativeEndian
	if len(p) < pageHeaderSize {
		return fmt.Errorf("%s: a page of %d bytes", what, len(p))
	}
	flags, count := ne.Uint16(p[8:]), uint64(ne.Uint16(p[10:]))
	branch, leaf := flags&branchPageFlag != 0, flags&leafPageFlag != 0
	if branch == leaf {
		return fmt.Errorf("page %d (%s) is neither a branch nor a leaf page (flags %#x)", id, what, flags)
	}
	if pageHeaderSize+count*pageElementSize > uint64(len(p)) {
		return fmt.Errorf("page %d (%s) counts %d elements, more than it holds", id, what, count)
	}
	for i := range count {
		off := pageHeaderSize + i*pageElementSize
		e := p[off : off+pageElementSize]
		if branch {
			pos, ksize := uint64(ne.Uint32(e[0:])), uint64(ne.Uint32(e[4:]))
			if off+pos+ksize > uint64(len(p)) {
				return fmt.Errorf("page %d (%s): element %d runs past the page", id, what, i)
			}
			if err := c.checkTree(ne.Uint64(e[8:]), what, depth+1); err != nil {
				return err
			}
			continue
		}
		eflags, pos := ne.Uint32(e[0:]), uint64(ne.Uint32(e[4:]))
		ksize, vsize := uint64(ne.Uint32(e[8:])), uint64(ne.Uint32(e[12:]))
		if off+pos+ksize+vsize > uint64(len(p)) {
			return fmt.Errorf("page %d (%s): element %d runs past the page", id, what, i)
		}
		if eflags&bucketLeafFlag == 0 {
			continue
		}
		kstart := off + pos
		name := fmt.Sprintf("bucket %q", clip(string(p[kstart:kstart+ksize])))
		v := p[kstart+ksize : kstart+ksize+vsize]
		if len(v) < 16 {
			return fmt.Errorf("page %d (%s): %s has a value of %d bytes", id, what, name, len(v))
		}
		if root := ne.Uint64(v); root != 0 {
			if err := c.checkTree(root, name, depth+1); err != nil {
				return err
			}
		} else if err := c.checkPage(v[16:], id, name+" (inline)", depth+1); err != nil {
			return err
		}
	}
	return nil
}
