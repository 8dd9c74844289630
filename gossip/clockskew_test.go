package gossip_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/gossip/gossiptest"
	"github.com/shoal-dev/shoal/internal/poll"
)

func memberOf(t *testing.T, m *gossiptest.Member, name string) gossip.Member {
	t.Helper()
	for _, x := range m.Cluster().Members() {
		if x.Name == name {
			return x
		}
	}
	t.Fatalf("%s does not know %s", m.Name, name)
	return gossip.Member{}
}

func value(m *gossiptest.Member, key string) string {
	if r := m.Store.Get(key); r != nil && !r.Deleted {
		return string(r.Value)
	}
	return ""
}

func tryPut(m *gossiptest.Member, key, val string) error {
	_, err := m.Store.Update(context.Background(), func(t *gossip.Txn) error {
		t.Put(key, []byte(val))
		return nil
	})
	return err
}

// An agent whose clock runs 300 s ahead: its write, stamped in the
// future, is refused by the others and counted against it; the others
// measure its clock over gossip and name it; it finds itself ahead of
// most of the cluster and refuses further writes; and its future stamp
// wins no conflict. Agents within the bound (here one 400 ms behind)
// lose no causally later write.
func TestClockSkew(t *testing.T) {
	clocks := map[string]time.Duration{"fast": 300 * time.Second, "m1": -400 * time.Millisecond}
	c := gossiptest.Empty(t, gossiptest.Options{Now: func(member string) func() time.Time {
		d := clocks[member]
		return func() time.Time { return time.Now().Add(d) }
	}})
	fast, err := c.Add("fast")
	if err != nil {
		t.Fatal(err)
	}
	// Alone, the fast agent conflicts with nobody: its write is taken,
	// stamped five minutes ahead.
	if err := tryPut(fast, "k", "from-fast"); err != nil {
		t.Fatalf("a write on an agent alone: %v", err)
	}
	m0, err := c.Add("m0", fast.Addr())
	if err != nil {
		t.Fatal(err)
	}
	m1, err := c.Add("m1", fast.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c.WaitMembers(t, 30*time.Second)

	// The others measure it and count its refused write against it.
	for _, m := range []*gossiptest.Member{m0, m1} {
		poll.Until(t, 30*time.Second, m.Name+" names the fast clock", func() error {
			f := memberOf(t, m, "fast")
			if !f.Clock.Skewed(gossip.DefaultMaxClockOffset) {
				return fmt.Errorf("reading %+v not skewed", f.Clock)
			}
			if f.FutureRefused == 0 {
				return fmt.Errorf("no refused write counted")
			}
			return nil
		})
		f := memberOf(t, m, "fast")
		if off := f.Clock.Offset; off < 299*time.Second || off > 301*time.Second {
			t.Errorf("%s measures the fast clock %s ahead, want about 300s", m.Name, off)
		}
	}
	// The fast agent learns it is the one ahead, and refuses writes.
	poll.Until(t, 30*time.Second, "the fast agent refuses writes", func() error {
		err := tryPut(fast, "k2", "from-fast-later")
		if err == nil {
			return fmt.Errorf("a write was taken")
		}
		if !errors.Is(err, gossip.ErrClockAhead) {
			t.Fatalf("refused with %v, want ErrClockAhead", err)
		}
		return nil
	})
	// m0 and m1 measure each other within the bound and go on writing.
	if r := memberOf(t, m0, "m1").Clock; r.Skewed(gossip.DefaultMaxClockOffset) {
		t.Fatalf("m0 finds m1 skewed: %+v", r)
	}

	// Causally later writes win, whichever clock is behind.
	if err := tryPut(m0, "k", "from-m0"); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 30*time.Second, "m1 has m0's write", func() bool { return value(m1, "k") == "from-m0" })
	if err := tryPut(m1, "k", "from-m1-after"); err != nil { // m1's clock is behind m0's
		t.Fatal(err)
	}
	poll.Cond(t, 30*time.Second, "m0 has m1's later write", func() bool { return value(m0, "k") == "from-m1-after" })
	if err := tryPut(m0, "k", "from-m0-last"); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 30*time.Second, "m1 has m0's last write", func() bool { return value(m1, "k") == "from-m0-last" })

	// The fast agent's write never replaced theirs: give anti-entropy a
	// few rounds to try.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range []*gossiptest.Member{m0, m1} {
			if v := value(m, "k"); v != "from-m0-last" {
				t.Fatalf("%s holds %q for k", m.Name, v)
			}
			if v := value(m, "k2"); v != "" {
				t.Fatalf("%s holds the refused write k2=%q", m.Name, v)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
