package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/resourceusage"
	"github.com/shoal-dev/shoal/daemon/trust/identity"
	"github.com/shoal-dev/shoal/gossip"
)

// The resource metrics API (metrics.k8s.io) answers for the whole
// cluster from any agent. Each agent samples its own pods and node
// (resourceusage.Sampler, every 10 s) and serves its last round to the
// other agents on the internal endpoint below; a request gathers the
// rounds of every live member at once. Asking at request time keeps no
// copy of other nodes' readings and no replication of fast-changing
// numbers through the store.
const usagePath = internalPrefix + "resource-usage"

const (
	// usageTimeout bounds the wait for one peer's answer: a node that
	// does not answer in time is left out of the answer.
	usageTimeout = 3 * time.Second
	// maxUsageBytes bounds one peer's answer (about 300 bytes a pod).
	maxUsageBytes = 32 << 20
	// usagePeersParallel bounds the peers asked at once.
	usagePeersParallel = 8
	// usageCacheFor is how long a gathered round answers again: requests
	// and autoscalers arriving together ask the peers once. Agents sample
	// every 10 s, so the answer is hardly older.
	usageCacheFor = 2 * time.Second
)

// clusterUsage is the cluster's resource usage, for the API server and
// the autoscaler controller.
type clusterUsage struct {
	node  string
	local atomic.Pointer[resourceusage.Sampler] // nil until the engine answers
	cl    *gossip.Cluster
	live  *identity.Live
	log   *slog.Logger

	clients sync.Map // node name -> *http.Client

	gathering singleflight.Group
	mu        sync.Mutex
	cached    []resourceusage.Snapshot
	cachedAt  time.Time
}

// serve answers another agent with this node's last round.
func (c *clusterUsage) serve(w http.ResponseWriter, _ *http.Request) {
	snap := resourceusage.Snapshot{Node: c.node}
	if s := c.local.Load(); s != nil {
		snap = s.Snapshot()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(snap)
}

// snapshots returns the last round of every live agent, gathered at most
// usageCacheFor ago; concurrent callers share one gathering.
func (c *clusterUsage) snapshots(ctx context.Context) []resourceusage.Snapshot {
	c.mu.Lock()
	if c.cached != nil && time.Since(c.cachedAt) < usageCacheFor {
		s := c.cached
		c.mu.Unlock()
		return s
	}
	c.mu.Unlock()
	v, _, _ := c.gathering.Do("", func() (any, error) {
		// Not bound to the first caller's request: the others share the
		// answer. Each peer's answer is bounded by usageTimeout.
		s := c.gather(context.WithoutCancel(ctx))
		c.mu.Lock()
		c.cached, c.cachedAt = s, time.Now()
		c.mu.Unlock()
		return s, nil
	})
	return v.([]resourceusage.Snapshot)
}

// gather asks every live agent for its last round, this one first. A peer
// that fails is logged and left out.
func (c *clusterUsage) gather(ctx context.Context) []resourceusage.Snapshot {
	out := []resourceusage.Snapshot{}
	if s := c.local.Load(); s != nil {
		out = append(out, s.Snapshot())
	}
	var peers []gossip.Member
	for _, m := range c.cl.Members() {
		if m.Name != c.node && m.State == gossip.StateAlive {
			peers = append(peers, m)
		}
	}
	got := make([]*resourceusage.Snapshot, len(peers))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(usagePeersParallel)
	for i, m := range peers {
		g.Go(func() error {
			snap, err := c.ask(gctx, m)
			if err != nil {
				c.log.Debug("resource usage of a peer", "node", m.Name, "err", err)
				return nil
			}
			got[i] = snap
			return nil
		})
	}
	_ = g.Wait()
	for _, s := range got {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}

func (c *clusterUsage) ask(ctx context.Context, m gossip.Member) (*resourceusage.Snapshot, error) {
	cli, ok := c.clients.Load(m.Name)
	if !ok {
		cli, _ = c.clients.LoadOrStore(m.Name, peerClient(c.live, m.Name, usageTimeout))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+m.Addr+usagePath, nil)
	if err != nil {
		return nil, err
	}
	resp, err := cli.(*http.Client).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var snap resourceusage.Snapshot
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxUsageBytes)).Decode(&snap); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	// A peer speaks for itself only.
	if snap.Node != m.Name {
		return nil, fmt.Errorf("answered for node %q", snap.Node)
	}
	if snap.NodeUsage != nil && snap.NodeUsage.Name != m.Name {
		snap.NodeUsage = nil
	}
	return &snap, nil
}

// PodMetrics is the last usage of every pod of the cluster.
func (c *clusterUsage) PodMetrics(ctx context.Context) ([]api.PodMetrics, error) {
	var out []api.PodMetrics
	for _, s := range c.snapshots(ctx) {
		out = append(out, s.Pods...)
	}
	return out, nil
}

// NodeMetrics is the last usage of every node of the cluster.
func (c *clusterUsage) NodeMetrics(ctx context.Context) ([]api.NodeMetrics, error) {
	var out []api.NodeMetrics
	for _, s := range c.snapshots(ctx) {
		if s.NodeUsage != nil {
			out = append(out, *s.NodeUsage)
		}
	}
	return out, nil
}
