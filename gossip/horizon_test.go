package gossip

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// After collecting a tombstone, the store refuses the deleted key at an
// older version (a resurrection), but still takes newer writes of it, and
// remembers its horizon across a restart.
func TestHorizonRefusesResurrection(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st, err := Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	old, _ := st.Update(ctx, func(tx *Txn) error { tx.Put("k", []byte("v1")); return nil })
	del, _ := st.Update(ctx, func(tx *Txn) error { tx.Delete("k"); return nil })
	if st.Horizon() != 0 {
		t.Fatal("horizon before any collection")
	}
	if n, err := st.CollectTombstones(ctx, -time.Second); n != 1 || err != nil {
		t.Fatalf("collected %d: %v", n, err)
	}
	if st.Horizon() != del[0].Version.Time {
		t.Fatalf("horizon %d, want the collected tombstone's time %d", st.Horizon(), del[0].Version.Time)
	}
	if got, _ := st.Apply(ctx, old); len(got) != 0 || st.Get("k") != nil {
		t.Fatal("a record older than the horizon came back")
	}
	st.Close()

	st, err = Open(path, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Horizon() != del[0].Version.Time {
		t.Fatalf("horizon after reopening: %d", st.Horizon())
	}
	if got, _ := st.Apply(ctx, old); len(got) != 0 {
		t.Fatal("a record older than the persisted horizon came back")
	}
	newer := &Record{Key: "k", Version: Version{Time: st.Horizon() + 1, Node: "n2"}, Value: []byte("v2")}
	if got, _ := st.Apply(ctx, []*Record{newer}); len(got) != 1 {
		t.Fatal("a write newer than the horizon was refused")
	}
}
