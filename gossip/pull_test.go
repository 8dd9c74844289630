package gossip

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
)

// A pull answer stops before MaxAnswer, keeps the order asked, and leaves
// out a record over the size bound (one persisted before the bound).
func TestAnswerPullStopsAtTheBound(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, "n1")
	c := &Cluster{store: st, log: slog.New(slog.DiscardHandler)}
	value := bytes.Repeat([]byte("v"), 1536<<10)
	var keys []string
	for i := range 12 {
		k := fmt.Sprintf("k%02d", i)
		keys = append(keys, k)
		if _, err := st.Update(ctx, func(tx *Txn) error { tx.Put(k, value); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	oversized := &Record{Key: "huge", Version: Version{Time: st.Clock().Now(), Node: "n2"}, Value: make([]byte, MaxValueSize+1)}
	if _, err := st.Apply(ctx, []*Record{oversized}); err != nil {
		t.Fatal(err)
	}
	ask := append([]string{"huge", "absent"}, keys...)
	body := c.answerPull(ask)
	if len(body) > MaxAnswer {
		t.Fatalf("answer of %d bytes, bound %d", len(body), MaxAnswer)
	}
	recs, err := decodeRecords(body, len(ask))
	if err != nil {
		t.Fatal(err)
	}
	last, err := checkAnswer(ask, recs)
	if err != nil || len(recs) != MaxAnswer/len(value) || recs[0].Key != "k00" || last != 1+len(recs) {
		t.Fatalf("%d records (last %d, %v), want the first %d in order", len(recs), last, err, MaxAnswer/len(value))
	}
}

func TestCheckAnswer(t *testing.T) {
	r := func(k string) *Record { return &Record{Key: k} }
	keys := []string{"a", "b", "c"}
	for _, c := range []struct {
		recs []*Record
		last int
		bad  bool
	}{
		{nil, -1, false},
		{[]*Record{r("a"), r("c")}, 2, false},
		{[]*Record{r("b")}, 1, false},
		{[]*Record{r("c"), r("a")}, 0, true}, // out of order
		{[]*Record{r("a"), r("a")}, 0, true}, // twice
		{[]*Record{r("z")}, 0, true},         // not asked for
	} {
		last, err := checkAnswer(keys, c.recs)
		if c.bad != errors.Is(err, ErrBadAnswer) || !c.bad && last != c.last {
			t.Errorf("%v: last %d err %v", c.recs, last, err)
		}
	}
}
