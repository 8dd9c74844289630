package scaletest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/internal/poll"
)

// Options shape a run.
type Options struct {
	// Agents is the number of agents in all (at least 2).
	Agents int
	// Pods is the number of pods, in Deployments of PodsPerDeployment
	// (default 100) replicas.
	Pods              int
	PodsPerDeployment int
	// SeparateAgent runs the last agent in a process of its own, to
	// measure one agent's memory alone.
	SeparateAgent bool
	// IdleWindow is how long idle traffic is sampled (default 30 s: two
	// anti-entropy rounds).
	IdleWindow time.Duration
	// Writes is how many writes are timed until every agent sees them
	// (default 100).
	Writes int
	// ShoalBin is the shoal CLI for timing `shoal get pods -A` ("": not
	// timed).
	ShoalBin string
	// Dir holds the agents' data directories (default: a test temporary
	// directory).
	Dir string
	// Timeout bounds the rollout and the convergence (default 20 min).
	Timeout time.Duration
	// MaxRSS stops the run when this process grows beyond it, to spare a
	// shared machine (default 12 GiB).
	MaxRSS uint64
}

func (o Options) withDefaults() Options {
	if o.PodsPerDeployment <= 0 {
		o.PodsPerDeployment = 100
	}
	if o.IdleWindow <= 0 {
		o.IdleWindow = 30 * time.Second
	}
	if o.Writes <= 0 {
		o.Writes = 100
	}
	if o.Timeout <= 0 {
		o.Timeout = 20 * time.Minute
	}
	if o.MaxRSS == 0 {
		o.MaxRSS = 12 << 30
	}
	return o
}

// Namespaces of the run's objects.
const (
	podNamespace   = "scale"
	probeNamespace = "scale-probe"
)

// Result is what one run measured.
type Result struct {
	Agents, Pods int
	// InProcess is the number of agents in the measuring process.
	InProcess int
	// From the apply until the leader's API showed every pod created,
	// bound to a node, and Running.
	Created, Bound, Running time.Duration
	// CreateRate is pods per second from the apply to the last pod
	// created; BindRate from the first pod created to the last bound.
	CreateRate, BindRate float64
	// Converged is the time from every pod Running (on the leader) until
	// every agent holds the same state.
	Converged time.Duration
	// Drained is the time from then until every agent's gossip queue was
	// empty: the rollout's writes retransmitted as often as memberlist
	// sends each. The idle windows begin only then, so that they measure
	// an idle cluster rather than the tail of a rollout.
	Drained time.Duration
	// Records is the number of records each agent holds at the end.
	Records int
	// Write is how long a write on one agent takes to reach every agent's
	// watch, with every pod stored.
	WriteP50, WriteP99 time.Duration
	// Memory per agent: this process's divided by InProcess, and the
	// agent in its own process (zero without one); idle before the apply
	// and with every pod running.
	MemIdle, MemPods           Mem
	ChildMemIdle, ChildMemPods Mem
	// Traffic is gossip and anti-entropy bytes per second per agent: idle
	// before the apply, during the rollout, and idle with every pod.
	TrafficIdle, TrafficRollout, TrafficPods float64
	// CPU is the CPU time per agent in this process while traffic was
	// sampled (idle, no pods; idle, all pods), in percent of one core.
	CPUIdle, CPUPods float64
	// ListCLI is `shoal get pods -A` (0 without a binary); ListClient the
	// Go client's list of every pod, both over HTTPS to a follower.
	ListCLI, ListClient time.Duration
	// Relists counts the times the pod watch broke and was restarted.
	Relists int
	// Formed is the time from the first agent's start until every agent
	// answers, its Node is registered and every agent sees every other
	// alive (agents start startBatch at a time).
	Formed time.Duration
	// The agent in its own process killed (SIGKILL) with every pod
	// running, then started again on its data directory: Detected is the
	// time from the kill until every other agent sees it dead; Rejoined
	// from the restart until every agent sees it alive again; Healed from
	// the restart until, besides, every agent holds the same state and
	// its (new, empty) engine runs every pod bound to its node. Zero
	// without a separate agent.
	Detected, Rejoined, Healed time.Duration

	cluster *Cluster // for tests' own checks, until the test ends
}

