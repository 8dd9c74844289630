package scaletest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/internal/poll"
)

const (
	// SandboxImage and AppImage are present in every fake engine.
	SandboxImage = "shoal-pause:scale"
	AppImage     = "scale-app:v1"
	// startBatch is how many agents join at once.
	startBatch = 10
	// agentStartTimeout bounds the start of one batch of agents.
	agentStartTimeout = 3 * time.Minute
)

// Cluster is a set of simulated agents, all but perhaps one in this
// process.
type Cluster struct {
	tb     testing.TB
	opts   Options
	dir    string
	log    *slog.Logger
	agents []*Agent
	token  string
}

// Agent is one simulated agent, reached through its API only.
type Agent struct {
	Name       string
	Dir        string
	APIAddr    string // 127.0.0.1:port (HTTPS)
	GossipAddr string // 127.0.0.1:port
	// Client speaks to the agent's unix socket, as the host's admin.
	Client *client.Client
	raw    *http.Client // the same socket, for shoal's own endpoints

	// In this process: the engine, and how to stop the agent.
	Engine *enginetest.Fake
	cancel context.CancelFunc
	done   chan error
	// In a process of its own.
	child *child
	cfg   agentConfig // to start it again after a kill
}

// agentConfig is what an agent is started with (also sent to a child).
type agentConfig struct {
	Name, Dir, APIAddr, Bind string
	Join                     []string
	JoinToken                string
	MaxPods                  int
	LogFile                  string
}

// start starts the agents: the first founds the cluster, the others join
// it with its token, startBatch at a time; the last runs in a process of
// its own if asked. It returns once every agent is ready, registered and
// sees every other alive.
func start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb, opts: opts, dir: opts.Dir}
	if c.dir == "" {
		c.dir = tb.TempDir()
	}
	logFile := filepath.Join(c.dir, "agents.log")
	f, err := os.Create(logFile)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	c.log = slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: logLevel()}))
	tb.Cleanup(c.stop)

	first := c.launch(0, "")
	c.waitReady(first)
	tok, err := first.Client.JoinToken(context.Background())
	if err != nil {
		tb.Fatalf("join token from %s: %v", first.Name, err)
	}
	c.token = tok.Token
	for lo := 1; lo < opts.Agents; lo += startBatch {
		batch := []*Agent{}
		for i := lo; i < min(lo+startBatch, opts.Agents); i++ {
			batch = append(batch, c.launch(i, c.token))
		}
		c.waitReady(batch...)
	}
	c.waitFormed()
	return c
}

// Start starts opts.Agents simulated agents (opts.Pods sizes their pod
// capacity) and returns once they form a cluster; the test's cleanup stops
// them. Other packages' tests use it for a cluster without Docker (the
// dashboard's browser test).
func Start(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	return start(tb, opts.withDefaults())
}

// Agents are the cluster's agents, the founder (and leader) first.
func (c *Cluster) Agents() []*Agent { return c.agents }

// logLevel is the agents' log level: warnings, or SHOAL_SCALE_LOG
// (debug, info, warn, error) to see more.
func logLevel() slog.Level {
	l := slog.LevelWarn
	if v := os.Getenv("SHOAL_SCALE_LOG"); v != "" {
		_ = l.UnmarshalText([]byte(v))
	}
	return l
}

// name is the node name of agent i: the first is the lowest, so it leads.
func name(i int) string { return fmt.Sprintf("s%03d", i) }

