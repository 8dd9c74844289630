package integration

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// engineProxy stands between an agent and the host's engine on a unix
// socket of its own. Passing, it forwards every connection to the engine;
// hung, it accepts connections and never answers them, as an engine that
// is stuck does (the connections it was forwarding are cut, so that the
// agent's next requests meet the hung socket).
type engineProxy struct {
	t      *testing.T
	path   string // the socket the agent is given
	target string // the engine's socket
	l      net.Listener

	mu    sync.Mutex
	hung  bool
	conns map[net.Conn]struct{} // every connection open, both sides
}

func startEngineProxy(t *testing.T) *engineProxy {
	t.Helper()
	target := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		target = strings.TrimPrefix(h, "unix://")
	}
	dir, err := os.MkdirTemp("", "shoal-it-engine-")
	if err != nil {
		t.Fatal(err)
	}
	p := &engineProxy{t: t, path: filepath.Join(dir, "docker.sock"), target: target, conns: map[net.Conn]struct{}{}}
	if p.l, err = net.Listen("unix", p.path); err != nil {
		t.Fatal(err)
	}
	go p.serve()
	t.Cleanup(func() {
		p.l.Close()
		p.closeAll()
		os.RemoveAll(dir)
	})
	return p
}

func (p *engineProxy) serve() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *engineProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

func (p *engineProxy) handle(c net.Conn) {
	p.mu.Lock()
	hung := p.hung
	p.conns[c] = struct{}{}
	p.mu.Unlock()
	if hung {
		return // held open, never answered, until the test ends
	}
	up, err := net.Dial("unix", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.track(up)
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// setHung makes the engine stop answering (true) or answer again (false).
// Connections held while hung stay unanswered: the agent has to give up on
// them and connect anew.
func (p *engineProxy) setHung(hung bool) {
	p.mu.Lock()
	p.hung = hung
	p.mu.Unlock()
	if hung {
		p.closeAll()
	}
}

func (p *engineProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// nodeReady returns the Ready condition of a node as the agent serves it.
func (a *agent) nodeReady(t *testing.T, name string) *api.Condition {
	t.Helper()
	obj, err := a.client.Get(ctx(t), api.KindNode, "", name)
	if err != nil {
		t.Fatalf("get node %s: %v", name, err)
	}
	c := api.FindCondition(obj.(*api.Node).Status.Conditions, api.NodeReady)
	if c == nil {
		return &api.Condition{}
	}
	return c
}

// A hung engine (a socket that accepts and never answers): the agent keeps
// answering the API and gossip, its Node turns NotReady saying why, no pod
// is bound to it meanwhile, and everything recovers, with no container
// started twice, once the engine answers again.
func TestHungEngineMakesTheNodeNotReadyUntilItAnswers(t *testing.T) {
	proxy := startEngineProxy(t)
	// A long eviction timeout: this test is about the node, not about
	// replacing its pods.
	a := startAgent(t, "--docker-host", "unix://"+proxy.path, "--engine-check-interval", "1s",
		"--engine-check-timeout", "1s", "--pod-eviction-timeout", "10m")
	if _, errOut, err := a.shoalIn([]byte(deploymentYAML("steady", 2, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	poll.Until(t, 60*time.Second, "2 pods ready", func() error {
		if n := readyPods(a.pods(t, "default", "app=steady")); n != 2 {
			return fmt.Errorf("%d ready", n)
		}
		return nil
	})
	before := runningApps(t, a.name)

	proxy.setHung(true)
	hung := time.Now()
	took := poll.Until(t, 30*time.Second, "the node NotReady because of its engine", func() error {
		c := a.nodeReady(t, a.name)
		if c.Status != api.ConditionFalse || c.Reason != "KubeletNotReady" || !strings.Contains(c.Message, "container runtime is down") {
			return fmt.Errorf("Ready %s %s %q", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	t.Logf("the hung engine reported on the node %s after it stopped answering", took.Round(100*time.Millisecond))
	if out := a.shoal("get", "nodes"); !strings.Contains(out, "NotReady") {
		t.Fatalf("get nodes while the engine hangs:\n%s", out)
	}
	// The API and gossip answer: writes, reads, membership.
	if _, err := a.client.Create(ctx(t), api.KindConfigMap, "default", &api.ConfigMap{ObjectMeta: api.ObjectMeta{Name: "while-hung", Namespace: "default"},
		Data: map[string]string{"k": "v"}}); err != nil {
		t.Fatalf("a write while the engine hangs: %v", err)
	}
	if out := a.shoal("members"); !strings.Contains(out, a.name) || !strings.Contains(out, "alive") {
		t.Fatalf("members while the engine hangs:\n%s", out)
	}
	// A new pod is not placed on the node.
	if _, errOut, err := a.shoalIn([]byte(deploymentYAML("later", 1, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply while hung: %v %s", err, errOut)
	}
	time.Sleep(3 * time.Second) // a few scheduling rounds
	for _, p := range a.pods(t, "default", "app=later") {
		if p.Spec.NodeName != "" {
			t.Fatalf("pod %s bound to %s, whose engine hangs", p.Name, p.Spec.NodeName)
		}
	}
	if out := a.shoal("get", "events"); !strings.Contains(out, "not ready") {
		t.Fatalf("no scheduling event says the node is not ready:\n%s", out)
	}
	t.Logf("engine hung for %s", time.Since(hung).Round(time.Second))

	proxy.setHung(false)
	took = poll.Until(t, 60*time.Second, "the node Ready again", func() error {
		if c := a.nodeReady(t, a.name); c.Status != api.ConditionTrue {
			return fmt.Errorf("Ready %s %s %q", c.Status, c.Reason, c.Message)
		}
		return nil
	})
	t.Logf("Ready %s after the engine answered again", took.Round(100*time.Millisecond))
	poll.Until(t, 60*time.Second, "the later pod placed and running, the others still running", func() error {
		if n := readyPods(a.pods(t, "default", "app=later")); n != 1 {
			return fmt.Errorf("later: %d ready", n)
		}
		if n := readyPods(a.pods(t, "default", "app=steady")); n != 2 {
			return fmt.Errorf("steady: %d ready", n)
		}
		return nil
	})
	time.Sleep(3 * time.Second) // a resync or two to do anything twice
	apps := runningApps(t, a.name)
	if len(apps) != 3 {
		t.Fatalf("%d app containers run, want 3: %+v", len(apps), apps)
	}
	seen := map[string]bool{}
	for _, c := range apps {
		key := c.Labels["io.shoal.pod.uid"] + "/" + c.Labels["io.shoal.container.name"]
		if seen[key] {
			t.Fatalf("container %s runs twice", key)
		}
		seen[key] = true
	}
	kept := 0
	for _, b := range before {
		for _, c := range apps {
			if c.ID == b.ID {
				kept++
			}
		}
	}
	if kept != len(before) {
		t.Fatalf("%d of the %d containers that ran before the hang still run: a hang alone restarted pods", kept, len(before))
	}
}
