package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// wiringYAML: two servers behind a Service, a client, and a server that
// publishes a host port.
const wiringYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: shoal-testapp:v1
        args: ["serve"]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /readyz, port: http}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, labels: {app: client}}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: shoal-testapp:v1, args: ["sleep", "infinity"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: published, labels: {app: published}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["serve"]
    ports: [{containerPort: 8080, hostPort: HOSTPORT}]
`

// podLinks returns the pod uids of the host ends of pods' veth pairs in
// the agent's network namespace (the machine's, for a single agent).
func podLinks(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("ip", "-d", "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip link: %v", err)
	}
	links := map[string]string{} // uid -> link name
	for _, line := range strings.Split(string(out), "\n") {
		i := strings.Index(line, "alias shoal-pod:")
		if i < 0 {
			continue
		}
		uid := strings.Fields(line[i+len("alias shoal-pod:"):])[0]
		name := strings.TrimSuffix(strings.Fields(line)[1], ":")
		name, _, _ = strings.Cut(name, "@")
		links[uid] = name
	}
	return links
}

// heldAddresses reads the agent's address file: pod uid -> address.
func heldAddresses(t *testing.T, a *agent) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.dataDir, "pod-ips.json"))
	if err != nil {
		t.Fatalf("address file: %v", err)
	}
	var st struct {
		Pods map[string]string `json:"pods"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("address file: %v", err)
	}
	return st.Pods
}

// podIPs returns name -> status.podIP of the running pods of the test.
func podIPs(t *testing.T, a *agent) map[string]*api.Pod {
	t.Helper()
	out := map[string]*api.Pod{}
	for _, p := range a.pods(t, "default", "") {
		if p.DeletionTimestamp == nil {
			out[p.Name] = p
		}
	}
	return out
}

func waitAllReady(t *testing.T, a *agent, n int, within time.Duration) map[string]*api.Pod {
	t.Helper()
	var pods map[string]*api.Pod
	poll.Until(t, within, fmt.Sprintf("%d ready pods", n), func() error {
		pods = podIPs(t, a)
		ready := 0
		for _, p := range pods {
			if api.IsPodReady(p) && p.Status.PodIP != "" {
				ready++
			}
		}
		if ready != n || len(pods) != n {
			return fmt.Errorf("%d ready of %d", ready, len(pods))
		}
		return nil
	})
	return pods
}

// inPod runs the test app in a pod of a single agent.
func inPod(a *agent, pod string, args ...string) (string, error) {
	out, errOut, err := a.shoalIn(nil, append([]string{"exec", pod, "--", "/testapp"}, args...)...)
	if err != nil {
		return out + errOut, err
	}
	return out, nil
}

