package integration

// Helpers for multi-host tests. scripts/cluster makes N hosts on this machine:
// host i is the network namespace shoal-h<i> on the bridge shoal-br0, with its
// own dockerd and its own `shoal agent` named h<i> (docs/cluster.md). The
// names are fixed, so there is one cluster per machine at a time: tests that
// start one must not call t.Parallel (startCluster serializes them anyway).

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// clusterScript is scripts/cluster as seen from the package directory, where
// go test runs.
const clusterScript = "../scripts/cluster"

// clusterStateDir is where scripts/cluster keeps each host's data and logs.
const clusterStateDir = "/var/lib/shoal-cluster"

// clusterMu holds one cluster at a time in this test binary.
var clusterMu sync.Mutex

// cluster is a local multi-host cluster made by scripts/cluster for one test.
type cluster struct {
	t     testing.TB
	hosts []*clusterHost // hosts[0] is h1
}

// clusterHost is one host of a cluster: its agent's API and its engine.
type clusterHost struct {
	t          testing.TB
	name       string // h<i>, also the node name
	url        string // https://10.213.0.<10+i>:7480
	dockerHost string // unix:///run/shoal-cluster/h<i>/docker.sock
	kubeconfig string // the admin credentials, with this host's API as the server
	client     *client.Client
}

// startCluster runs `scripts/cluster up n` and registers `scripts/cluster
// down` as cleanup. agentArgs are added to every agent's command line (also
// when a host is started again). Any failure fails the test: multi-host tests
// run only where the single-host ones do (SHOAL_TEST_DOCKER=1), as root.
func startCluster(t testing.TB, n int, agentArgs ...string) *cluster {
	t.Helper()
	return startClusterEnv(t, n, nil, agentArgs...)
}

// startClusterEnv is startCluster with more environment for scripts/cluster
// up (SHOAL_CLUSTER_AGENT_BIN, say).
func startClusterEnv(t testing.TB, n int, extraEnv []string, agentArgs ...string) *cluster {
	t.Helper()
	return startClusterUp(t, n, nil, extraEnv, agentArgs...)
}

// startClusterSubnets is startCluster with the hosts spread over k subnets
// joined by a router that drops pod traffic (scripts/cluster up n
// --subnets k): host i is on subnet (i-1) mod k.
func startClusterSubnets(t testing.TB, n, k int, agentArgs ...string) *cluster {
	t.Helper()
	return startClusterUp(t, n, []string{"--subnets", fmt.Sprint(k)}, nil, agentArgs...)
}

// startClusterUp runs `scripts/cluster up n upArgs...` with more
// environment and agent flags.
func startClusterUp(t testing.TB, n int, upArgs, extraEnv []string, agentArgs ...string) *cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("multi-host tests need root: scripts/cluster makes network namespaces and runs dockerd")
	}
	clusterMu.Lock()
	// Cleanups run last-in first-out: down runs before the unlock.
	t.Cleanup(clusterMu.Unlock)
	c := &cluster{t: t}
	t.Cleanup(c.down)

	env := append(append(os.Environ(), extraEnv...), "SHOAL_CLUSTER_AGENT_ARGS="+strings.Join(agentArgs, " "))
	out := c.script(5*time.Minute, env, append([]string{"up", fmt.Sprint(n)}, upArgs...)...)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("scripts/cluster up: unexpected line %q", line)
		}
		h := &clusterHost{t: t, name: f[0], url: f[1], dockerHost: f[2],
			kubeconfig: filepath.Join(clusterStateDir, f[0], "admin.kubeconfig")}
		h.client = h.newClient(t, "")
		c.hosts = append(c.hosts, h)
	}
	if len(c.hosts) != n {
		t.Fatalf("scripts/cluster up %d printed %d hosts:\n%s", n, len(c.hosts), out)
	}
	return c
}

