package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// fakeTable is a routing table in memory.
type fakeTable struct {
	mu      sync.Mutex
	owned   map[netip.Prefix]netip.Addr
	devs    map[netip.Prefix]int
	foreign map[netip.Prefix]bool
	// onLink are the addresses direct reports as directly connected.
	onLink map[netip.Addr]bool
	vx     *fakeVXLAN
	failOn netip.Prefix // replace of this destination fails
	closed bool
	// replaced counts the routes replaced, by destination.
	replaced map[netip.Prefix]int
}

func (f *fakeTable) list() (map[netip.Prefix]nextHop, map[netip.Prefix]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	owned, foreign := map[netip.Prefix]nextHop{}, map[netip.Prefix]bool{}
	for k, v := range f.owned {
		owned[k] = nextHop{gw: v, dev: f.devs[k]}
	}
	for k, v := range f.foreign {
		foreign[k] = v
	}
	return owned, foreign, nil
}

func (f *fakeTable) replace(r route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.dst == f.failOn {
		return errors.New("network is unreachable")
	}
	f.owned[r.dst] = r.gw
	if f.replaced == nil {
		f.replaced = map[netip.Prefix]int{}
	}
	f.replaced[r.dst]++
	if f.devs == nil {
		f.devs = map[netip.Prefix]int{}
	}
	f.devs[r.dst] = r.dev
	return nil
}

func (f *fakeTable) remove(dst netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.owned, dst)
	return nil
}

func (f *fakeTable) direct(addr netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.onLink[addr]
}

func (f *fakeTable) vxlan(VXLANConfig) vxlanDevice {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.vx == nil {
		f.vx = &fakeVXLAN{}
	}
	return f.vx
}

func (f *fakeTable) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
}

func (f *fakeTable) routes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, dst := range sortedPrefixes(f.owned) {
		line := dst.String() + " via " + f.owned[dst].String()
		switch {
		case f.devs[dst] != 0 && !f.owned[dst].IsValid():
			line = fmt.Sprintf("%s dev %d", dst, f.devs[dst])
		case f.devs[dst] != 0:
			line += fmt.Sprintf(" dev %d onlink", f.devs[dst])
		}
		out = append(out, line)
	}
	return out
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// startRouter runs a Router on table, following store, until the test ends.
func startRouter(t *testing.T, store NodeSource, open func(string) (routeTable, error), netns string) {
	t.Helper()
	r, err := NewRouter(RouterConfig{Node: "a", ClusterCIDR: mustCIDR(t, "10.244.0.0/16"), Log: testLog(t),
		Resync: 100 * time.Millisecond, NetNS: netns})
	if err != nil {
		t.Fatal(err)
	}
	if open != nil {
		r.open = open
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, store) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestRouterFollowsNodes(t *testing.T) {
	store := testStore(t)
	table := &fakeTable{owned: map[netip.Prefix]netip.Addr{netip.MustParsePrefix("10.244.8.0/24"): netip.MustParseAddr("10.98.0.8")},
		foreign: map[netip.Prefix]bool{netip.MustParsePrefix("10.244.9.0/24"): true}}
	addNode(t, store, "a", "10.244.0.0/24", "10.98.0.1")
	addNode(t, store, "b", "10.244.1.0/24", "10.98.0.2")
	startRouter(t, store, func(string) (routeTable, error) { return table, nil }, "")

	expect := func(what string, want ...string) {
		t.Helper()
		poll.Cond(t, 10*time.Second, what, func() bool { return slices.Equal(table.routes(), want) })
	}
	// A stale route of ours (10.244.8.0/24, no such node) goes at once.
	expect("routes of the start", "10.244.1.0/24 via 10.98.0.2")

	addNode(t, store, "c", "10.244.2.0/24", "10.98.0.3")
	expect("a new node's route", "10.244.1.0/24 via 10.98.0.2", "10.244.2.0/24 via 10.98.0.3")

	n := getNode(t, store, "c")
	n.Status.Addresses[0].Address = "10.98.0.33"
	if _, err := store.UpdateStatus(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	expect("the route replaced after the address changed", "10.244.1.0/24 via 10.98.0.2", "10.244.2.0/24 via 10.98.0.33")

	// Claiming a subnet someone else routes: left alone.
	addNode(t, store, "d", "10.244.9.0/24", "10.98.0.4")
	if _, err := store.Delete(context.Background(), api.KindNode, "", "b", api.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("the deleted node's route removed", "10.244.2.0/24 via 10.98.0.33")

	// A failing route is retried at the next resync.
	table.mu.Lock()
	table.failOn = netip.MustParsePrefix("10.244.5.0/24")
	table.mu.Unlock()
	addNode(t, store, "e", "10.244.5.0/24", "10.98.0.5")
	time.Sleep(150 * time.Millisecond)
	table.mu.Lock()
	table.failOn = netip.Prefix{}
	table.mu.Unlock()
	expect("the failed route after a resync", "10.244.2.0/24 via 10.98.0.33", "10.244.5.0/24 via 10.98.0.5")
}

func TestRouterOpenError(t *testing.T) {
	r, err := NewRouter(RouterConfig{Node: "a", ClusterCIDR: mustCIDR(t, "10.244.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	r.open = func(string) (routeTable, error) { return nil, ErrUnsupported }
	if err := r.Run(testContext(t), testStore(t)); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Run = %v, want the open error", err)
	}
	if _, err := NewRouter(RouterConfig{Node: "a"}); !errors.Is(err, ErrInvalidCIDR) {
		t.Fatalf("NewRouter without a cluster CIDR: %v", err)
	}
}