// Run starts the cluster, applies the pods and measures. It fails tb if
// a pod does not run or the agents do not converge within the timeout.
func Run(tb testing.TB, opts Options) *Result {
	tb.Helper()
	opts = opts.withDefaults()
	if opts.Agents < 2 || opts.Pods < 1 {
		tb.Fatalf("scale run: at least 2 agents and 1 pod (have %d and %d)", opts.Agents, opts.Pods)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	began := time.Now()
	c := start(tb, opts)
	r := &Result{Agents: opts.Agents, Pods: opts.Pods, InProcess: opts.Agents, cluster: c, Formed: time.Since(began)}
	tb.Logf("%d agents formed a cluster in %s", opts.Agents, r.Formed.Round(time.Millisecond))
	if opts.SeparateAgent {
		r.InProcess--
	}

	r.MemIdle, r.ChildMemIdle = c.memory()
	c.drained()
	r.TrafficIdle, r.CPUIdle = c.traffic(opts.IdleWindow)

	if _, err := c.agents[0].Client.Create(ctx, api.KindNamespace, "", &api.Namespace{ObjectMeta: api.ObjectMeta{Name: podNamespace}}); err != nil {
		tb.Fatalf("namespace %s: %v", podNamespace, err)
	}
	pods := newPodTracker()
	if err := pods.watch(ctx, c.agents[0].Client); err != nil {
		tb.Fatalf("watch pods: %v", err)
	}
	before := c.bytes()
	applied := time.Now()
	if _, err := c.agents[0].Client.Apply(ctx, podNamespace, deployments(opts.Pods, opts.PodsPerDeployment), false); err != nil {
		tb.Fatalf("apply: %v", err)
	}
	poll.Until(tb, opts.Timeout, "every pod Running", func() error {
		c.checkRSS()
		created, bound, running := pods.counts()
		if running < opts.Pods {
			return fmt.Errorf("%d created, %d bound, %d Running of %d", created, bound, running, opts.Pods)
		}
		return nil
	})
	done := time.Now()
	r.TrafficRollout = perAgentRate(c.bytes()-before, done.Sub(applied), opts.Agents)
	pods.result(r, applied)
	tb.Logf("%d pods created %s, bound %s, Running %s after the apply", opts.Pods, r.Created.Round(time.Millisecond),
		r.Bound.Round(time.Millisecond), r.Running.Round(time.Millisecond))

	r.Converged = poll.Until(tb, opts.Timeout, "every agent holding the same state", c.converged)
	r.Records = c.records()
	r.MemPods, r.ChildMemPods = c.memory()
	r.Drained = c.drained()
	tb.Logf("gossip queues empty %s after every agent held the same state", r.Drained.Round(time.Millisecond))
	r.TrafficPods, r.CPUPods = c.traffic(opts.IdleWindow)
	r.WriteP50, r.WriteP99 = c.writeLatency(ctx, opts.Writes)
	r.ListClient, r.ListCLI = c.listTimes(ctx, opts)
	if opts.SeparateAgent {
		r.Detected, r.Rejoined, r.Healed = c.killAndHeal(ctx)
		tb.Logf("killed agent seen dead everywhere %s after the kill; after its restart alive everywhere %s, healed %s",
			r.Detected.Round(time.Millisecond), r.Rejoined.Round(time.Millisecond), r.Healed.Round(time.Millisecond))
	}
	return r
}

// killAndHeal kills the agent in its own process, waits until every other
// agent sees it dead, starts it again on its data directory with an empty
// engine, and times its return (see Result.Detected).
func (c *Cluster) killAndHeal(ctx context.Context) (detected, rejoined, healed time.Duration) {
	c.tb.Helper()
	var victim *Agent
	for _, a := range c.agents {
		if a.child != nil {
			victim = a
		}
	}
	victim.child.kill()
	detected = poll.Until(c.tb, c.opts.Timeout, "the killed agent "+victim.Name+" seen dead by every other", func() error {
		return c.membersAgree(ctx, victim, api.MemberDead)
	})
	var err error
	if victim.child, err = startChild(victim.cfg); err != nil {
		c.tb.Fatalf("restart %s: %v", victim.Name, err)
	}
	restarted := time.Now()
	poll.Until(c.tb, c.opts.Timeout, "the restarted agent "+victim.Name+" alive on every agent", func() error {
		if err := victim.failed(); err != nil {
			c.tb.Fatalf("agent %s stopped after its restart: %v (see %s)", victim.Name, err, filepath.Join(c.dir, "agents.log"))
		}
		return c.membersAgree(ctx, nil, "")
	})
	rejoined = time.Since(restarted)
	poll.Until(c.tb, c.opts.Timeout, "the restarted agent "+victim.Name+" running its pods, every agent converged", func() error {
		if err := c.converged(); err != nil {
			return err
		}
		return c.runsItsPods(ctx, victim)
	})
	return detected, rejoined, time.Since(restarted)
}

// runsItsPods checks that a's engine runs one application container for
// each pod bound to its node, and that there is at least one.
func (c *Cluster) runsItsPods(ctx context.Context, a *Agent) error {
	list, _, err := c.agents[0].Client.List(ctx, api.KindPod, podNamespace, api.ListOptions{})
	if err != nil {
		return err
	}
	bound := 0
	for _, o := range list {
		if o.(*api.Pod).Spec.NodeName == a.Name {
			bound++
		}
	}
	running := 0
	if a.child != nil {
		rep, err := a.child.measure()
		if err != nil {
			return err
		}
		running = rep.Running
	} else {
		running = runningApps(ctx, a.Engine)
	}
	if bound == 0 || running != bound {
		return fmt.Errorf("%s's engine runs %d application containers for %d pods bound to it", a.Name, running, bound)
	}
	return nil
}

// deployments is a YAML stream of Deployments totalling pods replicas.
func deployments(pods, per int) []byte {
	var b strings.Builder
	for i := 0; pods > 0; i++ {
		n := min(per, pods)
		pods -= n
		fmt.Fprintf(&b, `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d%03d}
spec:
  replicas: %d
  selector: {matchLabels: {app: d%03d}}
  template:
    metadata: {labels: {app: d%03d}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: app, image: %q, args: ["sleep", "infinity"]}
`, i, n, i, i, AppImage)
	}
	return []byte(b.String())
}

// podTracker follows the pods through one watch and notes when each was
// first seen, bound and Running.
type podTracker struct {
	mu                      sync.Mutex
	created, bound, running map[string]time.Time
	relists                 int
}

func newPodTracker() *podTracker {
	return &podTracker{created: map[string]time.Time{}, bound: map[string]time.Time{}, running: map[string]time.Time{}}
}

// watch starts the watch (it is in place when watch returns) and follows
// it until ctx ends, watching again whenever the stream breaks.
func (t *podTracker) watch(ctx context.Context, cl *client.Client) error {
	ch, err := cl.Watch(ctx, api.KindPod, podNamespace, api.ListOptions{})
	if err != nil {
		return err
	}
	go func() {
		for ctx.Err() == nil {
			for ev := range ch {
				if p, ok := ev.Object.(*api.Pod); ok && (ev.Type == api.Added || ev.Type == api.Modified) {
					t.see(p, time.Now())
				}
			}
			if ctx.Err() != nil {
				return
			}
			t.mu.Lock()
			t.relists++
			t.mu.Unlock()
			for ctx.Err() == nil {
				if ch, err = cl.Watch(ctx, api.KindPod, podNamespace, api.ListOptions{}); err == nil {
					break
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		}
	}()
	return nil
}

func (t *podTracker) see(p *api.Pod, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.created[p.Name]; !ok {
		t.created[p.Name] = now
	}
	if _, ok := t.bound[p.Name]; !ok && p.Spec.NodeName != "" {
		t.bound[p.Name] = now
	}
	if _, ok := t.running[p.Name]; !ok && p.Status.Phase == api.PodRunning {
		t.running[p.Name] = now
	}
}

func (t *podTracker) counts() (created, bound, running int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.created), len(t.bound), len(t.running)
}

func (t *podTracker) result(r *Result, applied time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	first, lastCreated := bounds(t.created)
	_, lastBound := bounds(t.bound)
	_, lastRunning := bounds(t.running)
	r.Created, r.Bound, r.Running = lastCreated.Sub(applied), lastBound.Sub(applied), lastRunning.Sub(applied)
	r.CreateRate = rate(len(t.created), lastCreated.Sub(applied))
	r.BindRate = rate(len(t.bound), lastBound.Sub(first))
	r.Relists = t.relists
}

func bounds(m map[string]time.Time) (first, last time.Time) {
	for _, v := range m {
		if first.IsZero() || v.Before(first) {
			first = v
		}
		if v.After(last) {
			last = v
		}
	}
	return first, last
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func perAgentRate(bytes int64, d time.Duration, agents int) float64 {
	return rate(int(bytes), d) / float64(agents)
}

// checkRSS stops the run if this process has grown beyond the bound.
func (c *Cluster) checkRSS() {
	rss, err := processRSS()
	if err == nil && rss > c.opts.MaxRSS {
		c.tb.Fatalf("this process's resident memory is %d MiB, beyond the bound of %d MiB: stopping the run",
			rss>>20, c.opts.MaxRSS>>20)
	}
}

// memory returns this process's memory per agent in it, and the separate
// agent's.
func (c *Cluster) memory() (perAgent, alone Mem) {
	c.tb.Helper()
	m, err := readMem()
	if err != nil {
		c.tb.Fatalf("memory: %v", err)
	}
	n := uint64(len(c.agents))
	for _, a := range c.agents {
		if a.child == nil {
			continue
		}
		n--
		r, err := a.child.measure()
		if err != nil {
			c.tb.Fatal(err)
		}
		alone = r.Mem
	}
	return Mem{HeapLive: m.HeapLive / n, RSS: m.RSS / n}, alone
}

// agentInfo is the part of /shoal/v1/agent the run reads.
type agentInfo struct {
	Leader string       `json:"leader"`
	Gossip gossipCounts `json:"gossip"`
	State  struct {
		Records int    `json:"records"`
		Hash    string `json:"hash"`
	} `json:"state"`
}

func (c *Cluster) info(a *Agent) agentInfo {
	c.tb.Helper()
	var info agentInfo
	if err := a.getJSON("/shoal/v1/agent", &info); err != nil {
		c.tb.Fatalf("agent %s: %v", a.Name, err)
	}
	return info
}

// gossipCounts are the replication counters an agent reports that tell
// what its traffic is made of.
type gossipCounts struct {
	PacketBytesSent  int64 `json:"packetBytesSent"`
	StreamBytesIn    int64 `json:"streamBytesIn"`
	StreamBytesOut   int64 `json:"streamBytesOut"`
	BroadcastsQueued int64 `json:"broadcastsQueued"`
	BroadcastsSent   int64 `json:"broadcastsSent"`
	RecordsApplied   int64 `json:"recordsApplied"`
	Pulls            int64 `json:"pulls"`
	RecordsPulled    int64 `json:"recordsPulled"`
	SyncRounds       int64 `json:"syncRounds"`
	Queued           int64 `json:"queued"` // a level, not a counter
}

func (g gossipCounts) bytes() int64 { return g.PacketBytesSent + g.StreamBytesIn + g.StreamBytesOut }

func (g gossipCounts) minus(h gossipCounts) gossipCounts { return g.plus(h, -1) }

// plus is g + sign*h, field by field.
func (g gossipCounts) plus(h gossipCounts, sign int64) gossipCounts {
	return gossipCounts{g.PacketBytesSent + sign*h.PacketBytesSent, g.StreamBytesIn + sign*h.StreamBytesIn,
		g.StreamBytesOut + sign*h.StreamBytesOut, g.BroadcastsQueued + sign*h.BroadcastsQueued,
		g.BroadcastsSent + sign*h.BroadcastsSent, g.RecordsApplied + sign*h.RecordsApplied, g.Pulls + sign*h.Pulls,
		g.RecordsPulled + sign*h.RecordsPulled, g.SyncRounds + sign*h.SyncRounds, g.Queued + sign*h.Queued}
}

// gossipTotals sums the agents' replication counters so far: every byte
// counted once.
func (c *Cluster) gossipTotals() gossipCounts {
	var n gossipCounts
	for _, a := range c.agents {
		g := c.info(a).Gossip
		n = n.plus(g, 1)
	}
	return n
}

// bytes is the cluster's gossip traffic so far: every byte counted once.
func (c *Cluster) bytes() int64 { return c.gossipTotals().bytes() }

// drained waits until no agent has a message left in its gossip queue.
func (c *Cluster) drained() time.Duration {
	return poll.Until(c.tb, c.opts.Timeout, "every gossip queue empty", func() error {
		if n := c.gossipTotals().Queued; n > 0 {
			return fmt.Errorf("%d messages queued", n)
		}
		return nil
	})
}

// traffic samples the gossip traffic for a window: bytes per second per
// agent; and the CPU this process used in it, per agent in it, in percent
// of one core.
func (c *Cluster) traffic(window time.Duration) (bytesPerSec, cpuPercent float64) {
	g0, t0, cpu0 := c.gossipTotals(), time.Now(), processCPU()
	time.Sleep(window) // a measurement window, not a synchronisation
	took := time.Since(t0)
	g1 := c.gossipTotals()
	d := g1.minus(g0)
	// What the bytes are made of, per second for the whole cluster.
	per := func(n int64) float64 { return float64(n) / took.Seconds() }
	c.tb.Logf("idle window %v: %.0f B/s UDP, %.0f B/s TCP; per second: %.1f writes queued, %.1f sent, %.1f records applied, %.1f pulls, %.1f records pulled, %.2f anti-entropy rounds; %d then %d messages in the gossip queues",
		took.Round(time.Second), per(d.PacketBytesSent), per(d.StreamBytesIn+d.StreamBytesOut), per(d.BroadcastsQueued),
		per(d.BroadcastsSent), per(d.RecordsApplied), per(d.Pulls), per(d.RecordsPulled), per(d.SyncRounds), g0.Queued, g1.Queued)
	inProcess := len(c.agents)
	for _, a := range c.agents {
		if a.child != nil {
			inProcess--
		}
	}
	cpuPercent = 100 * (processCPU() - cpu0).Seconds() / took.Seconds() / float64(inProcess)
	return perAgentRate(d.bytes(), took, len(c.agents)), cpuPercent
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// converged reports whether every agent holds what the first holds.
func (c *Cluster) converged() error {
	want := c.info(c.agents[0]).State
	for _, a := range c.agents[1:] {
		if got := c.info(a).State; got != want {
			return fmt.Errorf("%s holds %d records (%s), %s %d (%s)", a.Name, got.Records, got.Hash,
				c.agents[0].Name, want.Records, want.Hash)
		}
	}
	return nil
}

func (c *Cluster) records() int { return c.info(c.agents[0]).State.Records }

// sighting is an agent's watch showing a probe.
type sighting struct {
	agent int
	name  string
	at    time.Time
}

// writeLatency creates ConfigMaps, each on the next agent in turn, and
// times each until every agent's watch has shown it: p50 and p99.
func (c *Cluster) writeLatency(ctx context.Context, writes int) (p50, p99 time.Duration) {
	c.tb.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if _, err := c.agents[0].Client.Create(ctx, api.KindNamespace, "", &api.Namespace{ObjectMeta: api.ObjectMeta{Name: probeNamespace}}); err != nil {
		c.tb.Fatalf("probe namespace: %v", err)
	}
	seen := make(chan sighting, 4*len(c.agents))
	for i, a := range c.agents {
		ch, err := a.Client.Watch(ctx, api.KindConfigMap, probeNamespace, api.ListOptions{})
		if err != nil {
			c.tb.Fatalf("watch on %s: %v", a.Name, err)
		}
		go func() {
			for ctx.Err() == nil {
				for ev := range ch {
					if ev.Type == api.Added || ev.Type == api.Modified {
						select {
						case seen <- sighting{agent: i, name: ev.Object.GetObjectMeta().Name, at: time.Now()}:
						case <-ctx.Done():
							return
						}
					}
				}
				for ctx.Err() == nil {
					if ch, err = a.Client.Watch(ctx, api.KindConfigMap, probeNamespace, api.ListOptions{}); err == nil {
						break
					}
					time.Sleep(time.Second)
				}
			}
		}()
	}
	pending := map[string]map[int]bool{}
	last := map[string]time.Time{}
	wait := func(name string) time.Time {
		deadline := time.After(30 * time.Second)
		for len(pending[name]) < len(c.agents) {
			select {
			case s := <-seen:
				if pending[s.name] == nil {
					pending[s.name] = map[int]bool{}
				}
				if !pending[s.name][s.agent] {
					pending[s.name][s.agent] = true
					last[s.name] = s.at
				}
			case <-deadline:
				c.tb.Fatalf("write %s seen by %d of %d agents after 30 s", name, len(pending[name]), len(c.agents))
			}
		}
		return last[name]
	}
	write := func(i int, name string) time.Duration {
		a := c.agents[i%len(c.agents)]
		began := time.Now()
		cm := &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: name, Namespace: probeNamespace}, Data: map[string]string{"v": strings.Repeat("x", 100)}}
		if _, err := a.Client.Create(ctx, api.KindConfigMap, probeNamespace, cm); err != nil {
			c.tb.Fatalf("write %s on %s: %v", name, a.Name, err)
		}
		return wait(name).Sub(began)
	}
	write(0, "warm-up") // every watch works
	lat := make([]time.Duration, 0, writes)
	for i := range writes {
		lat = append(lat, write(i, fmt.Sprintf("probe-%d", i)))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[(len(lat)*99)/100]
}

// listTimes times a list of every pod over HTTPS on a follower, with the
// Go client and with `shoal get pods -A`: medians of 3.
func (c *Cluster) listTimes(ctx context.Context, opts Options) (viaClient, viaCLI time.Duration) {
	c.tb.Helper()
	follower := c.agents[len(c.agents)/2]
	if follower.child != nil {
		follower = c.agents[1]
	}
	kubeconfig := filepath.Join(c.agents[0].Dir, "admin.kubeconfig")
	kc, err := client.LoadKubeconfig(kubeconfig)
	if err != nil {
		c.tb.Fatal(err)
	}
	conn, err := kc.Resolve("")
	if err != nil {
		c.tb.Fatal(err)
	}
	conn.Server = "https://" + follower.APIAddr
	cl, err := client.NewFromConnection(conn)
	if err != nil {
		c.tb.Fatal(err)
	}
	viaClient = median(3, func() {
		list, _, err := cl.List(ctx, api.KindPod, "", api.ListOptions{})
		if err != nil || len(list) < opts.Pods {
			c.tb.Fatalf("list of every pod on %s: %d pods, %v", follower.Name, len(list), err)
		}
	})
	if opts.ShoalBin == "" {
		return viaClient, 0
	}
	viaCLI = median(3, func() {
		out, err := exec.CommandContext(ctx, opts.ShoalBin, "--kubeconfig", kubeconfig, "--server", conn.Server,
			"get", "pods", "-A").Output()
		if err != nil {
			c.tb.Fatalf("shoal get pods -A: %v", err)
		}
		if lines := strings.Count(string(out), "\n"); lines < opts.Pods+1 {
			c.tb.Fatalf("shoal get pods -A printed %d lines for %d pods", lines, opts.Pods)
		}
	})
	return viaClient, viaCLI
}

func median(n int, fn func()) time.Duration {
	var d []time.Duration
	for range n {
		t := time.Now()
		fn()
		d = append(d, time.Since(t))
	}
	slices.Sort(d)
	return d[len(d)/2]
}