// script runs scripts/cluster with args and returns its stdout; a failure
// fails the test with its stderr.
func (c *cluster) script(timeout time.Duration, env []string, args ...string) string {
	c.t.Helper()
	out, errOut, err := runClusterScript(timeout, env, args...)
	if err != nil {
		c.t.Fatalf("scripts/cluster %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func runClusterScript(timeout time.Duration, env []string, args ...string) (string, string, error) {
	cx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(cx, clusterScript, args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if cx.Err() != nil {
		err = fmt.Errorf("%w (timed out after %s)", err, timeout)
	}
	return out.String(), errOut.String(), err
}

// down removes the cluster; on a failed test it first logs each host's
// status and the end of its agent's log.
func (c *cluster) down() {
	if c.t.Failed() {
		if out, _, err := runClusterScript(time.Minute, nil, "status"); err == nil {
			c.t.Logf("cluster status:\n%s", out)
		}
		for _, h := range c.hosts {
			c.t.Logf("%s agent log (last lines):\n%s", h.name, tailFile(filepath.Join(clusterStateDir, h.name, "agent.log"), 40))
		}
	}
	if _, errOut, err := runClusterScript(5*time.Minute, nil, "down"); err != nil {
		c.t.Errorf("scripts/cluster down: %v\n%s", err, errOut)
	}
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// joinToken is the token that admits an agent into the cluster.
func (c *cluster) joinToken() string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(clusterStateDir, "join-token"))
	if err != nil {
		c.t.Fatalf("join token: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// agent returns host i (1-based) of the cluster.
func (c *cluster) agent(i int) *clusterHost {
	c.t.Helper()
	if i < 1 || i > len(c.hosts) {
		c.t.Fatalf("no host %d in a cluster of %d", i, len(c.hosts))
	}
	return c.hosts[i-1]
}

// docker runs the docker CLI against host i's engine and returns its output;
// a failure fails the test.
func (c *cluster) docker(i int, args ...string) string {
	c.t.Helper()
	out, err := c.agent(i).dockerIn(args...)
	if err != nil {
		c.t.Fatalf("docker (h%d) %s: %v: %s", i, strings.Join(args, " "), err, out)
	}
	return out
}

// dockerIn runs the docker CLI against the host's engine and returns its
// combined output and error, for commands that may fail.
func (h *clusterHost) dockerIn(args ...string) (string, error) {
	out, err := exec.Command("docker", append([]string{"-H", h.dockerHost}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// kill crashes host i: kill -9 of its agent, dockerd, containerd, shims and
// containers (its network stays up).
func (c *cluster) kill(i int) {
	c.t.Helper()
	c.script(time.Minute, nil, "kill", fmt.Sprint(i))
}

// start starts host i's engine and agent again, on the same data, and returns
// once the agent is ready.
func (c *cluster) start(i int) {
	c.t.Helper()
	c.script(3*time.Minute, nil, "start", fmt.Sprint(i))
}

// partition drops all traffic between host i and the other hosts; the test
// still reaches host i's API.
func (c *cluster) partition(i int) {
	c.t.Helper()
	c.script(time.Minute, nil, "partition", fmt.Sprint(i))
}

// heal undoes partition(i).
func (c *cluster) heal(i int) {
	c.t.Helper()
	c.script(time.Minute, nil, "heal", fmt.Sprint(i))
}

// newClient makes an API client of the host's agent: with the admin
// token, or with token when given.
func (h *clusterHost) newClient(t testing.TB, token string) *client.Client {
	t.Helper()
	kc, err := client.LoadKubeconfig(h.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := kc.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	conn.Server = h.url
	if token != "" {
		conn.Token = token
	}
	c, err := client.NewFromConnection(conn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// httpClient is a plain HTTP client of the host's API that trusts the
// cluster CA and sends the admin token.
func (h *clusterHost) httpClient(t *testing.T) *http.Client {
	t.Helper()
	kc, err := client.LoadKubeconfig(h.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := kc.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	tc, err := conn.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &bearer{token: conn.Token, next: &http.Transport{TLSClientConfig: tc}}}
}

// address is the host's IP address, from its API URL.
func (h *clusterHost) address() string {
	return strings.TrimPrefix(strings.TrimSuffix(h.url, ":7480"), "https://")
}

// caFile is the cluster CA as the host's agent trusts it.
func (h *clusterHost) caFile() string {
	return filepath.Join(clusterStateDir, h.name, "agent", "identity", "ca.crt")
}

// ready returns nil when the host's agent answers /readyz with "ok".
func (h *clusterHost) ready() error {
	resp, err := httpGetCA(h.url+"/readyz", h.caFile())
	if err != nil {
		return err
	}
	if resp != "ok" {
		return fmt.Errorf("%s readyz: %s", h.name, resp)
	}
	return nil
}

// shoal runs the CLI against the host's agent and returns its stdout; a
// non-zero exit fails the test.
func (h *clusterHost) shoal(args ...string) string {
	h.t.Helper()
	out, errOut, err := h.shoalIn(nil, args...)
	if err != nil {
		h.t.Fatalf("shoal (%s) %s: %v\nstdout: %s\nstderr: %s", h.name, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// shoalIn runs the CLI against the host's agent with stdin (if not nil) and
// returns stdout, stderr and the error.
func (h *clusterHost) shoalIn(stdin []byte, args ...string) (string, string, error) {
	global := []string{"--kubeconfig", h.kubeconfig, "--server", h.url}
	cmd := exec.Command(shoalBin(h.t), append(global, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// pods lists the pods of a namespace matching a selector, as this host's
// agent sees them.
func (h *clusterHost) pods(t testing.TB, ns, selector string) []*api.Pod {
	t.Helper()
	sel, err := api.ParseSelector(selector)
	if err != nil {
		t.Fatal(err)
	}
	objs, _, err := h.client.List(ctx(t), api.KindPod, ns, api.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatalf("list pods on %s: %v", h.name, err)
	}
	out := make([]*api.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*api.Pod)
	}
	return out
}

// TestClusterScriptBringsUpHosts checks the local cluster itself: every host
// has its own engine with the test images and its own agent, ready, driving it.
func TestClusterScriptBringsUpHosts(t *testing.T) {
	c := startCluster(t, 2)
	for i := 1; i <= 2; i++ {
		h := c.agent(i)
		if want := fmt.Sprintf("https://10.213.0.%d:7480", 10+i); h.url != want {
			t.Errorf("h%d: API at %s, want %s", i, h.url, want)
		}
		if err := h.ready(); err != nil {
			t.Errorf("h%d: %v", i, err)
		}
		if id := c.docker(i, "image", "inspect", "--format", "{{.Id}}", testImage); !strings.HasPrefix(id, "sha256:") {
			t.Errorf("h%d: %s not loaded: %q", i, testImage, id)
		}
		// Each engine is the host's own: its default bridge has the host's subnet.
		subnet := c.docker(i, "network", "inspect", "--format", "{{(index .IPAM.Config 0).Subnet}}", "bridge")
		if want := fmt.Sprintf("172.30.%d.0/24", i); subnet != want {
			t.Errorf("h%d: engine bridge subnet %s, want %s", i, subnet, want)
		}
		// And the agent of host i drives that engine under its own name.
		obj, err := h.client.Get(ctx(t), api.KindNode, "", h.name)
		if err != nil {
			t.Errorf("h%d: node %s: %v", i, h.name, err)
			continue
		}
		if got := obj.(*api.Node).Labels[api.LabelHostname]; got != h.name {
			t.Errorf("h%d: node hostname label %q", i, got)
		}
	}
	if id1, id2 := c.docker(1, "info", "--format", "{{.ID}}"), c.docker(2, "info", "--format", "{{.ID}}"); id1 == id2 {
		t.Errorf("both engines report the same ID %s", id1)
	}
}
