package gossip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// The history of changes kept for resuming watches is bounded in bytes as
// well as in count: large records push the oldest changes out, and a watch
// resuming from before what is kept gets ErrStampTooOld (a 410: list
// again), while one resuming from a kept change replays it.
func TestHistoryIsBoundedInBytes(t *testing.T) {
	const limit = 1 << 20
	st, err := Open("", "n1", nil, WithHistoryBytes(limit))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	value := []byte(strings.Repeat("x", 64<<10))
	put := func(i int) uint64 {
		if _, err := st.Update(ctx, func(tx *Txn) error { tx.Put(fmt.Sprintf("o/configmaps/default/cm-%d", i), value); return nil }); err != nil {
			t.Fatal(err)
		}
		return st.Stamp()
	}
	first := put(0)
	var stamps []uint64
	for i := 1; i < 200; i++ {
		stamps = append(stamps, put(i))
		if b := st.HistoryBytes(); b > limit {
			t.Fatalf("after %d writes of 64 KiB the history holds %d bytes, over its bound of %d", i+1, b, limit)
		}
	}
	if b := st.HistoryBytes(); b < limit/2 {
		t.Fatalf("the history holds only %d bytes: it dropped far more than it had to", b)
	}
	if _, _, err := st.Subscribe([]string{"o/"}, first, false); !errors.Is(err, ErrStampTooOld) {
		t.Fatalf("resuming from a change pushed out of the history: %v, want ErrStampTooOld", err)
	}
	recent := stamps[len(stamps)-3]
	sub, _, err := st.Subscribe([]string{"o/"}, recent, false)
	if err != nil {
		t.Fatalf("resuming from a kept change: %v", err)
	}
	defer sub.Cancel()
	changes, err := sub.Next(ctx)
	if err != nil || len(changes) != 2 {
		t.Fatalf("replayed %d changes (%v), want the 2 after the resume point", len(changes), err)
	}
}

// The count bound still holds for small records.
func TestHistoryIsBoundedInCount(t *testing.T) {
	st, err := Open("", "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range ringSize + 100 {
		if _, err := st.Update(context.Background(), func(tx *Txn) error { tx.Put(fmt.Sprintf("k%d", i), []byte("v")); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	st.mu.RLock()
	n := len(st.ring)
	st.mu.RUnlock()
	if n > ringSize {
		t.Fatalf("the history holds %d changes, over its bound of %d", n, ringSize)
	}
}
