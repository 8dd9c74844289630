package gossip

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// Subscriptions share the history instead of queueing copies: a thousand
// watchers that never read cost the same memory per write as one.
func TestStalledSubscriptionsShareTheHistory(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, "n1")
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	value := make([]byte, 1024)
	write := func(from, n int) {
		for i := from; i < from+n; i++ {
			v := append([]byte(nil), value...)
			if _, err := st.Update(ctx, func(tx *Txn) error { tx.Put(fmt.Sprintf("k/%d", i), v); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0, 1000)
	base := heap()
	subs := make([]*Subscription, 1000)
	for i := range subs {
		sub, _, err := st.Subscribe([]string{"k/"}, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		subs[i] = sub
	}
	withSubs := heap()
	write(1000, 5000)
	after := heap()
	// The 5000 records themselves take ~6 MiB (the store keeps them);
	// per-watcher queues would add 1000 x 5000 changes (over 100 MiB).
	if grew := int64(after) - int64(withSubs); grew > 24<<20 {
		t.Fatalf("5000 writes with 1000 stalled watchers grew the heap by %d MiB", grew>>20)
	}
	t.Logf("heap: %d KiB, %d KiB with 1000 subscriptions, %d KiB after 5000 writes of 1 KiB",
		base>>10, withSubs>>10, after>>10)
	// It gets them in batches, in order, each change once.
	var got []Change
	for len(got) < 5000 {
		changes, err := subs[0].Next(ctx)
		if err != nil || len(changes) == 0 || len(changes) > maxBatch {
			t.Fatalf("after %d changes, a batch of %d (%v); want 1 to %d", len(got), len(changes), err, maxBatch)
		}
		got = append(got, changes...)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Stamp <= got[i-1].Stamp {
			t.Fatalf("change %d out of order or repeated: stamp %d after %d", i, got[i].Stamp, got[i-1].Stamp)
		}
	}
	if len(got) != 5000 {
		t.Fatalf("a stalled watcher that reads at last gets %d changes, want 5000", len(got))
	}
	for _, s := range subs {
		s.Cancel()
	}
	if n := st.WatchStats().Subscriptions; n != 0 {
		t.Fatalf("%d subscriptions left after cancelling all", n)
	}
}

// A watcher of keys that rarely change is not cut off because other keys
// changed more often than the history holds: only its own changes count.
func TestQuietSubscriptionSurvivesBusyOtherKeys(t *testing.T) {
	ctx := context.Background()
	st, err := Open("", "n1", nil, WithHistoryBytes(256<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	quiet, _, err := st.Subscribe([]string{"quiet/"}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Cancel()
	put := func(key string) {
		if _, err := st.Update(ctx, func(tx *Txn) error { tx.Put(key, make([]byte, 1024)); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		for i := range 3 * ringSize {
			put(fmt.Sprintf("busy/%d", i%500))
		}
		put(fmt.Sprintf("quiet/%d", round))
		for i := range 50 { // fewer than the history holds
			put(fmt.Sprintf("busy/%d", i))
		}
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		changes, err := quiet.Next(tctx)
		cancel()
		if err != nil || len(changes) != 1 || changes[0].New.Key != fmt.Sprintf("quiet/%d", round) {
			t.Fatalf("round %d: the quiet watcher got %d changes, %v", round, len(changes), err)
		}
	}
	// But a waiting change pushed out of the history ends it.
	put("quiet/lost")
	for i := range 3 * ringSize {
		put(fmt.Sprintf("busy/%d", i%500))
	}
	if _, err := quiet.Next(ctx); !errors.Is(err, ErrSubscriptionOverflow) {
		t.Fatalf("a watcher whose change left the history got %v, want ErrSubscriptionOverflow", err)
	}
	if st.WatchStats().Overflows == 0 {
		t.Fatal("the overflow was not counted")
	}
}
