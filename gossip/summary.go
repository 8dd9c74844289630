package gossip

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"time"
)

// The anti-entropy summary splits the key space into a power-of-two number
// of buckets by key hash and sends one 64-bit hash per bucket: the XOR of a
// fingerprint of (key, version, content) of every record in it. Equal
// sets give equal hashes; a differing bucket is then compared key by key
// over HTTP (see digest). About recordsPerBucket records share a bucket, and
// there are at most maxBuckets, so the summary of 10 000 records is 8 KiB.
const (
	recordsPerBucket = 8
	maxBuckets       = 1024
)

// bucketCount returns the number of buckets for n records.
func bucketCount(n int) int {
	want := (n + recordsPerBucket - 1) / recordsPerBucket
	if want <= 1 {
		return 1
	}
	return min(1<<bits.Len(uint(want-1)), maxBuckets)
}

// keyHash is FNV-1a over the key, finished with a mixer so that its low
// bits (the bucket index) are well spread.
func keyHash(key string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return mix(h)
}

// mix is the splitmix64 finaliser.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	return h ^ h>>31
}

func bucketOf(kh uint64, buckets int) int { return int(kh & uint64(buckets-1)) }

// fingerprint identifies one state of a key: its version and its content
// (Record.Sum, which covers the tombstone flag), since a record a Merger
// made has the version of one of its inputs with a content of its own.
func fingerprint(kh uint64, v Version, sum uint64) uint64 {
	h := mix(kh ^ v.Time)
	h = mix(h ^ keyHash(v.Node))
	return mix(h ^ sum)
}

// summarize returns the bucket hashes of every record in the store, and
// how many records there are.
func summarize(st *Store, buckets int) ([]uint64, int) {
	sums := make([]uint64, buckets)
	n := 0
	st.All(func(r *Record) {
		kh := keyHash(r.Key)
		sums[bucketOf(kh, buckets)] ^= fingerprint(kh, r.Version, r.Sum())
		n++
	})
	return sums, n
}

// peerState is what each side of a push/pull sends: who it is (the
// member to pull from: resolved through membership, never an address),
// its collection horizon, and the summary of its records.
type peerState struct {
	Node    string
	Horizon uint64
	Records uint64
	Buckets []uint64

	received time.Time // when it came (not sent)
}

func (s *peerState) encode() []byte {
	b := make([]byte, 0, 32+len(s.Node)+8*len(s.Buckets))
	b = append(b, msgState)
	b = appendString(b, s.Node)
	b = binary.AppendUvarint(b, s.Horizon)
	b = binary.AppendUvarint(b, s.Records)
	b = binary.AppendUvarint(b, uint64(len(s.Buckets)))
	for _, h := range s.Buckets {
		b = binary.LittleEndian.AppendUint64(b, h)
	}
	return b
}

func decodeState(buf []byte) (*peerState, error) {
	if len(buf) == 0 || buf[0] != msgState {
		return nil, fmt.Errorf("%w: not a state", ErrMalformed)
	}
	rd := reader{b: buf[1:]}
	s := &peerState{Node: rd.str(), Horizon: rd.uvarint(), Records: rd.uvarint()}
	n := rd.count(8)
	if rd.err == nil && (n == 0 || n > maxBuckets || n&(n-1) != 0) {
		return nil, fmt.Errorf("%w: %d buckets", ErrMalformed, n)
	}
	s.Buckets = make([]uint64, n)
	for i := range s.Buckets {
		s.Buckets[i] = rd.uint64()
	}
	if err := rd.end(); err != nil {
		return nil, err
	}
	if s.Node == "" {
		return nil, fmt.Errorf("%w: state without a node", ErrMalformed)
	}
	return s, nil
}
