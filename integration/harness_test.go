package integration

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/internal/poll"
)

const testImage = "shoal-testapp:v1"

func TestMain(m *testing.M) {
	if os.Getenv("SHOAL_TEST_DOCKER") != "1" {
		fmt.Println("integration tests need SHOAL_TEST_DOCKER=1 and a Docker Engine (run scripts/test)")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func shoalBin(t testing.TB) string {
	t.Helper()
	bin := os.Getenv("SHOAL_BIN")
	if bin == "" {
		t.Fatal("SHOAL_BIN is not set: build bin/shoal and point SHOAL_BIN at it")
	}
	return bin
}

// agent is one `shoal agent` process of a test, on the host's engine.
type agent struct {
	t       testing.TB
	name    string
	dataDir string
	port    int
	cmd     *exec.Cmd
	logFile *os.File
	client  *client.Client
	extra   []string
	// logPath is where the agent logs ("": agent.log in its data dir).
	logPath string
	// bin is the agent binary ("": SHOAL_BIN), for tests of upgrades.
	bin string
}

// logFilePath is the file the agent logs to.
func (a *agent) logFilePath() string {
	if a.logPath != "" {
		return a.logPath
	}
	return filepath.Join(a.dataDir, "agent.log")
}

// freePort finds a port free on loopback for an agent to listen on. It is
// taken from below Linux's ephemeral range (32768-60999), and below the
// node ports (30000-32767): a port of the ephemeral range, free when
// looked at, could be taken by any outgoing connection before the agent
// binds it (seen: "bind: address already in use").
func freePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 2000 {
		p := portLow + mrand.IntN(portHigh-portLow)
		if portsGiven[p] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[p] = true
		return p
	}
	t.Fatal("no free port found in 2,000 tries")
	return 0
}

const portLow, portHigh = 10000, 20000

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{} // handed out by this process
)

func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startAgent starts an agent with a fresh data dir and a unique node name;
// at the end of the test it is stopped and its containers removed. Extra
// arguments go to `shoal agent`.
func startAgent(t testing.TB, extra ...string) *agent {
	t.Helper()
	return startAgentWith(t, nil, extra...)
}

// startAgentWith is startAgent with prepare run on the agent before it
// starts (to mount a file system on its data dir, say); cleanups prepare
// registers run after the agent is stopped.
func startAgentWith(t testing.TB, prepare func(*agent), extra ...string) *agent {
	t.Helper()
	dir, err := os.MkdirTemp("", "shoal-it-agent-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: after the agent is stopped and
	// after what prepare registered (which may unmount the dir itself).
	// A killed agent leaves its pods' tmpfs mounts (secrets, service
	// account tokens): without this every test left them in the host's
	// mount table, which the engine reads on each container start.
	t.Cleanup(func() {
		if err := unmountBelow(dir); err != nil {
			t.Errorf("the agent's mounts: %v", err)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the agent's data dir: %v", err)
		}
	})
	a := &agent{t: t, name: "it-" + randomSuffix(), dataDir: dir, port: freePort(t), extra: extra}
	if prepare != nil {
		prepare(a)
	}
	t.Cleanup(func() {
		a.stop(syscall.SIGKILL)
		removeContainers(a.name)
		if t.Failed() {
			if b, err := os.ReadFile(a.logFilePath()); err == nil {
				lines := strings.Split(string(b), "\n")
				if len(lines) > 60 {
					lines = lines[len(lines)-60:]
				}
				t.Logf("agent log (last lines):\n%s", strings.Join(lines, "\n"))
			}
		}
	})
	a.start()
	a.client = a.newClient(t, "")
	return a
}

// unmountBelow detaches every file system mounted below dir, deepest
// first, and fails if any is left.
func unmountBelow(dir string) error {
	points := func() ([]string, error) {
		b, err := os.ReadFile("/proc/self/mounts")
		if err != nil {
			return nil, err
		}
		var out []string
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
				out = append(out, f[1])
			}
		}
		return out, nil
	}
	list, err := points()
	if err != nil {
		return err
	}
	for i := len(list) - 1; i >= 0; i-- {
		// EINVAL: an outer detach took it along already.
		if err := syscall.Unmount(list[i], syscall.MNT_DETACH); err != nil && err != syscall.EINVAL && err != syscall.ENOENT {
			return fmt.Errorf("unmount %s: %w", list[i], err)
		}
	}
	if left, err := points(); err != nil || len(left) > 0 {
		return fmt.Errorf("still mounted below %s: %v (%v)", dir, left, err)
	}
	return nil
}

func (a *agent) url() string { return fmt.Sprintf("https://127.0.0.1:%d", a.port) }

// kubeconfig is the admin credentials file the agent wrote when it founded
// its cluster.
func (a *agent) kubeconfig() string { return filepath.Join(a.dataDir, "admin.kubeconfig") }

// caFile is the cluster CA the agent trusts.
func (a *agent) caFile() string { return filepath.Join(a.dataDir, "identity", "ca.crt") }

