package integration

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// TestClusterIdentityTokensKeysAndCA runs the cluster's security on three
// hosts: tokens work on every agent and a revoked one fails on all of them
// within 2 s; agents that do not belong are refused and never become
// members; strangers cannot gossip; the internal endpoints answer agents
// only; logs and exec are forwarded to the pod's node over mutual TLS with
// the caller's permissions; the gossip key and the CA rotate while a
// Deployment scales, with no node ever NotReady.
func TestClusterIdentityTokensKeysAndCA(t *testing.T) {
	c := startCluster(t, 3)
	h1, h2, h3 := c.agent(1), c.agent(2), c.agent(3)
	poll.Until(t, 30*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})

	t.Run("a token works on every agent and its revocation reaches all within 2s", func(t *testing.T) {
		tok := strings.TrimSpace(h1.shoal("token", "create", "viewer", "--role", "view"))
		for _, h := range c.hosts {
			poll.Until(t, 10*time.Second, h.name+" accepts the token", func() error {
				_, errOut, err := h.shoalIn(nil, "--token", tok, "get", "pods")
				if err != nil {
					return fmt.Errorf("%v %s", err, errOut)
				}
				return nil
			})
		}
		h2.shoal("token", "revoke", "viewer")
		revoked := time.Now()
		var wg sync.WaitGroup
		took := make([]time.Duration, len(c.hosts))
		for i, h := range c.hosts {
			wg.Go(func() {
				cl := h.newClient(t, tok)
				for time.Since(revoked) < 5*time.Second {
					if _, _, err := cl.List(ctx(t), api.KindPod, "default", api.ListOptions{}); api.IsUnauthorized(err) {
						took[i] = time.Since(revoked)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				took[i] = -1
			})
		}
		wg.Wait()
		for i, d := range took {
			if d < 0 || d > 2*time.Second {
				t.Errorf("%s: the revoked token still worked after 2s (%s)", c.hosts[i].name, d)
			}
		}
		t.Logf("revoked token refused after %v (h1, h2, h3)", took)
	})

	token := c.joinToken()
	// These agents never get as far as an engine: they are refused first
	// (or, the stranger, found their own cluster and wait for one). They
	// must not touch h2's engine, which h2's agent owns.
	agentCmd := func(dir, name string, extra ...string) *exec.Cmd {
		args := append([]string{"--net=/var/run/netns/shoal-h2", shoalBin(t), "agent", "--name", name, "--data-dir", dir,
			"--api-addr", "10.213.0.12:7495", "--bind", "10.213.0.12:7496", "--advertise", "10.213.0.12:7496",
			"--docker-host", "unix://" + filepath.Join(dir, "no-engine.sock"), "--ingress-addr", "", "--dns-addr", "off"}, extra...)
		return exec.Command("nsenter", args...)
	}
	refused := func(t *testing.T, dir, name, want string, extra ...string) {
		t.Helper()
		out, err := runWithTimeout(agentCmd(dir, name, extra...), 60*time.Second)
		if err == nil {
			t.Fatalf("the agent was not refused:\n%s", out)
		}
		if !strings.Contains(out, want) {
			t.Fatalf("the refusal does not say %q:\n%s", want, out)
		}
		if names := memberNames(t, h1); strings.Contains(names, name) {
			t.Fatalf("the refused agent %s is a member: %s", name, names)
		}
	}
	t.Run("agents that do not belong are refused and write nothing", func(t *testing.T) {
		dir := t.TempDir()
		refused(t, dir, "intruder", "--join-token", "--join", "10.213.0.11:7481")
		if _, err := os.Stat(filepath.Join(dir, "state.db")); err == nil {
			t.Fatal("an agent without a token wrote a store")
		}
		wrong := token[:len(token)-5] + "aaaaa"
		refused(t, t.TempDir(), "intruder", "secret is not this cluster's current one", "--join", "10.213.0.11:7481", "--join-token", wrong)
		if !strings.Contains(tailFile(filepath.Join(clusterStateDir, "h1", "agent.log"), 200), "refused an agent's join") {
			t.Error("h1 did not log the refused join")
		}

		// An agent of another cluster: it founds its own, then tries ours.
		foreign := t.TempDir()
		cmd := agentCmd(foreign, "stranger")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var foreignTok string
		poll.Until(t, 60*time.Second, "the other cluster founded", func() error {
			out, errOut, err := h1.shoalIn(nil, "--kubeconfig", filepath.Join(foreign, "admin.kubeconfig"),
				"--server", "https://10.213.0.12:7495", "join-token")
			if err != nil {
				return fmt.Errorf("%v %s", err, errOut)
			}
			foreignTok = strings.TrimSpace(out)
			return nil
		})
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		// Its join token names its own CA: our cluster is not the one it pins.
		refused(t, t.TempDir(), "wanderer", "not the one the join token names", "--join", "10.213.0.11:7481", "--join-token", foreignTok)
		// Its agent, with its own certificate, is refused by ours (and
		// refuses ours): one line on each side.
		refused(t, foreign, "stranger", "is not of this agent's cluster", "--join", "10.213.0.11:7481")
		if !strings.Contains(tailFile(filepath.Join(clusterStateDir, "h1", "agent.log"), 200), "refused a connection") {
			t.Error("h1 did not log the refused connection")
		}

		// h3's certificate copied under another name.
		stolen := t.TempDir()
		if out, err := exec.Command("cp", "-a", filepath.Join(clusterStateDir, "h3", "agent", "identity"), stolen).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
		refused(t, stolen, "h9", `is for node "h3", not "h9"`, "--join", "10.213.0.11:7481")
	})

	t.Run("strangers cannot gossip", func(t *testing.T) {
		conf := memberlist.DefaultLANConfig()
		conf.Name = "0-attacker"
		conf.BindAddr, conf.BindPort, conf.AdvertisePort = "10.213.0.1", 0, 0
		conf.Label = "shoal"
		conf.Logger = log.New(io.Discard, "", 0)
		ml, err := memberlist.Create(conf)
		if err != nil {
			t.Fatal(err)
		}
		defer ml.Shutdown()
		if n, err := ml.Join([]string{"10.213.0.11:7481"}); err == nil && n > 0 {
			t.Errorf("an unencrypted stranger joined (%d)", n)
		}
		time.Sleep(2 * time.Second)
		if names := memberNames(t, h1); strings.Contains(names, "attacker") {
			t.Fatalf("the stranger is a member: %s", names)
		}
	})

	t.Run("internal endpoints answer agents only", func(t *testing.T) {
		admin := adminToken(t, h1)
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
		for _, u := range []string{"https://10.213.0.11:7481/shoal/v1/internal/records", "https://10.213.0.11:7481/shoal/v1/internal/hello",
			"https://10.213.0.11:7481/shoal/v1/internal/forward/api/v1/namespaces/default/pods"} {
			req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("\x01\x01\x05o/x/y"))
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "node certificate") {
				t.Errorf("%s without a node certificate: %d %s", u, resp.StatusCode, b)
			}
		}
		// Nothing internal is left on the API port.
		apiClient := &http.Client{Timeout: 10 * time.Second, Transport: &bearer{token: admin,
			next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: tlsPool(t, readFile(t, h1.caFile()))}}}}
		resp, err := apiClient.Post(h1.url+"/shoal/v1/internal/records", "application/octet-stream", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusForbidden {
			t.Errorf("the API port still serves record pulls: %d", resp.StatusCode)
		}
	})

	// A Deployment that scales while the keys rotate; a watcher counts
	// every moment any agent sees any node not Ready.
	h1.shoalIn([]byte(deploymentYAML("steady", 3, testImage)), "apply", "-f", "-")
	poll.Until(t, 90*time.Second, "3 pods running", func() error {
		if n := readyPods(h1.pods(t, "default", "app=steady")); n != 3 {
			return fmt.Errorf("%d ready", n)
		}
		return nil
	})
	var notReady atomic.Int64
	var seen sync.Map
	stop := make(chan struct{})
	var watch sync.WaitGroup
	for _, h := range c.hosts {
		watch.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				objs, _, err := h.client.List(ctx(t), api.KindNode, "", api.ListOptions{})
				if err != nil {
					continue
				}
				for _, o := range objs {
					n := o.(*api.Node)
					for _, cond := range n.Status.Conditions {
						if cond.Type == api.NodeReady && cond.Status != api.ConditionTrue {
							notReady.Add(1)
							seen.Store(h.name+" saw "+n.Name, cond.Status)
						}
					}
				}
			}
		})
	}
	defer func() { close(stop); watch.Wait() }()

	t.Run("the gossip key rotates while a Deployment scales", func(t *testing.T) {
		before := keyIDs(h1.shoal("keys", "list"))
		if len(before) != 1 {
			t.Fatalf("keys before: %v", before)
		}
		old := before[0]
		_, errOut, err := h1.shoalIn(nil, "keys", "install")
		if err != nil {
			t.Fatalf("keys install: %v %s", err, errOut)
		}
		newKey := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(errOut), "new key:"))
		h1.shoal("scale", "deploy/steady", "--replicas", "9")
		// Using it before every member has it is refused.
		poll.Until(t, 30*time.Second, "the new key installed on all 3", func() error {
			if out := h2.shoal("keys", "list"); !regexp.MustCompile(`(?m)^\S+\s+3/3\s+0/3$`).MatchString(out) {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
		h2.shoal("keys", "use", newKey)
		poll.Until(t, 30*time.Second, "every member encrypts with the new key", func() error {
			// The primary must be another key than the old one: the old
			// key's line also reads "* 3/3 3/3" until h3 learns of the
			// switch.
			out := h3.shoal("keys", "list")
			if m := regexp.MustCompile(`(?m)^(\S+)\s+\*\s+3/3\s+3/3$`).FindStringSubmatch(out); m == nil || m[1] == old {
				return fmt.Errorf("%s", out)
			}
			return nil
		})
		if _, errOut, err := h1.shoalIn(nil, "keys", "remove", newKey); err == nil || !strings.Contains(errOut, "primary") {
			t.Errorf("removing the primary key: %v %s", err, errOut)
		}
		h3.shoal("keys", "remove", old)
		poll.Until(t, 30*time.Second, "the old key gone everywhere", func() error {
			if ids := keyIDs(h1.shoal("keys", "list")); len(ids) != 1 || ids[0] == old {
				return fmt.Errorf("%v", ids)
			}
			return nil
		})
		poll.Until(t, 120*time.Second, "9 pods running", func() error {
			if n := readyPods(h1.pods(t, "default", "app=steady")); n != 9 {
				return fmt.Errorf("%d ready", n)
			}
			return nil
		})
		// The cluster still gossips: a new object reaches every agent.
		h3.shoalIn([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after-rotation}\ndata: {k: v}\n"), "apply", "-f", "-")
		for _, h := range c.hosts {
			poll.Until(t, 10*time.Second, h.name+" has the new object", func() error {
				_, err := h.client.Get(ctx(t), api.KindConfigMap, "default", "after-rotation")
				return err
			})
		}
	})

	t.Run("logs and exec reach pods on other nodes with the caller's permissions", func(t *testing.T) {
		var remote string
		for _, p := range h1.pods(t, "default", "app=steady") {
			if p.Spec.NodeName == "h3" && p.Status.Phase == api.PodRunning {
				remote = p.Name
				break
			}
		}
		if remote == "" {
			t.Fatal("no steady pod on h3")
		}
		// A node annotation cannot redirect forwarding any more.
		if _, err := h1.client.Patch(ctx(t), api.KindNode, "", "h3",
			[]byte(`{"metadata":{"annotations":{"shoal.io/api-address":"https://10.213.0.1:9"}}}`)); err != nil {
			t.Fatal(err)
		}
		if out := h1.shoal("exec", remote, "--", "cat", "/etc/hostname"); !strings.Contains(out, remote) && strings.TrimSpace(out) == "" {
			t.Errorf("exec through h1 into a pod on h3: %q", out)
		}
		h1.shoal("logs", remote)
		viewer := strings.TrimSpace(h1.shoal("token", "create", "looker", "--role", "view"))
		poll.Until(t, 10*time.Second, "the token reached every agent", func() error {
			_, _, err := h3.shoalIn(nil, "--token", viewer, "get", "pods")
			return err
		})
		if _, errOut, err := h1.shoalIn(nil, "--token", viewer, "logs", remote); err != nil {
			t.Errorf("view token reading logs through h1: %v %s", err, errOut)
		}
		if _, errOut, err := h1.shoalIn(nil, "--token", viewer, "exec", remote, "--", "true"); err == nil || !strings.Contains(errOut, "pods/exec") {
			t.Errorf("view token exec through h1: %v %s", err, errOut)
		}
	})

	t.Run("a secret's value is on no agent's disk or log", func(t *testing.T) {
		canary := "canary-" + randomSuffix() + randomSuffix()
		h1.shoalIn([]byte(`apiVersion: v1
kind: Secret
metadata: {name: cluster-canary}
stringData: {password: `+canary+`}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: canary-users}
spec:
  replicas: 3
  selector: {matchLabels: {app: canary-users}}
  template:
    metadata: {labels: {app: canary-users}}
    spec:
      containers:
      - name: app
        image: `+testImage+`
        args: ["sleep", "infinity"]
        env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: cluster-canary, key: password}}}]
        volumeMounts: [{name: s, mountPath: /etc/s}]
      volumes: [{name: s, secret: {secretName: cluster-canary}}]
`), "apply", "-f", "-")
		poll.Until(t, 90*time.Second, "3 pods using the secret", func() error {
			if n := readyPods(h1.pods(t, "default", "app=canary-users")); n != 3 {
				return fmt.Errorf("%d ready", n)
			}
			return nil
		})
		for _, h := range c.hosts {
			poll.Until(t, 10*time.Second, h.name+" has the secret", func() error {
				_, err := h.client.Get(ctx(t), api.KindSecret, "default", "cluster-canary")
				return err
			})
		}
		forms := []string{canary, base64.StdEncoding.EncodeToString([]byte(canary))}
		for _, h := range c.hosts {
			for _, f := range []string{filepath.Join(clusterStateDir, h.name, "agent.log"), filepath.Join(clusterStateDir, h.name, "agent", "state.db")} {
				b := readFile(t, f)
				for _, form := range forms {
					if strings.Contains(string(b), form) {
						t.Errorf("%s holds the secret's value (as %q)", f, form)
					}
				}
			}
		}
	})

	t.Run("the CA rotates with no downtime", func(t *testing.T) {
		oldKubeconfig := filepath.Join(t.TempDir(), "old.kubeconfig")
		b, err := os.ReadFile(h1.kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(oldKubeconfig, b, 0o600); err != nil {
			t.Fatal(err)
		}
		before := h1.shoal("ca")
		out, errOut, err := h1.shoalIn(nil, "ca", "rotate", "--timeout", "90s")
		if err != nil {
			t.Fatalf("ca rotate: %v\n%s\n%s", err, out, errOut)
		}
		after := h2.shoal("ca")
		if before == after || !strings.Contains(after, "stable") || !strings.Contains(after, "generation 2") {
			t.Fatalf("ca before:\n%s\nafter:\n%s", before, after)
		}
		// A kubeconfig with only the old CA still works: agents present
		// the new CA cross-signed by the old one.
		if _, errOut, err := h3.shoalIn(nil, "--kubeconfig", oldKubeconfig, "--server", h3.url, "get", "nodes"); err != nil {
			t.Fatalf("the old kubeconfig after the rotation: %v %s", err, errOut)
		}
		// Gossip and pulls between agents go on under the new CA.
		h1.shoalIn([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after-ca}\ndata: {k: '"+strings.Repeat("x", 4000)+"'}\n"), "apply", "-f", "-")
		for _, h := range c.hosts {
			poll.Until(t, 20*time.Second, h.name+" has the large object", func() error {
				_, err := h.client.Get(ctx(t), api.KindConfigMap, "default", "after-ca")
				return err
			})
		}
	})

	if n := notReady.Load(); n > 0 {
		var saw []string
		seen.Range(func(k, v any) bool { saw = append(saw, fmt.Sprint(k, "=", v)); return true })
		t.Errorf("nodes seen not Ready %d times during the rotations: %v", n, saw)
	}
}

// memberNames lists the members an agent knows.
func memberNames(t *testing.T, h *clusterHost) string {
	t.Helper()
	var names []string
	for _, m := range h.members(t).Items {
		names = append(names, m.Name)
	}
	return strings.Join(names, ",")
}

// keyIDs reads the fingerprints of `shoal keys list`.
func keyIDs(out string) []string {
	var ids []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 0 {
			ids = append(ids, f[0])
		}
	}
	return ids
}

// adminToken is the admin token of the cluster's kubeconfig.
func adminToken(t *testing.T, h *clusterHost) string {
	t.Helper()
	b, err := os.ReadFile(h.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*token:\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no token in the kubeconfig")
	}
	return string(m[1])
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
