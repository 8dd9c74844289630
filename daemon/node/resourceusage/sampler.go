package resourceusage

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// DefaultInterval is how often a Sampler reads the counters: the
// kubelet's resource metrics are as fresh (10-15 s), and the autoscaler
// syncs every 15 s.
const DefaultInterval = 10 * time.Second

// statsParallel bounds the stats calls in flight to the engine.
const statsParallel = 4

// Engine is what a Sampler needs of the engine.
type Engine interface {
	ListContainers(ctx context.Context, labels map[string]string) ([]engine.Summary, error)
	engine.ContainerStatser
}

// Config sets up a Sampler.
type Config struct {
	Node     string
	Engine   Engine
	Interval time.Duration // DefaultInterval when zero
	// ProcRoot is where the host's /proc is read for the node's usage;
	// "/proc" when empty, "-" for no node usage (simulated nodes).
	ProcRoot string
	Log      *slog.Logger
	Now      func() time.Time
}

// Snapshot is the last round of readings of one node.
type Snapshot struct {
	Node string           `json:"node"`
	Pods []api.PodMetrics `json:"pods"`
	// NodeUsage is nil until the node has been read twice.
	NodeUsage *api.NodeMetrics `json:"nodeUsage,omitempty"`
}

// Sampler measures the node's pods and the node itself every interval.
type Sampler struct {
	cfg Config

	// prev are the last readings, by container id, and of the node; only
	// Run touches them. Containers gone are dropped every round.
	prev     map[string]engine.ContainerStats
	prevNode *engine.ContainerStats

	mu   sync.RWMutex
	snap Snapshot
}

// New makes a Sampler; Run starts it.
func New(cfg Config) *Sampler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sampler{cfg: cfg, prev: map[string]engine.ContainerStats{}, snap: Snapshot{Node: cfg.Node}}
}

// Snapshot returns the last round; its slices are shared and must not be
// changed.
func (s *Sampler) Snapshot() Snapshot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap
}

// Run samples until ctx ends: once at once, once more after two seconds
// (so that rates exist soon after the agent starts), then every interval.
func (s *Sampler) Run(ctx context.Context) {
	s.Sample(ctx)
	wait := 2 * time.Second
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s.Sample(ctx)
		wait = s.cfg.Interval
	}
}

// reading is one container's counters with what names it.
type reading struct {
	id, ns, pod, uid, container string
	stats                       engine.ContainerStats
}

// Sample reads every running pod container and the node once, and
// replaces the snapshot.
func (s *Sampler) Sample(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Interval)
	defer cancel()
	list, err := s.cfg.Engine.ListContainers(ctx, map[string]string{engine.LabelNode: s.cfg.Node, engine.LabelPodUID: ""})
	if err != nil {
		if ctx.Err() == nil {
			s.cfg.Log.Warn("listing containers for resource usage", "err", err)
		}
		return
	}
	var rs []*reading
	for _, c := range list {
		l := c.Labels
		if c.State != "running" || l[engine.LabelContainer] == engine.SandboxContainerName || l[engine.LabelContainer] == "" {
			continue
		}
		rs = append(rs, &reading{id: c.ID, ns: l[engine.LabelPodNamespace], pod: l[engine.LabelPodName],
			uid: l[engine.LabelPodUID], container: l[engine.LabelContainer]})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(statsParallel)
	for _, r := range rs {
		g.Go(func() error {
			st, err := s.cfg.Engine.Stats(gctx, r.id)
			if err != nil {
				s.cfg.Log.Debug("container stats", "container", r.id, "err", err) // it may have just stopped
				return nil
			}
			r.stats = st
			return nil
		})
	}
	_ = g.Wait()
	snap := Snapshot{Node: s.cfg.Node, Pods: s.podMetrics(rs), NodeUsage: s.nodeMetrics()}
	s.mu.Lock()
	s.snap = snap
	s.mu.Unlock()
}

// podMetrics turns this round's readings into PodMetrics, using and then
// replacing the previous readings. A pod is reported when every one of
// its running containers has a rate.
func (s *Sampler) podMetrics(rs []*reading) []api.PodMetrics {
	type podKey struct{ ns, name, uid string }
	pods := map[podKey]*api.PodMetrics{}
	incomplete := map[podKey]bool{}
	next := make(map[string]engine.ContainerStats, len(rs))
	for _, r := range rs {
		k := podKey{r.ns, r.pod, r.uid}
		if r.stats.Read.IsZero() {
			incomplete[k] = true
			continue
		}
		next[r.id] = r.stats
		prev, ok := s.prev[r.id]
		if !ok {
			incomplete[k] = true
			continue
		}
		nano, window, ok := CPURate(prev, r.stats)
		if !ok {
			incomplete[k] = true
			continue
		}
		pm := pods[k]
		if pm == nil {
			pm = &api.PodMetrics{TypeMeta: api.TypeMeta{Kind: "PodMetrics", APIVersion: api.MetricsGroupVersion},
				ObjectMeta: api.ObjectMeta{Name: r.pod, Namespace: r.ns, UID: r.uid},
				Timestamp:  api.Time{Time: r.stats.Read.UTC().Truncate(time.Second)}, Window: window.Round(time.Millisecond).String()}
			pods[k] = pm
		}
		pm.Containers = append(pm.Containers, api.ContainerMetrics{Name: r.container, Usage: api.ResourceList{
			api.ResourceCPU:    api.NewMilliQuantity(MilliCores(nano)),
			api.ResourceMemory: memoryQuantity(r.stats.WorkingSet()),
		}})
	}
	s.prev = next
	out := make([]api.PodMetrics, 0, len(pods))
	for k, pm := range pods {
		if incomplete[k] {
			continue
		}
		sort.Slice(pm.Containers, func(i, j int) bool { return pm.Containers[i].Name < pm.Containers[j].Name })
		out = append(out, *pm)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// nodeMetrics reads the node's counters and returns its usage since the
// last round, nil without one.
func (s *Sampler) nodeMetrics() *api.NodeMetrics {
	if s.cfg.ProcRoot == "-" {
		return nil
	}
	cur, err := readNode(s.cfg.ProcRoot, s.cfg.Now())
	if err != nil {
		s.cfg.Log.Debug("node usage", "err", err)
		return nil
	}
	prev := s.prevNode
	s.prevNode = &cur
	if prev == nil {
		return nil
	}
	nano, window, ok := CPURate(*prev, cur)
	if !ok {
		return nil
	}
	return &api.NodeMetrics{TypeMeta: api.TypeMeta{Kind: "NodeMetrics", APIVersion: api.MetricsGroupVersion},
		ObjectMeta: api.ObjectMeta{Name: s.cfg.Node}, Timestamp: api.Time{Time: cur.Read.UTC().Truncate(time.Second)},
		Window: window.Round(time.Millisecond).String(),
		Usage: api.ResourceList{api.ResourceCPU: api.NewMilliQuantity(MilliCores(nano)),
			api.ResourceMemory: memoryQuantity(cur.WorkingSet())}}
}

// memoryQuantity writes bytes as metrics-server does: in Ki, rounded up.
func memoryQuantity(b uint64) api.Quantity {
	return api.NewBytesQuantity(int64((b + 1023) / 1024 * 1024))
}
