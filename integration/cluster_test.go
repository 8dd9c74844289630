package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/internal/poll"
)

// members asks one agent who is in the cluster and who leads.
func (h *clusterHost) members(t *testing.T) *api.MemberList {
	t.Helper()
	m, err := h.client.Members(ctx(t))
	if err != nil {
		t.Fatalf("members on %s: %v", h.name, err)
	}
	return m
}

// readyNodes is the sorted list of Ready nodes one agent reports.
func (h *clusterHost) readyNodes(t *testing.T) []string {
	objs, _, err := h.client.List(ctx(t), api.KindNode, "", api.ListOptions{})
	if err != nil {
		return nil
	}
	var names []string
	for _, o := range objs {
		n := o.(*api.Node)
		if c := api.FindCondition(n.Status.Conditions, api.NodeReady); c != nil && c.Status == api.ConditionTrue {
			names = append(names, n.Name)
		}
	}
	sort.Strings(names)
	return names
}

// runningApps counts, across every host's engine, the running app containers
// of pods whose name starts with prefix.
func (c *cluster) runningApps(prefix string) map[string]int {
	out := map[string]int{}
	for _, h := range c.hosts {
		text, err := h.dockerIn("ps", "--filter", "label=io.shoal.pod.name",
			"--format", `{{.Label "io.shoal.container.name"}} {{.Label "io.shoal.pod.name"}}`)
		if err != nil {
			continue // a killed host's engine does not answer
		}
		for _, line := range strings.Split(text, "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[0] != "POD" && strings.HasPrefix(f[1], prefix) {
				out[h.name]++
			}
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// podFingerprint is what every agent must agree on about a pod list.
func podFingerprint(pods []*api.Pod) string {
	var rows []string
	for _, p := range pods {
		rows = append(rows, p.Name+"@"+p.Spec.NodeName+":"+p.Status.Phase)
	}
	sort.Strings(rows)
	return strings.Join(rows, ",")
}

func TestClusterFormsSpreadsHealsAndRejoins(t *testing.T) {
	c := startCluster(t, 3)
	h1, h2, h3 := c.agent(1), c.agent(2), c.agent(3)
	want := "h1,h2,h3"
	poll.Until(t, 30*time.Second, "every agent sees 3 Ready nodes and the same leader", func() error {
		for _, h := range c.hosts {
			if got := strings.Join(h.readyNodes(t), ","); got != want {
				return fmt.Errorf("%s sees Ready nodes %q", h.name, got)
			}
			if m := h.members(t); m.Leader != "h1" {
				return fmt.Errorf("%s follows leader %q", h.name, m.Leader)
			}
		}
		return nil
	})
	if out := h2.shoal("members"); !strings.Contains(out, "h1") || !strings.Contains(out, "*") {
		t.Fatalf("members:\n%s", out)
	}
	// The agents measure each other's clocks over gossip: the hosts share
	// one clock, so every offset is small and none is skewed.
	poll.Until(t, 30*time.Second, "h2 has measured the others' clocks", func() error {
		for _, m := range h2.members(t).Items {
			if m.Name == "h2" {
				continue
			}
			if m.Clock == nil {
				return fmt.Errorf("%s not measured yet", m.Name)
			}
			if off, err := time.ParseDuration(m.Clock.Offset); err != nil || m.Clock.Skewed || off > 100*time.Millisecond || off < -100*time.Millisecond {
				t.Fatalf("%s's clock reads %+v from h2 (%v); the hosts share one clock", m.Name, m.Clock, err)
			}
		}
		return nil
	})
	if out := h2.shoal("members", "-o", "wide"); !strings.Contains(out, "CLOCK") || !strings.Contains(out, "(reference)") {
		t.Fatalf("members -o wide:\n%s", out)
	}

	// Applied on a non-leader agent, the deployment spreads 2 pods per host.
	if _, errOut, err := h3.shoalIn([]byte(deploymentYAML("spread", 6, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply on h3: %v %s", err, errOut)
	}
	var settled time.Time
	poll.Until(t, 90*time.Second, "6 pods running, 2 per host", func() error {
		pods := h3.pods(t, "default", "app=spread")
		perNode := map[string]int{}
		for _, p := range pods {
			if p.Status.Phase == api.PodRunning && api.IsPodReady(p) {
				perNode[p.Spec.NodeName]++
			}
		}
		if perNode["h1"] != 2 || perNode["h2"] != 2 || perNode["h3"] != 2 || len(pods) != 6 {
			return fmt.Errorf("ready pods per node %v of %d", perNode, len(pods))
		}
		settled = time.Now()
		return nil
	})
	poll.Until(t, 2*time.Second, "every agent's pod list agrees", func() error {
		ref := podFingerprint(h3.pods(t, "default", "app=spread"))
		for _, h := range []*clusterHost{h1, h2} {
			if got := podFingerprint(h.pods(t, "default", "app=spread")); got != ref {
				return fmt.Errorf("%s differs:\n%s\n%s", h.name, got, ref)
			}
		}
		return nil
	})
	t.Logf("all agents agreed %s after h3 saw the final state", time.Since(settled).Round(time.Millisecond))
	if apps := c.runningApps("spread-"); total(apps) != 6 || apps["h1"] != 2 || apps["h2"] != 2 || apps["h3"] != 2 {
		t.Fatalf("engines run %v", apps)
	}

	// Logs and exec reach a pod on another host through any agent.
	var remote *api.Pod
	for _, p := range h1.pods(t, "default", "app=spread") {
		if p.Spec.NodeName == "h3" {
			remote = p
		}
	}
	if out := h1.shoal("exec", remote.Name, "--", "/testapp", "hostname"); strings.TrimSpace(out) != remote.Name {
		t.Fatalf("exec through h1 into a pod on h3 printed %q", out)
	}
	if out := h1.shoal("logs", remote.Name); !strings.Contains(out, "serving on") {
		t.Fatalf("logs through h1 of a pod on h3: %q", out)
	}

	// A host dies: its pods run elsewhere within 20 s, and it shows NotReady.
	killed := time.Now()
	c.kill(3)
	poll.Until(t, 20*time.Second, "the dead host's pods running on the others", func() error {
		apps := c.runningApps("spread-")
		if apps["h1"]+apps["h2"] != 6 {
			return fmt.Errorf("engines of h1 and h2 run %v", apps)
		}
		return nil
	})
	t.Logf("failover: 6 pods running on h1 and h2 %s after the kill", time.Since(killed).Round(time.Millisecond))
	poll.Until(t, 10*time.Second, "h3 NotReady", func() error {
		out := h1.shoal("get", "nodes")
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "h3 ") && strings.Contains(line, "NotReady") {
				return nil
			}
		}
		return fmt.Errorf("get nodes:\n%s", out)
	})

	// It comes back: it rejoins, stops its stale containers, and exactly 6
	// app containers run cluster-wide.
	c.start(3)
	poll.Until(t, 60*time.Second, "h3 back and exactly 6 containers", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != want {
			return fmt.Errorf("h1 sees %q", got)
		}
		if apps := c.runningApps("spread-"); total(apps) != 6 {
			return fmt.Errorf("engines run %v", apps)
		}
		return nil
	})
	assertNothingRefused(t, c)
}

func TestPartitionedSidesMergeAfterHealing(t *testing.T) {
	c := startCluster(t, 3)
	h1, h3 := c.agent(1), c.agent(3)
	poll.Until(t, 30*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	c.partition(3)
	cut := time.Now()
	if _, errOut, err := h1.shoalIn([]byte(deploymentYAML("majority", 4, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply on h1: %v %s", err, errOut)
	}
	if _, errOut, err := h3.shoalIn([]byte(deploymentYAML("minority", 2, testImage)), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply on h3: %v %s", err, errOut)
	}
	time.Sleep(time.Until(cut.Add(30 * time.Second))) // the partition lasts 30 s
	c.heal(3)
	healed := time.Now()
	poll.Until(t, 30*time.Second, "both sides' deployments everywhere, each at its replica count", func() error {
		for _, h := range c.hosts {
			for _, name := range []string{"majority", "minority"} {
				if _, err := h.client.Get(ctx(t), api.KindDeployment, "default", name); err != nil {
					return fmt.Errorf("%s lacks %s: %v", h.name, name, err)
				}
			}
		}
		if n := total(c.runningApps("majority-")); n != 4 {
			return fmt.Errorf("majority runs %d containers", n)
		}
		if n := total(c.runningApps("minority-")); n != 2 {
			return fmt.Errorf("minority runs %d containers", n)
		}
		return nil
	})
	t.Logf("converged %s after healing", time.Since(healed).Round(time.Millisecond))
	assertNothingRefused(t, c)
}

func TestClusterRestartKeepsObjectsAndContainers(t *testing.T) {
	// The hosts come back one after the other (scripts/cluster starts one
	// at a time); on a loaded machine the first may wait longer than the
	// default eviction timeout for the others. Eviction is not what this
	// test is about.
	c := startCluster(t, 3, "--pod-eviction-timeout", "60s")
	h1 := c.agent(1)
	poll.Until(t, 30*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	h1.shoalIn([]byte(deploymentYAML("durable", 3, testImage)), "apply", "-f", "-")
	ds := `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: everywhere}
spec:
  selector: {matchLabels: {app: everywhere}}
  template:
    metadata: {labels: {app: everywhere}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{name: a, image: shoal-testapp:v1, args: ["sleep", "infinity"]}]
`
	h1.shoalIn([]byte(ds), "apply", "-f", "-")
	poll.Until(t, 90*time.Second, "one daemon pod per host", func() error {
		if apps := c.runningApps("everywhere-"); apps["h1"] != 1 || apps["h2"] != 1 || apps["h3"] != 1 {
			return fmt.Errorf("%v", apps)
		}
		return nil
	})
	h1.shoalIn([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {k: v}\n"), "apply", "-f", "-")
	poll.Until(t, 90*time.Second, "3 containers", func() error {
		if n := total(c.runningApps("durable-")); n != 3 {
			return fmt.Errorf("%d containers", n)
		}
		return nil
	})
	before := podFingerprint(h1.pods(t, "default", "app=durable"))
	for i := 1; i <= 3; i++ {
		stopAgent(t, i)
	}
	if n := total(c.runningApps("durable-")); n != 3 {
		t.Fatalf("stopping the agents changed the containers: %d", n)
	}
	for i := 1; i <= 3; i++ {
		c.start(i)
	}
	poll.Until(t, 30*time.Second, "every agent has the objects back", func() error {
		for _, h := range c.hosts {
			if _, err := h.client.Get(ctx(t), api.KindConfigMap, "default", "settings"); err != nil {
				return fmt.Errorf("%s: %v", h.name, err)
			}
			if got := podFingerprint(h.pods(t, "default", "app=durable")); got != before {
				return fmt.Errorf("%s pods %s, before %s", h.name, got, before)
			}
		}
		return nil
	})
	time.Sleep(3 * time.Second) // a few resyncs to do anything wrong
	if n := total(c.runningApps("durable-")); n != 3 {
		t.Fatalf("%d containers after the restart, want 3 (nothing duplicated)", n)
	}
	if apps := c.runningApps("everywhere-"); apps["h1"] != 1 || apps["h2"] != 1 || apps["h3"] != 1 {
		t.Fatalf("daemon pods after the restart: %v", apps)
	}
	assertNothingRefused(t, c)
}

// stopAgent stops only host i's agent (SIGTERM), leaving its engine running.
func stopAgent(t *testing.T, i int) {
	t.Helper()
	pidText, err := os.ReadFile(fmt.Sprintf("/run/shoal-cluster/h%d/agent.pid", i))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(pidText), &pid)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 20*time.Second, "agent stopped", func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("pid %d still runs", pid)
		}
		return nil
	})
}

func TestSchedulingLimitsAndDrain(t *testing.T) {
	c := startCluster(t, 3)
	h1, h2 := c.agent(1), c.agent(2)
	poll.Until(t, 30*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	huge := `apiVersion: v1
kind: Pod
metadata: {name: huge}
spec:
  containers:
  - name: app
    image: shoal-testapp:v1
    resources: {requests: {memory: 100Ti}}
`
	h2.shoalIn([]byte(huge), "apply", "-f", "-")
	poll.Until(t, 30*time.Second, "Pending with FailedScheduling", func() error {
		p, err := h1.client.Get(ctx(t), api.KindPod, "default", "huge")
		if err != nil {
			return err
		}
		pod := p.(*api.Pod)
		if pod.Status.Phase != "" && pod.Status.Phase != api.PodPending || pod.Spec.NodeName != "" {
			return fmt.Errorf("phase %s node %s", pod.Status.Phase, pod.Spec.NodeName)
		}
		out := h1.shoal("describe", "pod", "huge")
		if !strings.Contains(out, "FailedScheduling") || !strings.Contains(out, "Insufficient memory") {
			return fmt.Errorf("describe:\n%s", out)
		}
		return nil
	})

	h1.shoalIn([]byte(deploymentYAML("movable", 6, testImage)), "apply", "-f", "-")
	poll.Until(t, 90*time.Second, "2 containers on h2", func() error {
		if apps := c.runningApps("movable-"); apps["h2"] != 2 || total(apps) != 6 {
			return fmt.Errorf("%v", apps)
		}
		return nil
	})
	h1.shoal("drain", "h2", "--timeout", "2m")
	poll.Until(t, 60*time.Second, "all 6 on h1 and h3", func() error {
		if apps := c.runningApps("movable-"); apps["h2"] != 0 || total(apps) != 6 {
			return fmt.Errorf("%v", apps)
		}
		return nil
	})
	if out := h1.shoal("get", "nodes"); !strings.Contains(out, "SchedulingDisabled") {
		t.Fatalf("h2 not cordoned:\n%s", out)
	}
}

func TestJoinFailuresAndBadGossip(t *testing.T) {
	c := startCluster(t, 2)
	h1 := c.agent(1)
	poll.Until(t, 30*time.Second, "2 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})

	token := c.joinToken()
	t.Run("a duplicate name is refused", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command("nsenter", "--net=/var/run/netns/shoal-h2", shoalBin(t), "agent", "--name", "h1",
			"--data-dir", dir, "--api-addr", "10.213.0.12:7490", "--bind", "10.213.0.12:7491",
			"--advertise", "10.213.0.12:7491", "--join", "10.213.0.11:7481", "--join-token", token,
			"--docker-host", "unix:///run/shoal-cluster/h2/docker.sock")
		out, err := runWithTimeout(cmd, 60*time.Second)
		if err == nil {
			t.Fatalf("an agent named like a live member started:\n%s", out)
		}
		if !strings.Contains(out, "node name h1 is already used by") || !strings.Contains(out, "another --name") {
			t.Fatalf("the error does not say what to fix:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(dir, "state.db")); err == nil {
			t.Fatal("the refused agent wrote a store")
		}
	})

	t.Run("a join to nothing retries and says so", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command("nsenter", "--net=/var/run/netns/shoal-h2", shoalBin(t), "agent", "--name", "lonely",
			"--data-dir", dir, "--api-addr", "10.213.0.12:7492", "--bind", "10.213.0.12:7493",
			"--advertise", "10.213.0.12:7493", "--join", "10.213.0.99:7481", "--join-token", token,
			"--docker-host", "unix:///run/shoal-cluster/h2/docker.sock")
		var logBuf syncLog
		cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
			removeContainers("lonely")
		}()
		poll.Until(t, 30*time.Second, "a log line about retrying", func() error {
			if !strings.Contains(logBuf.String(), "10.213.0.99") || !strings.Contains(strings.ToLower(logBuf.String()), "retry") {
				return fmt.Errorf("log so far:\n%s", logBuf.String())
			}
			return nil
		})
	})

	t.Run("unencrypted gossip is dropped and stores nothing", func(t *testing.T) {
		conn, err := net.Dial("udp", "10.213.0.11:7481")
		if err != nil {
			t.Fatal(err)
		}
		cm := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"forged","namespace":"default","uid":"6f1c1d52-0000-4000-8000-000000000001"},"data":{"a":"b"}}`
		for i := 0; i < 20; i++ {
			// Packets memberlist itself cannot parse...
			conn.Write([]byte(fmt.Sprintf("garbage %d \x00\xff\x01 not a gossip message", i)))
			// ...and a well-formed record, in clear, behind the cluster's
			// label: gossip is encrypted, so it must not be stored.
			pkt, err := memberlist.AddLabelHeaderToPacket(append([]byte{8}, forgedRecord("o/configmaps/default/forged", cm)...), "shoal")
			if err != nil {
				t.Fatal(err)
			}
			conn.Write(pkt)
		}
		conn.Close()
		time.Sleep(2 * time.Second) // nothing to wait for: the forgery must never appear
		if _, err := h1.client.Get(ctx(t), api.KindConfigMap, "default", "forged"); !api.IsNotFound(err) {
			t.Fatalf("a forged gossip record was stored: %v", err)
		}
		if err := h1.ready(); err != nil {
			t.Fatalf("h1 stopped serving: %v", err)
		}
		if got := strings.Join(c.agent(2).readyNodes(t), ","); got != "h1,h2" {
			t.Fatalf("membership broke: %q", got)
		}
	})
}

// forgedRecord is a gossip record message (shoal's type 1) of key with
// value, as an agent would send it but unencrypted.
func forgedRecord(key, value string) []byte {
	return gossip.EncodeRecordMessage(&gossip.Record{Key: key, Value: []byte(value),
		Version: gossip.Version{Time: gossip.Pack(time.Now().UnixMilli()), Node: "h1"}})
}

// syncLog is a log buffer safe to read while a process writes it.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return out.String(), nil
	}
}