// adminConn is the connection of the agent's admin kubeconfig.
func (a *agent) adminConn(t testing.TB) *client.Connection {
	t.Helper()
	kc, err := client.LoadKubeconfig(a.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := kc.Resolve("")
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// newClient makes an API client of the agent: with the admin token, or
// with token when given.
func (a *agent) newClient(t testing.TB, token string) *client.Client {
	t.Helper()
	conn := a.adminConn(t)
	conn.Server = a.url()
	if token != "" {
		conn.Token = token
	}
	c, err := client.NewFromConnection(conn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// cliArgs puts the flags that point the CLI at the agent, with the admin
// credentials, before args.
func (a *agent) cliArgs(args ...string) []string {
	return append([]string{"--kubeconfig", a.kubeconfig(), "--server", a.url()}, args...)
}

// httpClient is a plain HTTP client of the agent's API that trusts its CA
// and sends the admin token (token, when given, instead).
func (a *agent) httpClient(t testing.TB, token string) *http.Client {
	t.Helper()
	conn := a.adminConn(t)
	if token == "" {
		token = conn.Token
	}
	tc, err := conn.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 60 * time.Second, Transport: &bearer{token: token, next: &http.Transport{TLSClientConfig: tc}}}
}

// bearer adds a bearer token to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func (a *agent) start() {
	a.t.Helper()
	f, err := os.OpenFile(a.logFilePath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		a.t.Fatal(err)
	}
	a.logFile = f
	args := append([]string{"agent", "--name", a.name, "--data-dir", a.dataDir,
		"--api-addr", fmt.Sprintf("127.0.0.1:%d", a.port), "--bind", "127.0.0.1:0", "--ingress-addr", "127.0.0.1:0", "--ingress-tls-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0",
		"--log-level", "debug"}, a.extra...)
	bin := a.bin
	if bin == "" {
		bin = shoalBin(a.t)
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = f, f
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	poll.Until(a.t, 60*time.Second, "agent ready", func() error {
		resp, err := httpGetCA(a.url()+"/readyz", a.caFile())
		if err != nil {
			return err
		}
		if resp != "ok" {
			return fmt.Errorf("readyz: %s", resp)
		}
		return nil
	})
}

// stop sends sig to the agent and waits for it to exit.
func (a *agent) stop(sig syscall.Signal) {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
	a.cmd = nil
	if a.logFile != nil {
		a.logFile.Close()
	}
}

// shoal runs the CLI against the agent and returns its stdout; a non-zero
// exit fails the test unless allowed.
func (a *agent) shoal(args ...string) string {
	a.t.Helper()
	out, errOut, err := a.shoalIn(nil, args...)
	if err != nil {
		a.t.Fatalf("shoal %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (a *agent) shoalIn(stdin []byte, args ...string) (string, string, error) {
	cmd := exec.Command(shoalBin(a.t), a.cliArgs(args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func httpGet(url string) (string, error) {
	out, err := exec.Command("curl", "-sS", "--max-time", "5", url).Output()
	return strings.TrimSpace(string(out)), err
}

// httpGetCA is httpGet of an HTTPS URL whose certificate the CA in caFile
// signed.
func httpGetCA(url, caFile string) (string, error) {
	out, err := exec.Command("curl", "-sS", "--max-time", "5", "--cacert", caFile, url).Output()
	return strings.TrimSpace(string(out)), err
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// container is one engine container as `docker ps` shows it.
type container struct {
	ID     string
	Names  string
	State  string
	Image  string
	Labels map[string]string
}

// dockerPS lists the containers of a node (all states).
func dockerPS(t *testing.T, node string) []container {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "--no-trunc", "--filter", "label=io.shoal.node="+node,
		"--format", "{{json .}}").Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	var list []container
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		var raw struct {
			ID, Names, State, Image, Labels string
		}
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("docker ps line %q: %v", line, err)
		}
		c := container{ID: raw.ID, Names: raw.Names, State: raw.State, Image: raw.Image, Labels: map[string]string{}}
		for _, kv := range strings.Split(raw.Labels, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				c.Labels[k] = v
			}
		}
		list = append(list, c)
	}
	return list
}

// running returns the running app containers (not sandboxes) of a node.
func runningApps(t *testing.T, node string) []container {
	var out []container
	for _, c := range dockerPS(t, node) {
		if c.State == "running" && c.Labels["io.shoal.container.name"] != "POD" {
			out = append(out, c)
		}
	}
	return out
}

// runningNetworkHolders returns the running containers of a node that
// hold a pod's network namespace: the sandboxes of pods of several
// containers, and the only container of each pod without a sandbox (both
// carry no sandbox id of their own).
func runningNetworkHolders(t *testing.T, node string) []container {
	var out []container
	for _, c := range dockerPS(t, node) {
		if c.State == "running" && c.Labels["io.shoal.pod.uid"] != "" && c.Labels["io.shoal.sandbox.id"] == "" {
			out = append(out, c)
		}
	}
	return out
}

func removeContainers(node string) {
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=io.shoal.node="+node).Output()
	ids := strings.Fields(string(out))
	if len(ids) > 0 {
		_ = exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
	}
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// pods lists the pods of a namespace matching a selector.
func (a *agent) pods(t testing.TB, ns, selector string) []*api.Pod {
	t.Helper()
	sel, err := api.ParseSelector(selector)
	if err != nil {
		t.Fatal(err)
	}
	objs, _, err := a.client.List(ctx(t), api.KindPod, ns, api.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	out := make([]*api.Pod, len(objs))
	for i, o := range objs {
		out[i] = o.(*api.Pod)
	}
	return out
}

// readyPods counts pods that are Running and Ready, not being deleted.
func readyPods(pods []*api.Pod) int {
	n := 0
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == api.PodRunning && api.IsPodReady(p) {
			n++
		}
	}
	return n
}

func deploymentYAML(name string, replicas int, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  labels: {app: %[1]s}
spec:
  replicas: %[2]d
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      terminationGracePeriodSeconds: 5
      containers:
      - name: app
        image: %[3]s
        args: ["serve", "--port", "8080"]
        ports:
        - containerPort: 8080
`, name, replicas, image)
}
