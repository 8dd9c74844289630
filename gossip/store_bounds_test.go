package gossip

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A record stamped beyond now + the maximum offset is never stored: such a
// record (2^64-1, say) could never be overwritten nor deleted.
func TestApplyRefusesRecordsBeyondTheClockBound(t *testing.T) {
	ctx := context.Background()
	st := testStore(t, "n1")
	now := st.Clock().Now()
	future := []*Record{
		{Key: "a", Version: Version{Time: math.MaxUint64, Node: "evil"}, Value: []byte("x")},
		{Key: "b", Version: Version{Time: pack(time.Now().Add(time.Hour).UnixMilli()), Node: "ahead"}, Value: []byte("x")},
	}
	got, err := st.Apply(ctx, future)
	if err != nil || len(got) != 0 || st.Get("a") != nil || st.Get("b") != nil {
		t.Fatalf("records beyond the bound applied: %v %v", got, err)
	}
	if st.Clock().Last() > st.Clock().Bound() {
		t.Fatal("the clock followed a refused record")
	}
	ok := &Record{Key: "c", Version: Version{Time: now + 10, Node: "n2"}, Value: []byte("x")}
	if got, _ := st.Apply(ctx, []*Record{ok}); len(got) != 1 {
		t.Fatal("a record within the bound was refused")
	}
	// A local write after a refused future record still wins everywhere.
	w, err := st.Update(ctx, func(tx *Txn) error { tx.Put("a", []byte("mine")); return nil })
	if err != nil || w[0].Version.Time >= math.MaxUint64/2 {
		t.Fatalf("local write: %v %v", w, err)
	}
}

// Records persisted with a version beyond the clock bound (the host's
// clock was set back, or the records were forged before this check
// existed) make Open fail with a clear error, unless asked to drop them.
func TestOpenRefusesOrDropsFutureRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	wall := time.Now().Add(time.Hour) // the clock ran an hour ahead
	st, err := Open(path, "n1", nil, withClock(func() time.Time { return wall }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Update(ctx, func(tx *Txn) error { tx.Put("ahead", []byte("x")); return nil }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	// Seed a record that is fine too, written with the right clock.
	st, err = Open(path, "n1", nil, WithDropFutureRecords(), withClock(func() time.Time { return wall }))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()

	_, err = Open(path, "n1", nil)
	var fe *FutureRecordsError
	if !errors.As(err, &fe) || fe.Count != 1 || fe.Newest.Node != "n1" {
		t.Fatalf("Open with a record an hour ahead: %v, want a FutureRecordsError", err)
	}
	t.Log(err)
	for _, want := range []string{`"ahead"`, "--drop-future-records", "NTP"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	st, err = Open(path, "n1", nil, WithDropFutureRecords())
	if err != nil {
		t.Fatal(err)
	}
	if st.Get("ahead") != nil {
		t.Fatal("the future record is still there after dropping")
	}
	if _, err := st.Update(ctx, func(tx *Txn) error { tx.Put("now", []byte("x")); return nil }); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = Open(path, "n1", nil) // deleted from disk too
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Get("ahead") != nil || st.Get("now") == nil {
		t.Fatal("the drop was not persisted")
	}
}

// A watcher that stops reading while many writes happen is closed with
// ErrSubscriptionOverflow; its queue never grows beyond the bounds and is
// released, and the writers never wait for it.
func TestStalledSubscriptionOverflows(t *testing.T) {
	ctx := context.Background()
	st, err := Open("", "n1", nil, WithSubscriptionLimits(100, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stalled, _, err := st.Subscribe([]string{"k/"}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	reader, _, err := st.Subscribe([]string{"k/"}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Cancel()
	seen := 0
	for i := range 1000 {
		if _, err := st.Update(ctx, func(tx *Txn) error { tx.Put(fmt.Sprintf("k/%d", i%10), []byte("v")); return nil }); err != nil {
			t.Fatal(err)
		}
		st.mu.RLock()
		n := stalled.waiting
		st.mu.RUnlock()
		if n > 100 {
			t.Fatalf("%d changes wait for a stalled watcher, bound 100", n)
		}
		if i%50 == 0 { // a watcher that keeps up is never cut off
			chs, err := reader.Next(ctx)
			if err != nil {
				t.Fatalf("a reading watcher was closed: %v", err)
			}
			seen += len(chs)
		}
	}
	if _, err := stalled.Next(ctx); !errors.Is(err, ErrSubscriptionOverflow) {
		t.Fatalf("stalled watcher got %v, want ErrSubscriptionOverflow", err)
	}
	st.mu.RLock()
	_, still := st.subs[stalled]
	st.mu.RUnlock()
	if still {
		t.Fatal("the overflowed subscription is still registered")
	}
	if seen == 0 {
		t.Fatal("the reading watcher saw nothing")
	}

	// The byte bound: a few large values overflow a queue that has room
	// for many changes.
	big, _, _ := st.Subscribe([]string{"b/"}, 0, false)
	for i := range 3 {
		st.Update(ctx, func(tx *Txn) error { tx.Put(fmt.Sprintf("b/%d", i), make([]byte, 600<<10)); return nil })
	}
	if _, err := big.Next(ctx); !errors.Is(err, ErrSubscriptionOverflow) {
		t.Fatalf("byte bound: got %v", err)
	}
}

// Memory stays bounded with the default limits: a stalled watcher over
// 100 000 writes holds no more than its queue bound.
func TestStalledSubscriptionMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("100 000 writes")
	}
	ctx := context.Background()
	st := testStore(t, "n1")
	sub, _, err := st.Subscribe([]string{"k/"}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 1024)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	write := func(n int) {
		for i := range n {
			v := append([]byte(nil), value...) // a new value each time, as a real write
			if _, err := st.Update(ctx, func(tx *Txn) error { tx.Put(fmt.Sprintf("k/%d", i%100), v); return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(10_000)
	before := heap()
	write(100_000)
	after := heap()
	// The ring (8192 changes of 1 KiB values) and the store are the same
	// before and after; an unbounded queue would hold 100 MiB more.
	if after > before+16<<20 {
		t.Fatalf("heap grew from %d to %d MiB with a stalled watcher", before>>20, after>>20)
	}
	if _, err := sub.Next(ctx); !errors.Is(err, ErrSubscriptionOverflow) {
		t.Fatalf("got %v, want ErrSubscriptionOverflow", err)
	}
	t.Logf("heap %d KiB before, %d KiB after 100 000 writes with a stalled watcher", before>>10, after>>10)
}
