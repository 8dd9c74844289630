package gossip

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRecordMessageRoundTrip(t *testing.T) {
	for _, r := range []*Record{
		{Key: "o/pods/default/web", Version: Version{Time: 1 << 40, Node: "h1"}, Value: []byte(`{"a":1}`)},
		{Key: "s/pods/default/web", Version: Version{Time: 7, Node: "h2"}, Deleted: true},
	} {
		m, err := decodeMessage(encodeRecordMsg(r))
		if err != nil {
			t.Fatal(err)
		}
		if m.ann != nil || m.rec == nil || m.rec.Key != r.Key || m.rec.Version != r.Version ||
			m.rec.Deleted != r.Deleted || !bytes.Equal(m.rec.Value, r.Value) {
			t.Fatalf("round trip of %+v gave %+v", r, m.rec)
		}
	}
}

func TestAnnounceRoundTrip(t *testing.T) {
	a := announce{Key: "o/configmaps/default/big", Version: Version{Time: 99, Node: "h3"}, From: "h3"}
	m, err := decodeMessage(encodeAnnounce(a))
	if err != nil {
		t.Fatal(err)
	}
	if m.rec != nil || m.ann == nil || *m.ann != a {
		t.Fatalf("got %+v, want %+v", m.ann, a)
	}
}

// The decoded message must not share memory with the packet buffer,
// which memberlist reuses after NotifyMsg returns.
func TestDecodeCopiesTheBuffer(t *testing.T) {
	buf := encodeRecordMsg(&Record{Key: "k", Version: Version{Time: 1, Node: "n"}, Value: []byte("value")})
	m, err := decodeMessage(buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if m.rec.Key != "k" || string(m.rec.Value) != "value" || m.rec.Version.Node != "n" {
		t.Fatalf("decoded record changed with the buffer: %+v", m.rec)
	}
}

func TestMalformedMessages(t *testing.T) {
	valid := encodeAnnounce(announce{Key: "k", Version: Version{Time: 1, Node: "n"}, From: "http://x"})
	for name, buf := range map[string][]byte{
		"empty":        nil,
		"unknown type": {99, 1, 2},
		"bad record":   {msgRecord, 7},
		"truncated":    valid[:len(valid)-1],
		"trailing":     append(append([]byte{}, valid...), 0),
		"huge length":  {msgAnnounce, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"state":        (&peerState{Node: "n", Buckets: []uint64{0}}).encode(),
	} {
		if _, err := decodeMessage(buf); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := &peerState{Node: "h1", Horizon: 12345, Records: 3, Buckets: []uint64{1, 2, 3, 1 << 63}}
	got, err := decodeState(s.encode())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("got %+v, want %+v", got, s)
	}
	for name, bad := range map[string]*peerState{
		"not a power of two": {Node: "h1", Buckets: []uint64{1, 2, 3}},
		"no buckets":         {Node: "h1"},
		"no node":            {Buckets: []uint64{1}},
		"too many buckets":   {Node: "h1", Buckets: make([]uint64, 2*maxBuckets)},
	} {
		if _, err := decodeState(bad.encode()); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestHTTPBodiesRoundTrip(t *testing.T) {
	keys := []string{"a", "", strings.Repeat("k", 300)}
	got, err := decodeKeys(encodeKeys(keys))
	if err != nil || !reflect.DeepEqual(got, keys) {
		t.Fatalf("keys: %v %v", got, err)
	}
	recs := []*Record{{Key: "a", Version: Version{Time: 1, Node: "n"}, Value: []byte("v")}, {Key: "b", Deleted: true}}
	gotRecs, err := decodeRecords(encodeRecords(recs), 2)
	if err != nil || len(gotRecs) != 2 || gotRecs[0].Key != "a" || string(gotRecs[0].Value) != "v" || !gotRecs[1].Deleted {
		t.Fatalf("records: %+v %v", gotRecs, err)
	}
	nb, which, err := decodeDigestQuery(encodeDigestQuery(64, []int{0, 5, 63}))
	if err != nil || nb != 64 || !reflect.DeepEqual(which, []int{0, 5, 63}) {
		t.Fatalf("digest query: %d %v %v", nb, which, err)
	}
	if _, _, err := decodeDigestQuery(encodeDigestQuery(64, []int{64})); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bucket index out of range: %v", err)
	}
	es := []DigestEntry{{Key: "a", Version: Version{Time: 3, Node: "h1"}}, {Key: "b", Version: Version{Time: 4, Node: "h2"}, Deleted: true}}
	gotEs, err := decodeEntries(encodeEntries(es), 2)
	if err != nil || !reflect.DeepEqual(gotEs, es) {
		t.Fatalf("entries: %+v %v", gotEs, err)
	}
	if _, err := decodeKeys([]byte{wireFormat, 0xff, 0xff, 0x03}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("forged key count: %v", err)
	}
	if _, err := decodeRecords(encodeRecords(recs), 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("more records than keys asked for: %v", err)
	}
	if _, err := decodeEntries(encodeEntries(es), 1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("more entries than the bound: %v", err)
	}
	if _, _, err := decodeDigestQuery(encodeDigestQuery(2, []int{0, 1, 1})); !errors.Is(err, ErrMalformed) {
		t.Fatalf("more bucket indexes than buckets: %v", err)
	}
}

// A garbage push/pull state is dropped and counted, never queued.
func TestMalformedStateIsCounted(t *testing.T) {
	c, err := NewCluster(ClusterConfig{NodeName: "n1", BindAddr: "127.0.0.1:0", Meta: NodeMeta{APIAddr: "http://n1"}, Validate: acceptAll}, testStore(t, "n1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := &delegate{c: c}
	d.MergeRemoteState([]byte{msgState, 0xff}, false)
	d.MergeRemoteState([]byte("GET / HTTP/1.1"), true)
	d.NotifyMsg([]byte{msgAnnounce})
	if n := c.Stats().Malformed; n != 3 {
		t.Fatalf("malformed = %d, want 3", n)
	}
	if c.states.take() != nil || len(c.inbound.take()) != 0 {
		t.Fatal("malformed input was queued")
	}
}
