package gossiptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
)

const wait = 15 * time.Second

func value(m *Member, key string) (string, error) {
	r := m.Store.Get(key)
	if r == nil || r.Deleted {
		return "", fmt.Errorf("%s has no %s", m.Name, key)
	}
	return string(r.Value), nil
}

// hasValue waits until every given member holds key=want.
func hasValue(t *testing.T, key, want string, ms ...*Member) {
	t.Helper()
	poll.Until(t, wait, "condition", func() error {
		for _, m := range ms {
			got, err := value(m, key)
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%s has %s=%q, want %q", m.Name, key, got, want)
			}
		}
		return nil
	})
}

func TestWritesAtDifferentMembersConverge(t *testing.T) {
	c := New(t, 3, Options{})
	for i, m := range c.Members() {
		m.Put(fmt.Sprintf("k%d", i), m.Name)
	}
	c.Member(1).Delete("k1")
	c.WaitConverged(t, wait)
	for _, m := range c.Members() {
		if v, err := value(m, "k0"); err != nil || v != "m0" {
			t.Fatalf("%s: k0=%q %v", m.Name, v, err)
		}
		if r := m.Store.Get("k1"); r == nil || !r.Deleted {
			t.Fatalf("%s: k1 not deleted: %+v", m.Name, r)
		}
	}
	var sent int64
	for _, m := range c.Members() {
		st := m.Cluster().Stats()
		sent += st.BroadcastsQueued
		if st.Refused != 0 || st.UnknownSenders != 0 {
			t.Fatalf("%s refused its peers' own writes: %+v", m.Name, st)
		}
	}
	if sent < 4 {
		t.Fatalf("%d broadcasts queued for 4 writes", sent)
	}
	// The wire counters: gossip went by UDP, and every join's push/pull
	// over a TCP connection some member accepted.
	var packets, streamIn, streamOut int64
	for _, m := range c.Members() {
		st := m.Cluster().Stats()
		packets, streamIn, streamOut = packets+st.PacketBytesSent, streamIn+st.StreamBytesIn, streamOut+st.StreamBytesOut
	}
	if packets == 0 || streamIn == 0 || streamOut == 0 {
		t.Fatalf("bytes on the wire not counted: %d UDP sent, %d / %d TCP in / out", packets, streamIn, streamOut)
	}
	// Converged members have one state digest.
	n0, h0 := c.Member(0).Cluster().StateDigest()
	if n0 != 3 {
		t.Fatalf("m0's digest counts %d records, want 3 (two values, one tombstone)", n0)
	}
	for _, m := range c.Members()[1:] {
		if n, h := m.Cluster().StateDigest(); n != n0 || h != h0 {
			t.Fatalf("%s's digest %d/%x differs from m0's %d/%x after converging", m.Name, n, h, n0, h0)
		}
	}
	c.Member(0).Put("k9", "changed")
	if _, h := c.Member(0).Cluster().StateDigest(); h == h0 {
		t.Fatal("a write did not change the state digest")
	}
}

// A member that was down catches up by anti-entropy when it comes back,
// rejoining through the peers it remembers (no join address given).
func TestRestartedMemberCatchesUp(t *testing.T) {
	c := New(t, 3, Options{})
	m0, m2 := c.Member(0), c.Member(2)
	m0.Put("before", "1")
	c.WaitConverged(t, wait)
	m2.Stop()
	deadFor(t, m0, "m2", 0)
	for i := range 20 {
		m0.Put(fmt.Sprintf("while-down-%d", i), "x")
	}
	m0.Delete("before")
	c.WaitConverged(t, wait) // m0 and m1
	// Nothing left to gossip, and memberlist no longer gossips to m2 (dead
	// for longer than ProfileLocal's GossipToTheDeadTime, 1 s): m2 can only
	// rejoin by itself and catch up by anti-entropy.
	poll.Until(t, wait, "condition", func() error {
		for _, m := range c.Running() {
			if q := m.Cluster().Stats().Queued; q > 0 {
				return fmt.Errorf("%s has %d messages queued", m.Name, q)
			}
		}
		return nil
	})
	deadFor(t, m0, "m2", 1200*time.Millisecond)
	assertRemembers(t, m2, "m0", "m1")
	// Either side may make the join: m2 from its remembered peers, or m0
	// and m1 from their rejoin loops, which try their dead remembered
	// peers and may reach m2 the moment it listens, before m2 tries.
	othersJoins := func() int64 { return m0.Cluster().Stats().Joins + c.Member(1).Cluster().Stats().Joins }
	joinsBefore := othersJoins()
	if err := m2.Restart(); err != nil {
		t.Fatal(err)
	}
	c.WaitMembers(t, wait)
	c.WaitConverged(t, wait)
	poll.Until(t, wait, "condition", func() error { // the counters follow the apply
		st := m2.Cluster().Stats()
		if st.SyncRounds == 0 || st.RecordsPulled < 21 || (st.Joins == 0 && othersJoins() == joinsBefore) {
			return fmt.Errorf("m2 caught up without rejoining and anti-entropy? %+v (others' joins %d, %d before)", st, othersJoins(), joinsBefore)
		}
		return nil
	})
	select {
	case <-m2.Cluster().Synced():
	default:
		t.Fatal("m2 converged but does not report Synced")
	}
}

