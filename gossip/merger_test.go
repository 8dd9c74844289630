package gossip

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"testing"
)

// registers is a toy Merger's value: field -> [stamp, value]. Merging takes
// the higher stamp of every field, so two stores that received the same
// records in any order hold the same bytes.
type registers map[string][2]uint64

func mergeRegisters(_ string, local, remote *Record) (*Record, bool) {
	if local.Deleted || remote.Deleted {
		return nil, false
	}
	var a, b registers
	if json.Unmarshal(local.Value, &a) != nil || json.Unmarshal(remote.Value, &b) != nil {
		return nil, false
	}
	for f, rb := range b {
		if ra, ok := a[f]; !ok || rb[0] > ra[0] || rb[0] == ra[0] && rb[1] > ra[1] {
			a[f] = rb
		}
	}
	v, _ := json.Marshal(a) // maps encode sorted: canonical bytes
	m := &Record{Key: local.Key, Version: local.Version, Value: v}
	if remote.Version.Compare(local.Version) > 0 {
		m.Version = remote.Version
	}
	return m, true
}

func randomWrites(r *rand.Rand, n int) []*Record {
	out := make([]*Record, n)
	for i := range out {
		regs := registers{}
		for _, f := range []string{"image", "replicas", "env"} {
			if r.Intn(2) == 0 {
				regs[f] = [2]uint64{uint64(r.Intn(5)), uint64(r.Intn(3))}
			}
		}
		v, _ := json.Marshal(regs)
		out[i] = &Record{Key: "k", Version: Version{Time: uint64(1 + r.Intn(5)), Node: fmt.Sprint("n", r.Intn(3))}, Value: v}
	}
	return out
}

// Stores fed the same records in any order, with repeats, hold the same
// bytes: the store resolves by the Merger, not by version alone.
func TestStoreWithMergerConvergesInAnyOrder(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	ctx := context.Background()
	for i := 0; i < 500; i++ {
		recs := randomWrites(r, 5)
		var want *Record
		for p := 0; p < 6; p++ {
			st, _ := Open("", "x", nil)
			st.SetMerger(mergeRegisters)
			for _, j := range r.Perm(len(recs)) {
				if _, err := st.Apply(ctx, []*Record{recs[j]}); err != nil {
					t.Fatal(err)
				}
				if r.Intn(2) == 0 {
					_, _ = st.Apply(ctx, []*Record{recs[r.Intn(len(recs))]})
				}
			}
			got := st.Get("k")
			if want == nil {
				want = got
			} else if !got.Same(want) {
				t.Fatalf("order-dependent: %s %s vs %s %s", got.Version, got.Value, want.Version, want.Value)
			}
		}
	}
}

// A merged record has the version of one input and content of its own: the
// summary and the digest tell it apart, and anti-entropy pulls it both ways.
func TestMergedContentDiffersInSummaryAndPlan(t *testing.T) {
	v := Version{Time: 9, Node: "b"}
	a := &Record{Key: "k", Version: v, Value: []byte(`{"image":[9,1]}`)}
	m := &Record{Key: "k", Version: v, Value: []byte(`{"image":[9,1],"replicas":[3,2]}`)}
	kh := keyHash("k")
	if fingerprint(kh, a.Version, a.Sum()) == fingerprint(kh, m.Version, m.Sum()) {
		t.Fatal("the fingerprint must cover the content")
	}
	e := DigestEntry{Key: "k", Version: v, Sum: m.Sum()}
	if pull, _ := plan(map[string]*Record{"k": a}, []DigestEntry{e}, 0, 0, true); !slices.Equal(pull, []string{"k"}) {
		t.Fatalf("with a Merger a same-version record of other content is pulled: %v", pull)
	}
	older := DigestEntry{Key: "k", Version: Version{Time: 3, Node: "a"}, Sum: 1}
	if pull, _ := plan(map[string]*Record{"k": a}, []DigestEntry{older}, 0, 0, true); len(pull) != 1 {
		t.Fatal("with a Merger an older record may carry a concurrent edit: it is pulled")
	}
	if pull, _ := plan(map[string]*Record{"k": a}, []DigestEntry{older}, 0, 0, false); len(pull) != 0 {
		t.Fatal("under last-writer-wins an older record is not pulled")
	}
	if !announcedNews(a, announce{Key: "k", Version: v, Sum: m.Sum()}) || announcedNews(a, announce{Key: "k", Version: v, Sum: a.Sum()}) {
		t.Fatal("an announce of the same version is news only with another content")
	}
}