// launch starts agent i on free ports.
func (c *Cluster) launch(i int, token string) *Agent {
	c.tb.Helper()
	a := &Agent{Name: name(i), Dir: filepath.Join(c.dir, name(i))}
	cfg := agentConfig{Name: a.Name, Dir: a.Dir, JoinToken: token, MaxPods: c.maxPods(),
		LogFile: filepath.Join(c.dir, "agents.log")}
	if i > 0 {
		cfg.Join = c.joinPeers(i)
	}
	var err error
	if cfg.APIAddr, cfg.Bind, err = freePorts(); err != nil {
		c.tb.Fatal(err)
	}
	a.APIAddr, a.GossipAddr = cfg.APIAddr, cfg.Bind
	if a.Client, err = client.New("unix://"+filepath.Join(a.Dir, "shoal.sock"), ""); err != nil {
		c.tb.Fatal(err)
	}
	a.raw = unixHTTP(filepath.Join(a.Dir, "shoal.sock"))
	a.cfg = cfg
	if c.opts.SeparateAgent && i == c.opts.Agents-1 && i > 0 {
		if a.child, err = startChild(cfg); err != nil {
			c.tb.Fatalf("agent %s in its own process: %v", a.Name, err)
		}
	} else {
		a.Engine = NewEngine()
		ctx, cancel := context.WithCancel(context.Background())
		a.cancel, a.done = cancel, make(chan error, 1)
		go func() { a.done <- runAgent(ctx, cfg, a.Engine, c.log) }()
	}
	c.agents = append(c.agents, a)
	return a
}

// joinPeers are up to 3 agents started before agent i, picked at random,
// as an operator lists a few --join peers: with the first agent alone,
// its gossip port and API are the cluster's hot spot at a hundred agents
// (joins time out while it also leads).
func (c *Cluster) joinPeers(i int) []string {
	// The agents of earlier batches are up; those of i's own may not be.
	started := c.agents[:1+((i-1)/startBatch)*startBatch]
	var peers []string
	for _, k := range rand.Perm(len(started))[:min(3, len(started))] {
		peers = append(peers, started[k].GossipAddr)
	}
	return peers
}

// maxPods is the nodes' pod capacity: room for twice their share, and
// at least the usual 110.
func (c *Cluster) maxPods() int {
	share := (c.opts.Pods + c.opts.Agents - 1) / c.opts.Agents
	return min(max(110, 2*share), addressesPerNode)
}

// addressesPerNode is what a node's /24 holds for pods (less the network,
// the gateway and the broadcast address): more pods than this find no
// address on the node, in simulation as on a real host.
const addressesPerNode = 253

// runAgent runs one simulated agent until ctx ends.
func runAgent(ctx context.Context, ac agentConfig, eng *enginetest.Fake, log *slog.Logger) error {
	cfg := daemon.DefaultConfig()
	cfg.Name, cfg.DataDir, cfg.APIAddr, cfg.Bind = ac.Name, ac.Dir, ac.APIAddr, ac.Bind
	cfg.Join, cfg.JoinToken, cfg.Version = ac.Join, ac.JoinToken, "scale"
	// The fake engine's call log grows with every call: keep it short.
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				eng.ResetCalls()
			}
		}
	}()
	return daemon.RunSimulated(ctx, cfg, log, daemon.Simulation{Engine: eng, SandboxImage: SandboxImage, MaxPods: ac.MaxPods})
}

// NewEngine returns a fake engine of a large host holding the sandbox and
// application images.
func NewEngine() *enginetest.Fake {
	f := enginetest.New()
	f.SetInfo(engine.Info{ID: "scale", Name: "scale", ServerVersion: "fake", APIVersion: "1.41", NCPU: 64, MemTotal: 256 << 30,
		KernelVersion: "6.1.0", OperatingSystem: "fake", OSType: "linux", Architecture: "x86_64"})
	f.AddImage(SandboxImage, AppImage)
	return f
}

// Agents listen on ports below Linux's ephemeral range (32768-60999 by
// default): a port picked there could be taken by any outgoing connection
// (a hundred agents make thousands) before the agent binds it.
const (
	portLow, portHigh = 20000, 32767
)

var (
	portsMu    sync.Mutex
	portsTaken = map[int]bool{} // handed out by this process
)

// freePorts finds an API port and a gossip port (free for TCP and UDP) on
// loopback that this process has not handed out before.
func freePorts() (apiAddr, gossipAddr string, err error) {
	api, err := freePort(false)
	if err != nil {
		return "", "", err
	}
	gossip, err := freePort(true)
	if err != nil {
		return "", "", err
	}
	return api, gossip, nil
}

