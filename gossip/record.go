package gossip

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc64"
	"strconv"
)

// Version orders the writes of one key: the hybrid-logical-clock time of the
// write, then the writing node's name to break ties.
type Version struct {
	Time uint64
	Node string
}

// Compare returns -1, 0 or 1 as v is older than, equal to or newer than o.
func (v Version) Compare(o Version) int {
	switch {
	case v.Time < o.Time:
		return -1
	case v.Time > o.Time:
		return 1
	}
	return cmpString(v.Node, o.Node)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// IsZero reports an unset version.
func (v Version) IsZero() bool { return v.Time == 0 && v.Node == "" }

func (v Version) String() string { return strconv.FormatUint(v.Time, 10) + "@" + v.Node }

// Record is the unit of replication: a key, the version of its last write, and
// the value written, or a tombstone.
type Record struct {
	Key     string
	Version Version
	Deleted bool
	Value   []byte
}

var sumTable = crc64.MakeTable(crc64.ECMA)

// Sum identifies the content of a record (tombstone flag and value). Under
// last-writer-wins the version alone identifies it; a record made by a
// Merger carries the version of its newest input with a content of its
// own, so digests and announces carry the sum too.
func (r *Record) Sum() uint64 {
	h := crc64.Update(0, sumTable, r.Value)
	if r.Deleted {
		h = ^h
	}
	return h
}

// Same reports whether two records hold the same version and content.
func (r *Record) Same(o *Record) bool {
	return r.Version == o.Version && r.Deleted == o.Deleted && bytes.Equal(r.Value, o.Value)
}

// A Merger resolves two different records of one key, the one this store
// holds (local) and one from elsewhere (remote), into the record the store
// keeps: local, remote, or a new record combining them. gossip calls it
// for every record that differs from the one held, whoever wrote it,
// instead of last-writer-wins; ok false falls back to last-writer-wins
// (Merge).
//
// A Merger must be deterministic, commutative, associative and idempotent
// on what it returns (the same bytes on every agent, whatever the order
// of arrival), and must return a record that every agent accepts. A
// record it makes carries the higher of the two versions, so that version
// comparisons still order it after both inputs; its content identifies it
// (Sum). It runs under the store's write lock: it must be quick and must
// not call the store.
type Merger func(key string, local, remote *Record) (merged *Record, ok bool)

// Newer reports whether r should replace o under last-writer-wins. It is a
// total order on distinct records, so merging commutes: if the versions are
// equal (which only a bug could produce with different contents) a tombstone
// wins, then the larger value.
func (r *Record) Newer(o *Record) bool {
	if c := r.Version.Compare(o.Version); c != 0 {
		return c > 0
	}
	if r.Deleted != o.Deleted {
		return r.Deleted
	}
	return bytes.Compare(r.Value, o.Value) > 0
}

// Merge returns the record that wins between a and b (either may be nil).
// It is commutative, associative and idempotent.
func Merge(a, b *Record) *Record {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case b.Newer(a):
		return b
	}
	return a
}

// ErrBadRecord is returned for a record that cannot be decoded.
var ErrBadRecord = errors.New("gossip: malformed record")

// RecordFormat is the encoding of records this build writes and the
// newest it reads. A record begins with its format, so a build that meets
// a newer one refuses it by name instead of misreading its bytes. To
// change the encoding: add format 2 beside 1 (read both), ship it, and
// only in a later release write 2, so that every agent of a rolling
// upgrade reads what the others write (docs/upgrades.md).
const RecordFormat = 1

// recordFormat is the format MarshalBinary writes.
const recordFormat = RecordFormat

// ErrUnknownRecordFormat is returned for a record whose format this build
// does not know: written by a newer (or unrelated) build. It wraps
// ErrBadRecord; a FormatError carries the numbers.
var ErrUnknownRecordFormat = fmt.Errorf("%w: unknown record format", ErrBadRecord)

// FormatError names a record format this build does not read.
type FormatError struct {
	Got byte // the format the record carries
}

func (e *FormatError) Error() string {
	if e.Newer() {
		return fmt.Sprintf("record format %d is newer than this build reads (formats 1 to %d): "+
			"it was written by a newer shoal; upgrade this agent to that release or later", e.Got, RecordFormat)
	}
	return fmt.Sprintf("record format %d is not a format of shoal (this build reads formats 1 to %d)", e.Got, RecordFormat)
}

func (e *FormatError) Unwrap() error { return ErrUnknownRecordFormat }

// maxPlausibleFormat bounds the formats taken for a newer release's rather
// than for damage: formats are numbered from 1 and grow by one a change.
const maxPlausibleFormat = 32

// Newer reports a format a later release plausibly wrote (rather than a
// damaged byte).
func (e *FormatError) Newer() bool { return e.Got > RecordFormat && e.Got <= maxPlausibleFormat }

// MarshalBinary encodes a record compactly: format, flags, time, node, key, value.
func (r *Record) MarshalBinary() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte(recordFormat)
	var flags byte
	if r.Deleted {
		flags |= 1
	}
	b.WriteByte(flags)
	var n [binary.MaxVarintLen64]byte
	b.Write(n[:binary.PutUvarint(n[:], r.Version.Time)])
	for _, s := range [][]byte{[]byte(r.Version.Node), []byte(r.Key), r.Value} {
		b.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		b.Write(s)
	}
	return b.Bytes(), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote; it never panics on bad input.
func (r *Record) UnmarshalBinary(data []byte) error {
	if len(data) == 0 {
		return fmt.Errorf("%w: empty", ErrBadRecord)
	}
	if data[0] != recordFormat {
		return &FormatError{Got: data[0]}
	}
	if len(data) < 2 {
		return fmt.Errorf("%w: no flags", ErrBadRecord)
	}
	r.Deleted = data[1]&1 != 0
	rest := data[2:]
	t, n := binary.Uvarint(rest)
	if n <= 0 {
		return fmt.Errorf("%w: bad version time", ErrBadRecord)
	}
	r.Version.Time = t
	rest = rest[n:]
	var parts [3][]byte
	for i := range parts {
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > uint64(len(rest)-n) {
			return fmt.Errorf("%w: bad length", ErrBadRecord)
		}
		parts[i] = rest[n : n+int(l)]
		rest = rest[n+int(l):]
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: trailing bytes", ErrBadRecord)
	}
	r.Version.Node = string(parts[0])
	r.Key = string(parts[1])
	r.Value = nil
	if len(parts[2]) > 0 {
		r.Value = bytes.Clone(parts[2])
	}
	return nil
}
