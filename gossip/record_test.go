package gossip

import (
	"bytes"
	"math/rand"
	"testing"
	"testing/quick"
	"time"
)

func randomRecord(r *rand.Rand) *Record {
	nodes := []string{"a", "b", "c"}
	rec := &Record{
		Key:     "k",
		Version: Version{Time: uint64(r.Intn(4)), Node: nodes[r.Intn(len(nodes))]},
		Deleted: r.Intn(4) == 0,
	}
	if !rec.Deleted {
		rec.Value = []byte{byte(r.Intn(3))}
	}
	return rec
}

func same(a, b *Record) bool {
	return a.Version == b.Version && a.Deleted == b.Deleted && bytes.Equal(a.Value, b.Value)
}

// The merge function must give the same answer on every node, whatever the
// order and repetition of arrival.
func TestMergeIsCommutativeAssociativeIdempotent(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 20000; i++ {
		a, b, c := randomRecord(r), randomRecord(r), randomRecord(r)
		if !same(Merge(a, b), Merge(b, a)) {
			t.Fatalf("not commutative: %+v %+v", a, b)
		}
		if !same(Merge(Merge(a, b), c), Merge(a, Merge(b, c))) {
			t.Fatalf("not associative: %+v %+v %+v", a, b, c)
		}
		if !same(Merge(a, a), a) || !same(Merge(Merge(a, b), b), Merge(a, b)) {
			t.Fatalf("not idempotent: %+v %+v", a, b)
		}
	}
}

func TestMergeAnyOrderConverges(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 2000; i++ {
		recs := make([]*Record, 6)
		for j := range recs {
			recs[j] = randomRecord(r)
		}
		var want *Record
		for _, x := range recs {
			want = Merge(want, x)
		}
		for p := 0; p < 10; p++ {
			var got *Record
			for _, j := range r.Perm(len(recs)) {
				got = Merge(got, recs[j])
				if r.Intn(2) == 0 { // duplicates arrive too
					got = Merge(got, recs[j])
				}
			}
			if !same(got, want) {
				t.Fatalf("order-dependent result: %+v vs %+v", got, want)
			}
		}
	}
}

func TestNewerVersionWinsAndNodeBreaksTies(t *testing.T) {
	old := &Record{Key: "k", Version: Version{Time: 5, Node: "z"}, Value: []byte("old")}
	cur := &Record{Key: "k", Version: Version{Time: 6, Node: "a"}, Value: []byte("new")}
	if Merge(old, cur) != cur || Merge(cur, old) != cur {
		t.Fatal("the higher time must win")
	}
	tieA := &Record{Key: "k", Version: Version{Time: 7, Node: "a"}, Value: []byte("a")}
	tieB := &Record{Key: "k", Version: Version{Time: 7, Node: "b"}, Value: []byte("b")}
	if Merge(tieA, tieB) != tieB {
		t.Fatal("the higher node name must win a tie")
	}
	tomb := &Record{Key: "k", Version: Version{Time: 8, Node: "a"}, Deleted: true}
	if Merge(cur, tomb) != tomb {
		t.Fatal("a newer tombstone must win over an older value")
	}
}

func TestRecordBinaryRoundTrip(t *testing.T) {
	f := func(key string, tm uint64, node string, del bool, val []byte) bool {
		in := &Record{Key: key, Version: Version{Time: tm, Node: node}, Deleted: del, Value: val}
		if len(val) == 0 {
			in.Value = nil
		}
		b, _ := in.MarshalBinary()
		var out Record
		return out.UnmarshalBinary(b) == nil && out.Key == in.Key && same(&out, in)
	}
	if err := quick.Check(f, nil); err != nil {
		t.Fatal(err)
	}
}

func FuzzRecordUnmarshal(f *testing.F) {
	good, _ := (&Record{Key: "o/pods/default/x", Version: Version{Time: 9, Node: "h1"}, Value: []byte("{}")}).MarshalBinary()
	f.Add(good)
	f.Add([]byte{1, 0, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		if r.UnmarshalBinary(data) == nil {
			b, _ := r.MarshalBinary()
			var again Record
			if err := again.UnmarshalBinary(b); err != nil || !same(&again, &r) || again.Key != r.Key {
				t.Fatalf("round trip of accepted input failed: %v", err)
			}
		}
	})
}

func TestClockIsMonotonicAndFollowsObservations(t *testing.T) {
	wall := time.UnixMilli(1_000_000)
	c := newClockWith(func() time.Time { return wall }, time.Hour)
	a := c.Now()
	b := c.Now()
	if b <= a {
		t.Fatalf("clock went backwards or stood still: %d then %d", a, b)
	}
	remote := b + 1000
	c.Observe(remote)
	if n := c.Now(); n <= remote {
		t.Fatalf("after observing %d the clock gave %d", remote, n)
	}
	wall = wall.Add(-time.Hour) // the wall clock jumps back
	if n := c.Now(); n <= remote {
		t.Fatalf("a wall clock step back moved the clock back: %d", n)
	}
	if got := TimeOf(a); !got.Equal(time.UnixMilli(1_000_000)) {
		t.Fatalf("TimeOf = %v", got)
	}
}