func freePort(udpToo bool) (string, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := portLow + rand.IntN(portHigh-portLow+1)
		if portsTaken[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		tl, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		tl.Close()
		if udpToo {
			ul, err := net.ListenPacket("udp", addr)
			if err != nil {
				continue
			}
			ul.Close()
		}
		portsTaken[port] = true
		return addr, nil
	}
	return "", errors.New("no free port on loopback")
}

// unixHTTP is a plain HTTP client of a unix socket.
func unixHTTP(sock string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
}

// getJSON reads one of the agent's endpoints over its socket.
func (a *Agent) getJSON(path string, out any) error {
	resp, err := a.raw.Get("http://unix" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", path, resp.Status, strings.TrimSpace(string(b)))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// failed returns the error an agent stopped with, if it stopped.
func (a *Agent) failed() error {
	if a.child != nil {
		return a.child.failed()
	}
	select {
	case err := <-a.done:
		a.done <- err // keep it for the next look
		if err == nil {
			err = errors.New("stopped")
		}
		return err
	default:
		return nil
	}
}

// waitReady waits until each agent answers /readyz.
func (c *Cluster) waitReady(agents ...*Agent) {
	c.tb.Helper()
	poll.Until(c.tb, agentStartTimeout, "agents ready", func() error {
		for _, a := range agents {
			if err := a.failed(); err != nil {
				c.tb.Fatalf("agent %s stopped while starting: %v (see %s)", a.Name, err, filepath.Join(c.dir, "agents.log"))
			}
			resp, err := a.raw.Get("http://unix/readyz")
			if err != nil {
				return fmt.Errorf("%s: %w", a.Name, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s: /readyz %s", a.Name, resp.Status)
			}
		}
		return nil
	})
}

// waitFormed waits until every agent sees every other alive and follows
// the first, and the first holds every Node.
func (c *Cluster) waitFormed() {
	c.tb.Helper()
	ctx := context.Background()
	n := len(c.agents)
	poll.Until(c.tb, agentStartTimeout, "every Node registered", func() error {
		nodes, _, err := c.agents[0].Client.List(ctx, api.KindNode, "", api.ListOptions{})
		if err != nil {
			return err
		}
		if len(nodes) != n {
			return fmt.Errorf("%d of %d nodes", len(nodes), n)
		}
		return nil
	})
	poll.Until(c.tb, agentStartTimeout, "every agent seeing every other alive", func() error {
		return c.membersAgree(ctx, nil, "")
	})
}

// membersAgree checks that every agent but skip sees every agent alive
// except skip, which it must see in state skipState (or not at all),
// and follows the first agent.
func (c *Cluster) membersAgree(ctx context.Context, skip *Agent, skipState string) error {
	want := len(c.agents)
	if skip != nil {
		want--
	}
	for _, a := range c.agents {
		if a == skip {
			continue
		}
		ml, err := a.Client.Members(ctx)
		if err != nil {
			return fmt.Errorf("members on %s: %w", a.Name, err)
		}
		alive := 0
		for _, m := range ml.Items {
			switch {
			case skip != nil && m.Name == skip.Name:
				if m.State != skipState {
					return fmt.Errorf("%s sees %s %s, not yet %s", a.Name, m.Name, m.State, skipState)
				}
			case m.State == api.MemberAlive:
				alive++
			}
		}
		if alive != want || ml.Leader != c.agents[0].Name {
			return fmt.Errorf("%s sees %d of %d alive, leader %q", a.Name, alive, want, ml.Leader)
		}
	}
	return nil
}

// stop stops every agent (in parallel; each leaves the cluster).
func (c *Cluster) stop() {
	var wg sync.WaitGroup
	for _, a := range c.agents {
		wg.Go(func() {
			if a.child != nil {
				a.child.stop()
				return
			}
			a.cancel()
			select {
			case <-a.done:
			case <-time.After(30 * time.Second):
				c.tb.Logf("agent %s did not stop within 30 s", a.Name)
			}
		})
	}
	wg.Wait()
}