func TestPodWiringKeepsAddressesAcrossRestartsAndLeavesNothing(t *testing.T) {
	a := startAgent(t)
	hostPort := freePort(t)
	a.shoalIn([]byte(strings.Replace(wiringYAML, "HOSTPORT", fmt.Sprint(hostPort), 1)), "apply", "-f", "-")
	before := waitAllReady(t, a, 4, 90*time.Second)

	// Each pod has one veth and one address, the one in its status.
	checkWired := func(t *testing.T, pods map[string]*api.Pod) {
		t.Helper()
		links, held := podLinks(t), heldAddresses(t, a)
		for name, p := range pods {
			if links[p.UID] == "" {
				t.Fatalf("pod %s has no veth; links %v", name, links)
			}
			if held[p.UID] != p.Status.PodIP || len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != p.Status.PodIP {
				t.Fatalf("pod %s: status %s %v, address file %s", name, p.Status.PodIP, p.Status.PodIPs, held[p.UID])
			}
		}
		if len(links) != len(pods) || len(held) != len(pods) {
			t.Fatalf("%d veths and %d addresses for %d pods", len(links), len(held), len(pods))
		}
	}
	// Pod to pod, Service by name (cluster DNS), and the host port from
	// the host's loopback.
	checkConnected := func(t *testing.T, pods map[string]*api.Pod) {
		t.Helper()
		poll.Until(t, 15*time.Second, "pods, Service, DNS and host port answer", func() error {
			for name, p := range pods {
				if !strings.HasPrefix(name, "web-") && name != "published" {
					continue
				}
				out, err := inPod(a, "client", "get", "http://"+p.Status.PodIP+":8080/hostname")
				if err != nil || !strings.Contains(out, name) {
					return fmt.Errorf("client -> %s at %s: %v %s", name, p.Status.PodIP, err, out)
				}
			}
			if out, err := inPod(a, "client", "get", "http://web/hostname"); err != nil || !strings.Contains(out, "web-") {
				return fmt.Errorf("client -> Service web: %v %s", err, out)
			}
			if out, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/hostname", hostPort)); err != nil || !strings.Contains(out, "published") {
				return fmt.Errorf("host port %d: %v %s", hostPort, err, out)
			}
			return nil
		})
	}
	sameIPs := func(t *testing.T, now map[string]*api.Pod) {
		t.Helper()
		for name, p := range before {
			if now[name] == nil || now[name].UID != p.UID || now[name].Status.PodIP != p.Status.PodIP {
				t.Fatalf("pod %s was %s at %s; now %+v", name, p.UID, p.Status.PodIP, now[name])
			}
		}
	}
	checkWired(t, before)
	checkConnected(t, before)
	// The engine writes no entry for a pod's own name on network mode none;
	// the agent adds it once it has wired the sandbox.
	poll.Until(t, 5*time.Second, "the client's own name in its /etc/hosts", func() error {
		out, err := inPod(a, "client", "cat", "/etc/hosts")
		if err != nil || !strings.Contains(out, before["client"].Status.PodIP+"\tclient\n") {
			return fmt.Errorf("%v %q", err, out)
		}
		return nil
	})
	if out := docker(t, "network", "ls", "--format", "{{.Name}}"); strings.Contains("\n"+out+"\n", "\nshoal\n") {
		t.Fatalf("the engine network shoal exists:\n%s", out)
	}
	for _, c := range runningNetworkHolders(t, a.name) {
		if mode := docker(t, "inspect", "-f", "{{.HostConfig.NetworkMode}}", c.ID); mode != "none" {
			t.Fatalf("sandbox %s has network mode %q, want none", c.Names, mode)
		}
		// Every pod here has one container: no sandbox, the container
		// holds the pod's network itself, started through the gate.
		if c.Labels["io.shoal.container.name"] == "POD" {
			t.Fatalf("pod %s of one container runs a sandbox", c.Labels["io.shoal.pod.name"])
		}
		if ep := docker(t, "inspect", "-f", "{{json .Config.Entrypoint}}", c.ID); ep != `["/.shoal-netwait"]` {
			t.Fatalf("container %s has entrypoint %s, want the network gate", c.Names, ep)
		}
	}
	if n := len(runningNetworkHolders(t, a.name)); n != len(before) {
		t.Fatalf("%d containers hold a pod network for %d pods", n, len(before))
	}

	t.Run("kill -9 and restart of the agent keeps addresses and connectivity", func(t *testing.T) {
		a.stop(syscall.SIGKILL)
		a.start()
		now := waitAllReady(t, a, 4, 60*time.Second)
		time.Sleep(2 * time.Second) // a few resyncs to do anything wrong
		now = waitAllReady(t, a, 4, 10*time.Second)
		sameIPs(t, now)
		checkWired(t, now)
		checkConnected(t, now)
	})

	t.Run("a killed app container comes back in the same sandbox with the same address", func(t *testing.T) {
		victim := before["published"]
		for _, c := range runningApps(t, a.name) {
			if c.Labels["io.shoal.pod.uid"] == victim.UID {
				docker(t, "kill", c.ID)
			}
		}
		poll.Until(t, 20*time.Second, "restarted", func() error {
			p := podIPs(t, a)["published"]
			if p == nil || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].RestartCount < 1 || !api.IsPodReady(p) {
				return fmt.Errorf("not restarted yet")
			}
			return nil
		})
		now := waitAllReady(t, a, 4, 10*time.Second)
		sameIPs(t, now)
		checkConnected(t, now)
	})

	t.Run("a re-created sandbox gets the pod's address back", func(t *testing.T) {
		victim := before["client"]
		for _, c := range runningNetworkHolders(t, a.name) {
			if c.Labels["io.shoal.pod.uid"] == victim.UID {
				docker(t, "rm", "-f", c.ID)
			}
		}
		time.Sleep(time.Second)
		now := waitAllReady(t, a, 4, 30*time.Second)
		sameIPs(t, now)
		checkWired(t, now)
		checkConnected(t, now)
	})

	t.Run("200 pod creations and deletions leave no veth, address or rule behind", func(t *testing.T) {
		rules := func() []string {
			var out []string
			for _, table := range []string{"nat", "filter"} {
				b, err := exec.Command("iptables", "-w", "5", "-t", table, "-S").Output()
				if err != nil {
					t.Fatalf("iptables: %v", err)
				}
				for _, l := range strings.Split(string(b), "\n") {
					// Service rules name endpoints, which move; count only
					// the pod network's and the host ports'.
					if strings.Contains(l, "SHOAL-HOSTPORTS") || strings.Contains(l, "MASQUERADE") || strings.Contains(l, "SHOAL-FORWARD") || strings.Contains(l, "SHOAL-POSTROUTING") {
						out = append(out, l)
					}
				}
			}
			sort.Strings(out)
			return out
		}
		rulesBefore := rules()
		a.shoalIn([]byte(deploymentYAML("cyc", 0, testImage)), "apply", "-f", "-")
		start := time.Now()
		for round := range 10 {
			a.shoal("scale", "deployment/cyc", "--replicas", "20")
			waitAllReady(t, a, 24, 120*time.Second)
			a.shoal("scale", "deployment/cyc", "--replicas", "0")
			poll.Until(t, 90*time.Second, fmt.Sprintf("round %d: cyc pods and containers gone", round), func() error {
				if p := a.pods(t, "default", "app=cyc"); len(p) != 0 {
					return fmt.Errorf("%d pods", len(p))
				}
				n := 0
				for _, c := range dockerPS(t, a.name) {
					if strings.HasPrefix(c.Labels["io.shoal.pod.name"], "cyc-") {
						n++
					}
				}
				if n != 0 {
					return fmt.Errorf("%d containers", n)
				}
				return nil
			})
		}
		t.Logf("10 rounds of 20 pods up and down: %s", time.Since(start).Round(time.Second))
		now := waitAllReady(t, a, 4, 10*time.Second)
		poll.Until(t, 15*time.Second, "only the 4 pods' veths and addresses", func() error {
			if l, h := podLinks(t), heldAddresses(t, a); len(l) != 4 || len(h) != 4 {
				return fmt.Errorf("%d veths, %d addresses", len(l), len(h))
			}
			return nil
		})
		checkWired(t, now)
		if got := rules(); strings.Join(got, "\n") != strings.Join(rulesBefore, "\n") {
			t.Fatalf("rules changed:\nbefore %v\nafter  %v", rulesBefore, got)
		}
		if out := docker(t, "network", "ls", "--format", "{{.Name}}"); strings.Contains("\n"+out+"\n", "\nshoal\n") {
			t.Fatalf("the engine network shoal exists:\n%s", out)
		}
		checkConnected(t, now)
	})

	t.Run("deleting the pods frees every veth, address and host port rule", func(t *testing.T) {
		a.shoal("delete", "deployment", "web")
		a.shoal("delete", "pod", "client", "published")
		poll.Until(t, 30*time.Second, "nothing left", func() error {
			if l, h := podLinks(t), heldAddresses(t, a); len(l) != 0 || len(h) != 0 {
				return fmt.Errorf("%d veths, %d addresses", len(l), len(h))
			}
			b, _ := exec.Command("iptables", "-w", "5", "-t", "nat", "-S", "SHOAL-HOSTPORTS").Output()
			if strings.Contains(string(b), "DNAT") {
				return fmt.Errorf("host port rules left:\n%s", b)
			}
			return nil
		})
	})
}

