package gossip

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

func TestBucketCount(t *testing.T) {
	for n, want := range map[int]int{0: 1, 1: 1, 8: 1, 9: 2, 16: 2, 17: 4, 1000: 128, 10000: 1024, 1 << 20: 1024} {
		if got := bucketCount(n); got != want {
			t.Errorf("bucketCount(%d) = %d, want %d", n, got, want)
		}
	}
}

func fillStore(t testing.TB, node string, n int) *Store {
	t.Helper()
	st, err := Open("", node, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	_, err = st.Update(context.Background(), func(tx *Txn) error {
		for i := range n {
			tx.Put(fmt.Sprintf("o/pods/default/web-%05d", i), []byte("v"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A summary with fewer buckets must equal the fold of the full one, since
// the two sides of an exchange may pick different bucket counts.
func TestSummaryFolds(t *testing.T) {
	st := fillStore(t, "n1", 500)
	full, n := summarize(st, maxBuckets)
	if n != 500 {
		t.Fatalf("counted %d records", n)
	}
	for _, b := range []int{1, 2, 64, 512} {
		direct, _ := summarize(st, b)
		if !slices.Equal(direct, fold(fullSummary{sums: full}, b)) {
			t.Fatalf("fold to %d buckets differs from the direct summary", b)
		}
	}
}

func TestSummaryDetectsEveryKindOfDifference(t *testing.T) {
	base := []*Record{{Key: "a", Version: Version{Time: 1, Node: "n"}}, {Key: "b", Version: Version{Time: 2, Node: "n"}}}
	for name, other := range map[string][]*Record{
		"missing key":    base[:1],
		"newer version":  {base[0], {Key: "b", Version: Version{Time: 3, Node: "n"}}},
		"other node":     {base[0], {Key: "b", Version: Version{Time: 2, Node: "m"}}},
		"tombstone":      {base[0], {Key: "b", Version: Version{Time: 2, Node: "n"}, Deleted: true}},
		"additional key": append(slices.Clone(base), &Record{Key: "c", Version: Version{Time: 1, Node: "n"}}),
	} {
		s1, s2 := storeWith(t, base), storeWith(t, other)
		h1, _ := summarize(s1, 1)
		h2, _ := summarize(s2, 1)
		if h1[0] == h2[0] {
			t.Errorf("%s: summaries equal", name)
		}
	}
}

func storeWith(t *testing.T, recs []*Record) *Store {
	st, err := Open("", "x", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Apply(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestPlan(t *testing.T) {
	v := func(tm uint64) Version { return Version{Time: tm, Node: "n"} }
	rec := func(k string, tm uint64, del bool) *Record { return &Record{Key: k, Version: v(tm), Deleted: del} }
	entry := func(k string, tm uint64, del bool) DigestEntry {
		return DigestEntry{Key: k, Version: v(tm), Deleted: del}
	}
	cases := []struct {
		name                 string
		mine                 []*Record
		theirs               []DigestEntry
		myHorizon, peerHoriz uint64
		wantPull, wantForget []string
	}{
		{name: "equal", mine: []*Record{rec("a", 5, false)}, theirs: []DigestEntry{entry("a", 5, false)}},
		{name: "theirs newer", mine: []*Record{rec("a", 5, false)}, theirs: []DigestEntry{entry("a", 6, false)}, wantPull: []string{"a"}},
		{name: "mine newer: they pull", mine: []*Record{rec("a", 7, false)}, theirs: []DigestEntry{entry("a", 6, false)}},
		{name: "we lack it", theirs: []DigestEntry{entry("a", 6, true)}, wantPull: []string{"a"}},
		{name: "we lack it, below our horizon", theirs: []DigestEntry{entry("a", 6, false)}, myHorizon: 6},
		{name: "equal version, their tombstone wins", mine: []*Record{rec("a", 5, false)}, theirs: []DigestEntry{entry("a", 5, true)}, wantPull: []string{"a"}},
		{name: "they lack it, above their horizon: they pull", mine: []*Record{rec("a", 9, false)}, peerHoriz: 8},
		{name: "they lack it, below their horizon: forget", mine: []*Record{rec("a", 8, false), rec("b", 3, false)}, peerHoriz: 8, wantForget: []string{"a", "b"}},
		{name: "our tombstone below their horizon stays", mine: []*Record{rec("a", 3, true)}, peerHoriz: 8},
	}
	for _, c := range cases {
		mine := map[string]*Record{}
		for _, r := range c.mine {
			mine[r.Key] = r
		}
		pull, forget := plan(mine, c.theirs, c.myHorizon, c.peerHoriz, false)
		var forgot []string
		for _, f := range forget {
			if !f.Deleted || f.Version != mine[f.Key].Version {
				t.Errorf("%s: forgetting %s with %+v, want a tombstone of the same version", c.name, f.Key, f)
			}
			forgot = append(forgot, f.Key)
		}
		if !reflect.DeepEqual(pull, c.wantPull) || !reflect.DeepEqual(forgot, c.wantForget) {
			t.Errorf("%s: pull %v forget %v, want %v %v", c.name, pull, forgot, c.wantPull, c.wantForget)
		}
	}
}

// The state exchanged by push/pull for 10 000 records stays small.
func TestStateSizeFor10000Records(t *testing.T) {
	st := fillStore(t, "n1", 10000)
	c := &Cluster{store: st, cfg: ClusterConfig{NodeName: "n1", Meta: NodeMeta{APIAddr: "http://10.213.0.11:7480"}}}
	size := len(c.localState())
	if size > 8*maxBuckets+64 {
		t.Fatalf("state of 10 000 records is %d bytes", size)
	}
	t.Logf("state of 10 000 records: %d bytes", size)
}

// BenchmarkLocalState measures building the push/pull state of 10 000
// records (the cache is bypassed by a write before each build).
func BenchmarkLocalState(b *testing.B) {
	st := fillStore(b, "n1", 10000)
	c := &Cluster{store: st, cfg: ClusterConfig{NodeName: "n1", Meta: NodeMeta{APIAddr: "http://10.213.0.11:7480"}}}
	ctx := context.Background()
	var size int
	for b.Loop() {
		b.StopTimer()
		st.Update(ctx, func(tx *Txn) error { tx.Put("o/pods/default/web-00000", []byte("w")); return nil })
		b.StartTimer()
		size = len(c.localState())
	}
	b.ReportMetric(float64(size), "state-bytes")
}
