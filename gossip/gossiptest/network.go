package gossiptest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/shoal-dev/shoal/gossip"
)

// ErrPartitioned is what a pull across a partition fails with.
var ErrPartitioned = errors.New("gossiptest: partitioned")

// network knows which member each address belongs to and which members
// are cut off from each other.
type network struct {
	mu     sync.Mutex
	names  map[string]string // gossip or API address -> member
	groups map[string]int    // member -> group, while partitioned
}

func newNetwork() *network { return &network{names: map[string]string{}} }

func (n *network) name(addr, member string) {
	n.mu.Lock()
	n.names[addr] = member
	n.mu.Unlock()
}

// blocked reports whether traffic between member and the owner of addr is cut.
func (n *network) blocked(member, addr string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.groups == nil {
		return false
	}
	other, ok := n.names[addr]
	if !ok {
		return false
	}
	g1, ok1 := n.groups[member]
	g2, ok2 := n.groups[other]
	return ok1 && ok2 && g1 != g2
}

// Partition cuts all gossip and pulls between the groups; members in no
// group keep talking to everyone.
func (c *Cluster) Partition(groups ...[]*Member) {
	g := map[string]int{}
	for i, ms := range groups {
		for _, m := range ms {
			g[m.Name] = i
		}
	}
	c.net.mu.Lock()
	c.net.groups = g
	c.net.mu.Unlock()
}

// Heal ends the partition.
func (c *Cluster) Heal() {
	c.net.mu.Lock()
	c.net.groups = nil
	c.net.mu.Unlock()
}

// fetcher is the HTTP fetcher, failing across a partition.
type fetcher struct {
	inner gossip.Fetcher
	from  string
	net   *network
}

func (f *fetcher) PullRecords(ctx context.Context, p gossip.Peer, keys []string) ([]*gossip.Record, error) {
	if f.net.blocked(f.from, p.APIAddr) {
		return nil, fmt.Errorf("pull from %s: %w", p.Name, ErrPartitioned)
	}
	return f.inner.PullRecords(ctx, p, keys)
}

func (f *fetcher) PullDigest(ctx context.Context, p gossip.Peer, buckets int, which []int) ([]gossip.DigestEntry, error) {
	if f.net.blocked(f.from, p.APIAddr) {
		return nil, fmt.Errorf("digest from %s: %w", p.Name, ErrPartitioned)
	}
	return f.inner.PullDigest(ctx, p, buckets, which)
}
