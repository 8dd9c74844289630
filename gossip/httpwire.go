package gossip

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// Bodies of the two internal HTTP calls, all binary: a format byte, then
// uvarint counts and length-prefixed strings.
//
//	pull request:    keys
//	pull answer:     records (each the Record encoding, length-prefixed)
//	digest request:  bucket count, bucket indexes
//	digest answer:   (key, version, content sum, tombstone) of every record in those buckets

// DigestEntry is the version and content sum (Record.Sum) of one key, as a
// digest lists it.
type DigestEntry struct {
	Key     string
	Version Version
	Sum     uint64
	Deleted bool
}

// maxPullKeys bounds one pull request; pullers send at most pullBatch.
const (
	maxPullKeys = 4096
	pullBatch   = 256
)

// minRecordEncoding is the fewest bytes a record takes in a pull answer
// (its length, format, flags, time and three lengths), and
// minEntryEncoding in a digest answer (key length, time, node length,
// sum, flags): forged counts cannot make a decoder allocate more than the input
// allows.
const (
	minRecordEncoding = 7
	minEntryEncoding  = 12
)

func encodeKeys(keys []string) []byte {
	b := []byte{wireFormat}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
	}
	return b
}

func decodeKeys(buf []byte) ([]string, error) {
	rd, err := openBody(buf)
	if err != nil {
		return nil, err
	}
	n := rd.count(1)
	if n > maxPullKeys {
		return nil, fmt.Errorf("%w: %d keys, at most %d", ErrMalformed, n, maxPullKeys)
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = rd.str()
	}
	return keys, rd.end()
}

func encodeRecords(recs []*Record) []byte {
	b := []byte{wireFormat}
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		body, _ := r.MarshalBinary()
		b = binary.AppendUvarint(b, uint64(len(body)))
		b = append(b, body...)
	}
	return b
}

// decodeRecords decodes a pull answer of at most max records.
func decodeRecords(buf []byte, max int) ([]*Record, error) {
	rd, err := openBody(buf)
	if err != nil {
		return nil, err
	}
	n := rd.count(minRecordEncoding)
	if n > max {
		return nil, fmt.Errorf("%w: %d records, at most %d", ErrMalformed, n, max)
	}
	recs := make([]*Record, n)
	for i := range recs {
		recs[i] = &Record{}
		if err := recs[i].UnmarshalBinary(rd.raw(rd.uvarint())); err != nil && rd.err == nil {
			return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
		}
	}
	return recs, rd.end()
}

func encodeDigestQuery(buckets int, which []int) []byte {
	b := []byte{wireFormat}
	b = binary.AppendUvarint(b, uint64(buckets))
	b = binary.AppendUvarint(b, uint64(len(which)))
	for _, i := range which {
		b = binary.AppendUvarint(b, uint64(i))
	}
	return b
}

func decodeDigestQuery(buf []byte) (buckets int, which []int, err error) {
	rd, err := openBody(buf)
	if err != nil {
		return 0, nil, err
	}
	nb := rd.uvarint()
	if rd.err == nil && (nb == 0 || nb > maxBuckets || nb&(nb-1) != 0) {
		return 0, nil, fmt.Errorf("%w: %d buckets", ErrMalformed, nb)
	}
	n := rd.count(1)
	if uint64(n) > nb {
		return 0, nil, fmt.Errorf("%w: %d bucket indexes for %d buckets", ErrMalformed, n, nb)
	}
	which = make([]int, n)
	for i := range which {
		v := rd.uvarint()
		if v >= nb {
			rd.fail("bucket index")
		}
		which[i] = int(v)
	}
	return int(nb), which, rd.end()
}

func encodeEntries(es []DigestEntry) []byte {
	b := []byte{wireFormat}
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		b = appendString(b, e.Key)
		b = binary.AppendUvarint(b, e.Version.Time)
		b = appendString(b, e.Version.Node)
		b = binary.LittleEndian.AppendUint64(b, e.Sum)
		var flags byte
		if e.Deleted {
			flags = 1
		}
		b = append(b, flags)
	}
	return b
}

// decodeEntries decodes a digest answer of at most max entries.
func decodeEntries(buf []byte, max int) ([]DigestEntry, error) {
	rd, err := openBody(buf)
	if err != nil {
		return nil, err
	}
	n := rd.count(minEntryEncoding)
	if n > max {
		return nil, fmt.Errorf("%w: %d digest entries, at most %d", ErrMalformed, n, max)
	}
	es := make([]DigestEntry, n)
	for i := range es {
		es[i] = DigestEntry{Key: rd.str(), Version: Version{Time: rd.uvarint(), Node: rd.str()}, Sum: rd.uint64(), Deleted: rd.byte()&1 != 0}
	}
	return es, rd.end()
}

func openBody(buf []byte) (*reader, error) {
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if buf[0] != wireFormat {
		// A peer of another release: say so, rather than misread it.
		return nil, fmt.Errorf("%w: pull body format %d, this build speaks format %d: the peer runs a release this one cannot exchange records with",
			ErrMalformed, buf[0], wireFormat)
	}
	return &reader{b: buf[1:]}, nil
}

// inBuckets returns the digest of the store's records in the given buckets.
func inBuckets(st *Store, buckets int, which []int) []DigestEntry {
	want := make([]bool, buckets)
	for _, i := range which {
		want[i] = true
	}
	var es []DigestEntry
	st.All(func(r *Record) {
		if want[bucketOf(keyHash(r.Key), buckets)] {
			es = append(es, DigestEntry{Key: r.Key, Version: r.Version, Sum: r.Sum(), Deleted: r.Deleted})
		}
	})
	slices.SortFunc(es, func(a, b DigestEntry) int { return cmpString(a.Key, b.Key) })
	return es
}
