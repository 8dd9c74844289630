package gossip

import (
	"errors"
	"reflect"
	"testing"
)

// One fuzzer per decoder of input from other agents. Any bytes decode or
// fail with ErrMalformed, never panic, and what decodes survives a round
// trip through the encoder unchanged. The seeds run as ordinary tests;
// docs/testing.md has the command for a longer run.

func FuzzDecodeMessage(f *testing.F) {
	f.Add(encodeRecordMsg(&Record{Key: "o/pods/default/x", Version: Version{Time: 5, Node: "n"}, Value: []byte("v")}))
	f.Add(encodeRecordMsg(&Record{Key: "s/pods/default/x", Version: Version{Time: 5, Node: "n"}, Deleted: true}))
	f.Add(encodeAnnounce(announce{Key: "k", Version: Version{Time: 5, Node: "n"}, From: "h1"}))
	f.Add(append([]byte{msgRecord, RecordFormat + 1}, encodeRecordMsg(&Record{Key: "k", Value: []byte("v")})[2:]...)) // a newer release's format
	f.Add([]byte{msgRecord})
	f.Add([]byte{msgAnnounce, 0x80})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, buf []byte) {
		m, err := decodeMessage(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		var again []byte
		if m.rec != nil {
			again = encodeRecordMsg(m.rec)
		} else {
			again = encodeAnnounce(*m.ann)
		}
		m2, err := decodeMessage(again)
		if err != nil {
			t.Fatalf("re-encoded %x does not decode: %v", again, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}

func FuzzDecodeState(f *testing.F) {
	f.Add((&peerState{Node: "n", Horizon: 7, Records: 3, Buckets: []uint64{1, 2}}).encode())
	f.Add((&peerState{Node: "h1", Horizon: 1<<64 - 1, Buckets: []uint64{0}}).encode())
	f.Add([]byte{msgState, 1, 'n', 0, 0, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, buf []byte) {
		s, err := decodeState(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if n := len(s.Buckets); n == 0 || n > maxBuckets || n&(n-1) != 0 || s.Node == "" {
			t.Fatalf("decoded a state that breaks its invariants: %+v", s)
		}
		again, err := decodeState(s.encode())
		if err != nil || !reflect.DeepEqual(again, s) {
			t.Fatalf("round trip of %+v gave %+v, %v", s, again, err)
		}
	})
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(encodeRecords([]*Record{{Key: "a", Version: Version{Time: 1, Node: "n"}, Value: []byte("v")}, {Key: "b", Deleted: true}}))
	f.Add(encodeRecords(nil))
	f.Add([]byte{wireFormat, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, buf []byte) {
		recs, err := decodeRecords(buf, pullBatch)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(recs) > pullBatch {
			t.Fatalf("%d records decoded, bound %d", len(recs), pullBatch)
		}
		again, err := decodeRecords(encodeRecords(recs), pullBatch)
		if err != nil || len(again) != len(recs) {
			t.Fatalf("round trip: %d records, %v", len(again), err)
		}
		for i := range recs {
			if again[i].Key != recs[i].Key || !same(again[i], recs[i]) {
				t.Fatalf("record %d changed: %+v -> %+v", i, recs[i], again[i])
			}
		}
	})
}

func FuzzDecodeEntries(f *testing.F) {
	f.Add(encodeEntries([]DigestEntry{{Key: "a", Version: Version{Time: 3, Node: "h1"}}, {Key: "b", Deleted: true}}))
	f.Add(encodeEntries(nil))
	f.Add([]byte{wireFormat, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, buf []byte) {
		es, err := decodeEntries(buf, maxDigestEntries)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := decodeEntries(encodeEntries(es), maxDigestEntries)
		if err != nil || len(again) != len(es) || len(es) > 0 && !reflect.DeepEqual(again, es) {
			t.Fatalf("round trip of %+v gave %+v, %v", es, again, err)
		}
	})
}

func FuzzDecodeKeys(f *testing.F) {
	f.Add(encodeKeys([]string{"o/pods/default/a", "b"}))
	f.Add(encodeKeys(nil))
	f.Add([]byte{wireFormat, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, buf []byte) {
		keys, err := decodeKeys(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if len(keys) > maxPullKeys {
			t.Fatalf("%d keys decoded, bound %d", len(keys), maxPullKeys)
		}
		again, err := decodeKeys(encodeKeys(keys))
		if err != nil || len(again) != len(keys) || len(keys) > 0 && !reflect.DeepEqual(again, keys) {
			t.Fatalf("round trip of %q gave %q, %v", keys, again, err)
		}
	})
}

func FuzzDecodeDigestQuery(f *testing.F) {
	f.Add(encodeDigestQuery(8, []int{1, 7}))
	f.Add(encodeDigestQuery(1024, nil))
	f.Add([]byte{wireFormat, 3, 1, 0})
	f.Fuzz(func(t *testing.T, buf []byte) {
		nb, which, err := decodeDigestQuery(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if nb <= 0 || nb > maxBuckets || nb&(nb-1) != 0 || len(which) > nb {
			t.Fatalf("decoded %d buckets, %d indexes", nb, len(which))
		}
		for _, i := range which {
			if i < 0 || i >= nb {
				t.Fatalf("bucket index %d of %d", i, nb)
			}
		}
		nb2, which2, err := decodeDigestQuery(encodeDigestQuery(nb, which))
		if err != nil || nb2 != nb || len(which2) != len(which) || len(which) > 0 && !reflect.DeepEqual(which2, which) {
			t.Fatalf("round trip: %d %v %v", nb2, which2, err)
		}
	})
}

func FuzzDecodeMeta(f *testing.F) {
	good, _ := encodeMeta(NodeMeta{APIAddr: "http://10.0.0.1:7480", Version: "v1", Labels: map[string]string{"zone": "a"}}, true)
	f.Add(good)
	f.Add([]byte{metaFormat, 0})
	f.Add([]byte{metaFormat, 0, 0, 0, 0xff, 0xff, 0x03})
	f.Fuzz(func(t *testing.T, buf []byte) {
		m, leaving, err := decodeMeta(buf)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		again, err := encodeMeta(m, leaving)
		if err != nil {
			return // decodable, but too large for an alive message
		}
		m2, leaving2, err := decodeMeta(again)
		if err != nil || leaving2 != leaving || !reflect.DeepEqual(m2, m) && !(len(m.Labels) == 0 && len(m2.Labels) == 0) {
			t.Fatalf("round trip of %+v gave %+v, %v", m, m2, err)
		}
	})
}
