package gossip_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// A member whose store file was damaged starts on an empty store opened
// WithRebuild: it is not synced (Synced stays open) until a peer has
// brought it every record, the deleted ones included, and then it adopts
// the peer's collection horizon and stops rebuilding, for good.
func TestDamagedStoreRebuildsFromAPeer(t *testing.T) {
	c := gossiptest.Empty(t, gossiptest.Options{})
	m0, err := c.Add("m0")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		m0.Put(fmt.Sprintf("o/cm/ns/k%02d", i), fmt.Sprint(i))
	}
	m0.Delete("o/cm/ns/k00")

	// m1's file is garbage: Open says so, and it is moved aside.
	path := filepath.Join(t.TempDir(), "state.db")
	if err := os.WriteFile(path, []byte("this is not a store, it was damaged"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = gossip.Open(path, "m1", nil)
	var de *gossip.DamagedError
	if !errors.As(err, &de) {
		t.Fatalf("a garbage file: want a DamagedError, got %v", err)
	}
	if _, err := gossip.MoveAside(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	st, err := gossip.Open(path, "m1", nil, gossip.WithRebuild())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Rebuilding() {
		t.Fatal("the replacement store is not rebuilding")
	}
	m1, err := c.AddWithStore("m1", st, m0.Addr())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-m1.Cluster().Synced():
	case <-time.After(30 * time.Second):
		t.Fatal("the rebuilding member never completed a sync with its peer")
	}
	if st.Rebuilding() {
		t.Fatal("synced, yet still rebuilding")
	}
	for i := 1; i < 50; i++ {
		if r := st.Get(fmt.Sprintf("o/cm/ns/k%02d", i)); r == nil || string(r.Value) != fmt.Sprint(i) {
			t.Fatalf("k%02d after the rebuild: %v", i, r)
		}
	}
	poll.Until(t, 10*time.Second, "the tombstone rebuilt", func() error {
		if r := st.Get("o/cm/ns/k00"); r == nil || !r.Deleted {
			return fmt.Errorf("k00 is %v", r)
		}
		return nil
	})
	// Written after the rebuild, replicated both ways.
	m0.Put("o/cm/ns/after", "1")
	poll.Until(t, 10*time.Second, "a later write replicated", func() error {
		if st.Get("o/cm/ns/after") == nil {
			return errors.New("not yet")
		}
		return nil
	})
	if _, err := st.Update(context.Background(), func(tx *gossip.Txn) error { tx.Put("o/cm/ns/from-m1", []byte("x")); return nil }); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "a write of the rebuilt member replicated", func() error {
		if m0.Store.Get("o/cm/ns/from-m1") == nil {
			return errors.New("not yet")
		}
		return nil
	})
}

// Alone (nobody to join, nobody remembered), a rebuilding member is never
// marked synced: it must not act on an empty store as a founder would.
func TestRebuildingAloneIsNotSynced(t *testing.T) {
	c := gossiptest.Empty(t, gossiptest.Options{})
	st, err := gossip.Open(filepath.Join(t.TempDir(), "state.db"), "m0", nil, gossip.WithRebuild())
	if err != nil {
		t.Fatal(err)
	}
	m0, err := c.AddWithStore("m0", st)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-m0.Cluster().Synced():
		t.Fatal("a rebuilding store alone was marked synced")
	case <-time.After(2 * time.Second):
	}
}