// nsPodLinks is podLinks in host h<i>'s network namespace.
func nsPodLinks(t *testing.T, i int) map[string]string {
	t.Helper()
	out, err := exec.Command("ip", "-n", fmt.Sprintf("shoal-h%d", i), "-d", "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip link in h%d: %v", i, err)
	}
	links := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if j := strings.Index(line, "alias shoal-pod:"); j >= 0 {
			links[strings.Fields(line[j+len("alias shoal-pod:"):])[0]] = strings.Fields(line)[1]
		}
	}
	return links
}

func TestPodDeletedWhileItsAgentIsDownIsUnwiredWhenItReturns(t *testing.T) {
	c := startCluster(t, 2)
	h1, h2 := c.agent(1), c.agent(2)
	pod := `apiVersion: v1
kind: Pod
metadata: {name: lonely}
spec:
  nodeName: h2
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: shoal-testapp:v1, args: ["sleep", "infinity"]}]
`
	if _, errOut, err := h1.shoalIn([]byte(pod), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	var p *api.Pod
	poll.Until(t, 60*time.Second, "lonely running on h2", func() error {
		o, err := h1.client.Get(ctx(t), api.KindPod, "default", "lonely")
		if err != nil {
			return err
		}
		p = o.(*api.Pod)
		if !api.IsPodReady(p) || p.Status.PodIP == "" {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	ipFile := "/var/lib/shoal-cluster/h2/agent/pod-ips.json"
	held := func() map[string]string {
		b, err := os.ReadFile(ipFile)
		if err != nil {
			t.Fatalf("address file: %v", err)
		}
		var st struct {
			Pods map[string]string `json:"pods"`
		}
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		return st.Pods
	}
	if held()[p.UID] != p.Status.PodIP || nsPodLinks(t, 2)[p.UID] == "" {
		t.Fatalf("pod not wired: addresses %v, links %v", held(), nsPodLinks(t, 2))
	}

	// Only the agent dies: the sandbox, its veth and address stay.
	b, err := os.ReadFile("/run/shoal-cluster/h2/agent.pid")
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(strings.TrimSpace(string(b)), &pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill agent %d: %v", pid, err)
	}
	if _, err := h1.client.Delete(ctx(t), api.KindPod, "default", "lonely", api.DeleteOptions{GracePeriodSeconds: api.Int64(0)}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	poll.Until(t, 30*time.Second, "lonely gone from the API", func() error {
		if _, err := h1.client.Get(ctx(t), api.KindPod, "default", "lonely"); !api.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
	if nsPodLinks(t, 2)[p.UID] == "" {
		t.Fatal("the veth went away while the agent was down: the test proves nothing")
	}
	c.start(2)
	poll.Until(t, 60*time.Second, "veth, address and containers of the deleted pod gone", func() error {
		if l := nsPodLinks(t, 2)[p.UID]; l != "" {
			return fmt.Errorf("veth %s left", l)
		}
		if ip := held()[p.UID]; ip != "" {
			return fmt.Errorf("address %s still held", ip)
		}
		out, _ := h2.dockerIn("ps", "-aq", "--filter", "label=io.shoal.pod.uid="+p.UID)
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("containers left: %s", out)
		}
		return nil
	})
}

// TestUpgradeFromTheEngineNetworkKeepsOldPodsUntilReplaced starts pods under
// an agent that put sandboxes on the engine network "shoal" (the previous
// release, from before the agent wired pods itself, or SHOAL_BASE_BIN), then
// this build on the
// same data: the old pods keep their addresses and connectivity, new pods
// are wired by the agent beside them, and once the old ones are gone the
// engine network is removed and the new pods stay connected.
func TestUpgradeFromTheEngineNetworkKeepsOldPodsUntilReplaced(t *testing.T) {
	// The previous release (built from git) put sandboxes on the engine
	// network; SHOAL_BASE_BIN names another such build.
	base := os.Getenv("SHOAL_BASE_BIN")
	if base == "" {
		base, _ = previousRelease(t)
	}
	if exec.Command("docker", "network", "inspect", "shoal").Run() != nil {
		exec.Command("ip", "link", "del", "shoal0").Run() // a newer agent's bridge
	}
	a := startAgentWith(t, func(a *agent) { a.bin = base })
	old := serverAndClient("old")
	a.shoalIn([]byte(old), "apply", "-f", "-")
	before := waitAllReady(t, a, 2, 60*time.Second)
	for _, c := range runningNetworkHolders(t, a.name) {
		if mode := docker(t, "inspect", "-f", "{{.HostConfig.NetworkMode}}", c.ID); mode != "shoal" {
			t.Fatalf("the base build's sandbox has network mode %q: the base build is not an engine-network build (SHOAL_BASE_BIN, or the previous release)", mode)
		}
	}

	a.stop(syscall.SIGKILL)
	a.bin = ""
	a.start()
	now := waitAllReady(t, a, 2, 60*time.Second)
	for name, p := range before {
		if now[name].Status.PodIP != p.Status.PodIP {
			t.Fatalf("%s moved from %s to %s across the upgrade", name, p.Status.PodIP, now[name].Status.PodIP)
		}
	}
	if exec.Command("docker", "network", "inspect", "shoal").Run() != nil {
		t.Fatal("the engine network was removed while old sandboxes are on it")
	}
	fresh := serverAndClient("new")
	a.shoalIn([]byte(fresh), "apply", "-f", "-")
	now = waitAllReady(t, a, 4, 60*time.Second)
	if now["new-server"].Status.PodIP == before["old-server"].Status.PodIP || now["new-server"].Status.PodIP == before["old-client"].Status.PodIP {
		t.Fatalf("a new pod got an old pod's address: %s", now["new-server"].Status.PodIP)
	}
	get := func(from, to string) error {
		out, err := inPod(a, from, "get", "http://"+now[to].Status.PodIP+":8080/hostname")
		if err != nil || !strings.Contains(out, to) {
			return fmt.Errorf("%s -> %s: %v %s", from, to, err, out)
		}
		return nil
	}
	poll.Until(t, 15*time.Second, "old and new pods reach each other", func() error {
		for _, pair := range [][2]string{{"old-client", "new-server"}, {"new-client", "old-server"}, {"new-client", "new-server"}} {
			if err := get(pair[0], pair[1]); err != nil {
				return err
			}
		}
		return nil
	})

	a.shoal("delete", "pod", "old-server", "old-client")
	start := time.Now()
	poll.Until(t, 60*time.Second, "the engine network removed once empty", func() error {
		if exec.Command("docker", "network", "inspect", "shoal").Run() == nil {
			return fmt.Errorf("still there")
		}
		return nil
	})
	t.Logf("old pods deleted to engine network removed: %s", time.Since(start).Round(time.Second))
	poll.Until(t, 15*time.Second, "new pods connected on the agent's own bridge", func() error {
		return get("new-client", "new-server")
	})
}

// serverAndClient is a serving pod PREFIX-server and an idle PREFIX-client.
func serverAndClient(prefix string) string {
	return strings.ReplaceAll(`apiVersion: v1
kind: Pod
metadata: {name: PREFIX-server}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: shoal-testapp:v1, args: ["serve"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: PREFIX-client}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: shoal-testapp:v1, args: ["sleep", "infinity"]}]
`, "PREFIX", prefix)
}

// outsideNet is a network namespace standing for a network outside the
// cluster: a veth pair, host end outsideHostAddr/24, namespace end
// outsideAddr/24 (TEST-NET-3, in no cluster range and not the machine's own
// network), with the namespace's default route via the host.
const (
	outsideAddr     = "203.0.113.1"
	outsideHostAddr = "203.0.113.2"
)

// startOutsideServer makes the namespace and serves HTTP at
// outsideAddr:port inside it, answering every request with the peer
// address it saw. It returns the port; everything goes at the test's end.
func startOutsideServer(t *testing.T) int {
	t.Helper()
	sfx := randomSuffix()
	ns, hostEnd := "shoal-it-out-"+sfx, "shoalo"+sfx
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ipCmd("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() }) // takes the veth pair with it
	ipCmd("link", "add", hostEnd, "type", "veth", "peer", "name", "eth0", "netns", ns)
	ipCmd("addr", "add", outsideHostAddr+"/24", "dev", hostEnd)
	ipCmd("link", "set", hostEnd, "up")
	ipCmd("-n", ns, "addr", "add", outsideAddr+"/24", "dev", "eth0")
	ipCmd("-n", ns, "link", "set", "eth0", "up")
	ipCmd("-n", ns, "link", "set", "lo", "up")
	ipCmd("-n", ns, "route", "add", "default", "via", outsideHostAddr)

	// A socket belongs to the namespace of the thread that made it: make
	// the listener on a thread moved into the namespace for that moment.
	ln, err := listenInNetns(ns, outsideAddr+":0")
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "peer=%s\n", r.RemoteAddr)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// listenInNetns listens on addr in the named network namespace.
func listenInNetns(name, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer orig.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	ln, lerr := net.Listen("tcp", addr)
	if err := netns.Set(orig); err != nil {
		// The thread stays locked, and dies with its goroutine, rather
		// than run anything else in the wrong namespace.
		return nil, fmt.Errorf("back to the test's namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ln, lerr
}

// A pod's connection to an address outside the cluster leaves with the
// node's address as its source (masqueraded), not the pod's.
func TestPodTrafficLeavingTheClusterIsMasqueraded(t *testing.T) {
	a := startAgent(t)
	port := startOutsideServer(t)
	a.shoalIn([]byte(`apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: shoal-testapp:v1, args: ["sleep", "infinity"]}]
`), "apply", "-f", "-")
	pod := waitAllReady(t, a, 1, 60*time.Second)["client"]
	var out string
	poll.Until(t, 10*time.Second, "the pod reaches the outside server", func() error {
		var err error
		out, err = inPod(a, "client", "get", fmt.Sprintf("http://%s:%d/", outsideAddr, port))
		if err != nil || !strings.Contains(out, "peer=") {
			return fmt.Errorf("%v %s", err, out)
		}
		return nil
	})
	peer, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(out), "peer="), ":")
	if peer == pod.Status.PodIP {
		t.Fatalf("the outside server saw the pod's own address %s: not masqueraded", peer)
	}
	if peer != outsideHostAddr {
		t.Fatalf("the outside server saw %s, want the node's address on that network %s (pod %s)", peer, outsideHostAddr, pod.Status.PodIP)
	}
	t.Logf("pod %s seen outside as %s", pod.Status.PodIP, peer)
}

// nodeAddress is the host's address on its default route (the address
// other machines reach it at), for tests of a single agent, whose Node
// reports the loopback.
func nodeAddress(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "-4", "-o", "route", "get", "192.0.2.254").Output()
	if err != nil {
		t.Fatalf("ip route get: %v", err)
	}
	f := strings.Fields(string(out))
	for i := range f[:len(f)-1] {
		if f[i] == "src" {
			return f[i+1]
		}
	}
	t.Fatalf("no source address in %q", out)
	return ""
}

// A pod reaches its own hostPort through its node's address (the DNAT
// sends the packet back where it came from), and so does another pod of
// the same node.
func TestPodsReachAHostPortThroughTheirNodesAddress(t *testing.T) {
	a := startAgent(t)
	hostPort := freePort(t)
	a.shoalIn([]byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: published}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: shoal-testapp:v1
    args: ["serve"]
    ports: [{containerPort: 8080, hostPort: %d}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: shoal-testapp:v1, args: ["sleep", "infinity"]}]
`, hostPort)), "apply", "-f", "-")
	waitAllReady(t, a, 2, 60*time.Second)
	url := fmt.Sprintf("http://%s:%d/hostname", nodeAddress(t), hostPort)
	for _, from := range []string{"published", "client"} {
		poll.Until(t, 10*time.Second, from+" reaches "+url, func() error {
			out, err := inPod(a, from, "get", url)
			if err != nil || !strings.Contains(out, "published") {
				return fmt.Errorf("%v %s", err, out)
			}
			return nil
		})
	}
}
