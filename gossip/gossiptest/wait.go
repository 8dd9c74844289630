package gossiptest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
)

// WaitMembers waits until every running member sees every running member
// alive.
func (c *Cluster) WaitMembers(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	poll.Until(tb, timeout, "members agree", c.MembersAgree)
}

// MembersAgree checks once that every running member sees exactly the
// running members alive.
func (c *Cluster) MembersAgree() error {
	running := c.Running()
	want := make([]string, 0, len(running))
	for _, m := range running {
		want = append(want, m.Name)
	}
	sort.Strings(want)
	for _, m := range running {
		cl := m.Cluster()
		if cl == nil {
			continue
		}
		if got := AliveNames(cl); !slices.Equal(got, want) {
			return fmt.Errorf("%s sees %d alive %v, want %d", m.Name, len(got), abbreviate(got), len(want))
		}
	}
	return nil
}

// AliveNames returns the sorted names of the members cl sees alive.
func AliveNames(cl *gossip.Cluster) []string {
	var out []string
	for _, m := range cl.Members() {
		if m.State == gossip.StateAlive {
			out = append(out, m.Name)
		}
	}
	return out
}

func abbreviate(names []string) string {
	if len(names) > 8 {
		return strings.Join(names[:8], ",") + ",..."
	}
	return strings.Join(names, ",")
}

// WaitConverged waits until the stores of all running members hold the
// same records (keys, versions, tombstones).
func (c *Cluster) WaitConverged(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	poll.Until(tb, timeout, "stores converged", func() error { return Converged(c.Running()...) })
}

// Converged checks once that the members' stores hold the same records.
func Converged(ms ...*Member) error {
	if len(ms) < 2 {
		return nil
	}
	want := Digest(ms[0].Store)
	for _, m := range ms[1:] {
		got := Digest(m.Store)
		if d := diff(want, got); d != "" {
			return fmt.Errorf("%s and %s differ: %s", ms[0].Name, m.Name, d)
		}
	}
	return nil
}

// State is one key's version, whether it is a tombstone, and its content
// sum (a store with a Merger may hold two contents at one version).
type State struct {
	Version gossip.Version
	Deleted bool
	Sum     uint64
}

// Digest returns every record's state, tombstones included.
func Digest(st *gossip.Store) map[string]State {
	out := map[string]State{}
	st.All(func(r *gossip.Record) { out[r.Key] = State{Version: r.Version, Deleted: r.Deleted, Sum: r.Sum()} })
	return out
}

func diff(a, b map[string]State) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			out = append(out, fmt.Sprintf("%s only in the first", k))
		} else if v != w {
			out = append(out, fmt.Sprintf("%s: %v/%v/%x vs %v/%v/%x", k, v.Version, v.Deleted, v.Sum, w.Version, w.Deleted, w.Sum))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, fmt.Sprintf("%s only in the second", k))
		}
	}
	sort.Strings(out)
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return strings.Join(out, "; ")
}