// deadFor waits until m has seen name dead (or left) for at least d.
func deadFor(t *testing.T, m *Member, name string, d time.Duration) {
	t.Helper()
	poll.Until(t, wait, "condition", func() error {
		for _, mem := range m.Cluster().Members() {
			if mem.Name == name && mem.State != gossip.StateAlive && time.Since(mem.Since) >= d {
				return nil
			}
		}
		return fmt.Errorf("%s has not seen %s dead for %s", m.Name, name, d)
	})
}

func assertRemembers(t *testing.T, m *Member, names ...string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(m.DataDir, "peers.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		LastContact time.Time
		Peers       []struct{ Name, Addr string }
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range f.Peers {
		got[p.Name] = p.Addr != ""
	}
	for _, n := range names {
		if !got[n] {
			t.Fatalf("%s's peers.json lacks %s: %s", m.Name, n, raw)
		}
	}
	if f.LastContact.IsZero() {
		t.Fatalf("%s's peers.json has no last contact", m.Name)
	}
}

// A record too large for a gossip packet is announced and pulled.
func TestLargeRecordReplicatesByPull(t *testing.T) {
	c := New(t, 3, Options{})
	big := bytes.Repeat([]byte("0123456789"), 10_000) // 100 KB
	c.Member(0).PutBytes("big", big)
	poll.Until(t, wait, "condition", func() error {
		for _, m := range c.Members() {
			r := m.Store.Get("big")
			if r == nil || !bytes.Equal(r.Value, big) {
				return fmt.Errorf("%s lacks the large record", m.Name)
			}
		}
		return nil
	})
	for _, m := range c.Members()[1:] {
		if st := m.Cluster().Stats(); st.RecordsPulled == 0 || st.Refused != 0 || st.UnknownSenders != 0 {
			t.Fatalf("%s got the large record without pulling it, or refused something: %+v", m.Name, st)
		}
	}
}

// Concurrent writes of one key on two members end with the same winner
// everywhere: the higher version.
func TestConcurrentWritesConvergeToOneWinner(t *testing.T) {
	c := New(t, 3, Options{})
	for round := range 20 {
		key := fmt.Sprintf("contended-%d", round)
		var wg sync.WaitGroup
		recs := make([]*gossip.Record, 2)
		for i := range recs {
			wg.Go(func() { recs[i] = c.Member(i).Put(key, c.Member(i).Name) })
		}
		wg.Wait()
		winner := gossip.Merge(recs[0], recs[1])
		hasValue(t, key, string(winner.Value), c.Members()...)
		for _, m := range c.Members() {
			if v := m.Store.Get(key).Version; v != winner.Version {
				t.Fatalf("round %d: %s has version %v, want %v", round, m.Name, v, winner.Version)
			}
		}
	}
}

// Both halves of a partition take writes (one key on both sides); once
// healed, all members converge. The partition lasts longer than memberlist
// gossips to dead members, so only the rejoin loop can heal it.
func TestPartitionHeals(t *testing.T) {
	c := New(t, 4, Options{})
	ms := c.Members()
	left, right := ms[:2], ms[2:]
	c.Partition(left, right)
	deadFor(t, ms[0], ms[3].Name, 0)
	deadFor(t, ms[3], ms[0].Name, 0)
	ms[0].Put("left", "L")
	ms[3].Put("right", "R")
	ms[1].Put("both", "from-left")
	ms[2].Put("both", "from-right")
	poll.Until(t, wait, "condition", func() error { return Converged(left...) })
	poll.Until(t, wait, "condition", func() error { return Converged(right...) })
	// Past ProfileLocal's GossipToTheDeadTime (1 s) on every member.
	for _, a := range left {
		for _, b := range right {
			deadFor(t, a, b.Name, 1200*time.Millisecond)
			deadFor(t, b, a.Name, 1200*time.Millisecond)
		}
	}
	joinsBefore := int64(0)
	for _, m := range ms {
		joinsBefore += m.Cluster().Stats().Joins
	}
	c.Heal()
	c.WaitMembers(t, wait)
	c.WaitConverged(t, wait)
	hasValue(t, "left", "L", ms...)
	hasValue(t, "right", "R", ms...)
	joinsAfter := int64(0)
	for _, m := range ms {
		joinsAfter += m.Cluster().Stats().Joins
	}
	if joinsAfter == joinsBefore {
		t.Fatal("healed without the rejoin loop?")
	}
}

func TestDuplicateNameRefused(t *testing.T) {
	c := New(t, 2, Options{})
	m0, m1 := c.Member(0), c.Member(1)
	dup, err := c.Add("m1", m0.Addr())
	if err != nil {
		t.Fatalf("Start must not block or fail on joining: %v", err)
	}
	select {
	case <-dup.Cluster().Done():
	case <-time.After(wait):
		t.Fatal("the duplicate was not refused")
	}
	if err := dup.Cluster().Err(); !errors.Is(err, gossip.ErrNameInUse) {
		t.Fatalf("got %v, want ErrNameInUse", err)
	}
	t.Logf("refused with: %v", dup.Cluster().Err())
	if _, err := dup.Cluster().Join(m1.Addr()); !errors.Is(err, gossip.ErrNameInUse) {
		t.Fatalf("Join: got %v, want ErrNameInUse", err)
	}
	dup.Stop()
	for _, m := range []*Member{m0, m1} {
		for _, mem := range m.Cluster().Members() {
			if mem.Name == "m1" && (mem.Addr != m1.Addr() || mem.State != gossip.StateAlive) {
				t.Fatalf("%s sees m1 as %+v, want alive at %s", m.Name, mem, m1.Addr())
			}
		}
	}
}

func TestLeaveIsSeenAsLeft(t *testing.T) {
	c := New(t, 3, Options{})
	c.Member(2).Leave()
	poll.Until(t, wait, "condition", func() error {
		for _, m := range c.Member(0).Cluster().Members() {
			if m.Name == "m2" && m.State == gossip.StateLeft {
				return nil
			}
		}
		return errors.New("m0 does not see m2 left")
	})
	c.Member(1).Stop()
	poll.Until(t, wait, "condition", func() error {
		for _, m := range c.Member(0).Cluster().Members() {
			if m.Name == "m1" && m.State == gossip.StateDead {
				return nil
			}
		}
		return errors.New("m0 does not see m1 dead")
	})
	if since := c.Member(0).Cluster().StableSince(); time.Since(since) > wait {
		t.Fatalf("StableSince %v did not move", since)
	}
}

// An agent away for longer than the tombstone retention must not bring
// back what was deleted meanwhile, nor lose what it wrote while away.
func TestLongAbsenceDoesNotResurrect(t *testing.T) {
	const retention = 50 * time.Millisecond
	ctx := context.Background()
	c := New(t, 3, Options{Retention: retention})
	m0, m1, m2 := c.Member(0), c.Member(1), c.Member(2)
	m0.Put("gone", "1")
	m0.Put("kept", "1")
	c.WaitConverged(t, wait)
	m2.Stop()
	m0.Delete("gone")
	c.WaitConverged(t, wait)
	poll.Until(t, wait, "condition", func() error {
		for _, m := range []*Member{m0, m1} {
			if _, err := m.Store.CollectTombstones(ctx, retention); err != nil {
				return err
			}
			if m.Store.Get("gone") != nil {
				return fmt.Errorf("%s still has the tombstone", m.Name)
			}
		}
		return nil
	})
	m2.Put("written-away", "1")
	if _, err := value(m2, "gone"); err != nil {
		t.Fatal("m2 should still hold the deleted record")
	}
	if err := m2.Restart(); err != nil {
		t.Fatal(err)
	}
	hasValue(t, "written-away", "1", m0, m1, m2)
	hasValue(t, "kept", "1", m0, m1, m2)
	poll.Until(t, wait, "condition", func() error {
		if _, err := value(m2, "gone"); err == nil {
			return errors.New("m2 still holds the deleted record")
		}
		return nil
	})
	for _, m := range []*Member{m0, m1} {
		if r := m.Store.Get("gone"); r != nil && !r.Deleted {
			t.Fatalf("%s: the deleted record came back", m.Name)
		}
	}
	if st := m2.Cluster().Stats(); st.Forgotten == 0 {
		t.Fatalf("m2 forgot nothing: %+v", st)
	}
}

func TestMembersCarryMetadata(t *testing.T) {
	c := New(t, 2, Options{})
	for _, m := range c.Member(0).Cluster().Members() {
		want := c.Member(0)
		if m.Name == "m1" {
			want = c.Member(1)
		}
		if m.APIAddr != want.APIAddr || m.Addr != want.Addr() || m.Meta.Version != "test" || m.Since.IsZero() {
			t.Fatalf("member %+v, want API %s at %s", m, want.APIAddr, want.Addr())
		}
	}
}

// A whole cluster stopped for longer than the retention (a long weekend)
// comes back with everything: being away alone is no reason to forget.
func TestWholeClusterRestartAfterRetentionKeepsRecords(t *testing.T) {
	ctx := context.Background()
	c := New(t, 3, Options{Retention: 10 * time.Millisecond})
	ms := c.Members()
	ms[0].Put("a", "1")
	ms[1].Put("b", "1")
	ms[2].Put("gone", "1")
	ms[2].Delete("gone")
	c.WaitConverged(t, wait)
	for _, m := range ms {
		m.Stop()
	}
	poll.Until(t, wait, "condition", func() error {
		for _, m := range ms {
			if _, err := m.Store.CollectTombstones(ctx, 10*time.Millisecond); err != nil {
				return err
			}
			if m.Store.Horizon() == 0 {
				return fmt.Errorf("%s collected nothing yet", m.Name)
			}
		}
		return nil
	})
	for _, m := range ms {
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitMembers(t, wait)
	c.WaitConverged(t, wait)
	hasValue(t, "a", "1", ms...)
	hasValue(t, "b", "1", ms...)
	for _, m := range ms {
		if n := m.Cluster().Stats().Forgotten; n != 0 {
			t.Fatalf("%s forgot %d records", m.Name, n)
		}
	}
}

// A member catching up on more than one answer can hold (12 records of
// 1.5 MiB, past gossip.MaxAnswer) gets them all: each answer stops at the
// bound and the puller asks again for the rest.
func TestCatchUpBeyondOneAnswer(t *testing.T) {
	c := New(t, 2, Options{})
	m0, m1 := c.Member(0), c.Member(1)
	m1.Stop()
	value := bytes.Repeat([]byte("v"), 1536<<10)
	for i := range 12 {
		m0.PutBytes(fmt.Sprintf("big-%02d", i), value)
	}
	if err := m1.Restart(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, wait, "condition", func() error {
		for i := range 12 {
			if r := m1.Store.Get(fmt.Sprintf("big-%02d", i)); r == nil || len(r.Value) != len(value) {
				return fmt.Errorf("m1 lacks big-%02d", i)
			}
		}
		return nil
	})
	st := m1.Cluster().Stats()
	if st.Refused != 0 || st.Pulls < 3 {
		t.Fatalf("catching up on 18 MiB took %d pulls (want a digest and 2 or more record pulls), refused %d", st.Pulls, st.Refused)
	}
}
