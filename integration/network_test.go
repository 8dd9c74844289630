package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/tunnel/wireguard"
	"github.com/shoal-dev/shoal/internal/poll"
)

const webService = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
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
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-pods}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: ExternalName
  externalName: www.example.test
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: h2
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: shoal-testapp:v1, args: ["sleep", "infinity"]}]
`

// podnetResync is how often an agent checks its pod network rules
// (podnet.DefaultResync).
const podnetResync = 30 * time.Second

// execIn runs the test app inside a pod through the CLI of host h.
func execIn(t *testing.T, h *clusterHost, pod string, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := h.shoalIn(nil, append([]string{"exec", pod, "--", "/testapp"}, args...)...)
	if err != nil {
		return out + errOut, err
	}
	return out, nil
}

// upstreamDNS is a resolver for names outside the cluster, on the root
// namespace's side of the hosts' bridge: www.example.test is 192.0.2.80.
func upstreamDNS(t *testing.T) string {
	const addr = "10.213.0.1:5353"
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; q.Name == "www.example.test." && q.Qtype == mdns.TypeA {
			rr, _ := mdns.NewRR("www.example.test. 60 IN A 192.0.2.80")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return addr
}

func TestPodNetworkServicesDNSAndIngress(t *testing.T) {
	// The upstream's address exists once the cluster's bridge does; the
	// agents ask it only when a query comes.
	// A long eviction timeout: a dead host's backends must leave the
	// Services long before its pods are replaced.
	c := startCluster(t, 3, "--dns-upstream", "10.213.0.1:5353", "--pod-eviction-timeout", "60s")
	upstreamDNS(t)
	h1, h2, h3 := c.agent(1), c.agent(2), c.agent(3)
	poll.Until(t, 30*time.Second, "3 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2,h3" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	if _, errOut, err := h1.shoalIn([]byte(webService), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	// A second namespace, for the fully qualified name.
	h1.shoal("create", "namespace", "other")
	other := strings.ReplaceAll(strings.SplitN(webService, "---\napiVersion: v1\nkind: Pod", 2)[0], "metadata: {name: web", "metadata: {namespace: other, name: web")
	other = strings.Replace(other, "nodePort: 30080", "nodePort: 30081", 1)
	if _, errOut, err := h1.shoalIn([]byte(other), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply other: %v %s", err, errOut)
	}
	var pods []*api.Pod
	poll.Until(t, 120*time.Second, "web on every host in both namespaces and the client ready", func() error {
		for _, ns := range []string{"other", "default"} {
			pods = h1.pods(t, ns, "app=web")
			if err := readyOnEveryHost(pods); err != nil {
				return fmt.Errorf("%s: %w", ns, err)
			}
		}
		cl, err := h1.client.Get(ctx(t), api.KindPod, "default", "client")
		if err != nil || !api.IsPodReady(cl.(*api.Pod)) {
			return fmt.Errorf("client not ready (%v)", err)
		}
		return nil
	})
	client := podNamed2(t, h1, "client")

	// Every peer is on the hosts' one subnet (host-gw): under auto no host
	// runs the WireGuard device, whose buffers would cost each agent
	// about 33 MB of heap, yet each publishes its key, so that a peer
	// across a router could still choose WireGuard.
	t.Run("auto on one subnet: no WireGuard device, the key published", func(t *testing.T) {
		for i, h := range []*clusterHost{h1, h2, h3} {
			if links := nsRun(t, i+1, "ip", "link", "show"); strings.Contains(links, "shoal.wg") {
				t.Errorf("h%d runs the WireGuard device with every peer on its subnet:\n%s", i+1, links)
			}
			obj, err := h1.client.Get(ctx(t), api.KindNode, "", h.name)
			if err != nil {
				t.Fatal(err)
			}
			if obj.(*api.Node).Annotations[wireguard.Annotation] == "" {
				t.Errorf("%s publishes no WireGuard key", h.name)
			}
		}
	})

	t.Run("pod to pod across hosts keeps the source address", func(t *testing.T) {
		var target *api.Pod
		for _, p := range pods {
			if p.Spec.NodeName == "h3" {
				target = p
			}
		}
		out, err := execIn(t, h2, "client", "get", "http://"+target.Status.PodIP+":8080/echo")
		if err != nil {
			t.Fatalf("client on h2 -> pod on h3: %v %s", err, out)
		}
		var echo struct {
			RemoteAddr string `json:"remote_addr"`
		}
		json.Unmarshal([]byte(out), &echo)
		if !strings.HasPrefix(echo.RemoteAddr, client.Status.PodIP+":") {
			t.Fatalf("the server saw %q, the client is %s", echo.RemoteAddr, client.Status.PodIP)
		}
	})

	t.Run("an administrator's DROP in DOCKER-USER or first in FORWARD holds", func(t *testing.T) {
		var onH1, onH3 *api.Pod
		for _, p := range pods {
			switch p.Spec.NodeName {
			case "h1":
				onH1 = p
			case "h3":
				onH3 = p
			}
		}
		reach := func(p *api.Pod) error {
			out, err := execIn(t, h2, "client", "get", "http://"+p.Status.PodIP+":8080/hostname", "--timeout", "1s")
			if err != nil {
				return fmt.Errorf("client on h2 -> %s on %s: %v %s", p.Name, p.Spec.NodeName, err, out)
			}
			return nil
		}
		for _, p := range []*api.Pod{onH1, onH3} {
			if err := reach(p); err != nil {
				t.Fatal(err)
			}
		}
		iptablesIn := func(host string, args ...string) string {
			t.Helper()
			out, err := exec.Command("ip", append([]string{"netns", "exec", "shoal-" + host, "iptables", "-w"}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("iptables %v on %s: %v %s", args, host, err, out)
			}
			return string(out)
		}
		// The agent's jump is right below DOCKER-USER's on every host.
		belowUser := func(host string) error {
			var rules []string
			for _, l := range strings.Split(iptablesIn(host, "-S", "FORWARD"), "\n") {
				if strings.HasPrefix(l, "-A ") {
					rules = append(rules, l)
				}
			}
			user := slices.IndexFunc(rules, func(r string) bool { return strings.HasSuffix(r, "-j DOCKER-USER") })
			ours := slices.IndexFunc(rules, func(r string) bool { return strings.HasSuffix(r, "-j SHOAL-FORWARD") })
			if user < 0 || ours <= user {
				return fmt.Errorf("%s FORWARD: DOCKER-USER at %d, SHOAL-FORWARD at %d:\n%s", host, user, ours, strings.Join(rules, "\n"))
			}
			return nil
		}
		for _, h := range []string{"h1", "h2", "h3"} {
			if err := belowUser(h); err != nil {
				t.Fatal(err)
			}
		}
		// A DROP for the pod on h3 in h3's DOCKER-USER, one first in h1's
		// FORWARD for the pod on h1, and the agent's jump deleted on h2.
		userDrop := []string{"DOCKER-USER", "-d", onH3.Status.PodIP, "-m", "comment", "--comment", "admin", "-j", "DROP"}
		fwdDrop := []string{"FORWARD", "-d", onH1.Status.PodIP, "-m", "comment", "--comment", "admin", "-j", "DROP"}
		iptablesIn("h3", append([]string{"-I", userDrop[0], "1"}, userDrop[1:]...)...)
		iptablesIn("h1", append([]string{"-I", fwdDrop[0], "1"}, fwdDrop[1:]...)...)
		removed := false
		t.Cleanup(func() { // the later subtests need the pods reachable
			if !removed {
				exec.Command("ip", append([]string{"netns", "exec", "shoal-h3", "iptables", "-w", "-D"}, userDrop...)...).Run()
				exec.Command("ip", append([]string{"netns", "exec", "shoal-h1", "iptables", "-w", "-D"}, fwdDrop...)...).Run()
			}
		})
		n := 0 // rule number, from 1
		for _, l := range strings.Split(iptablesIn("h2", "-S", "FORWARD"), "\n") {
			if !strings.HasPrefix(l, "-A ") {
				continue
			}
			if n++; strings.HasSuffix(l, "-j SHOAL-FORWARD") {
				iptablesIn("h2", "-D", "FORWARD", strconv.Itoa(n))
				break
			}
		}
		blockedFor := func() {
			t.Helper()
			for _, p := range []*api.Pod{onH1, onH3} {
				if err := reach(p); err == nil {
					t.Fatalf("%s on %s answered through the administrator's DROP", p.Name, p.Spec.NodeName)
				}
			}
		}
		blockedFor()
		// The agents check their rules every 30 s: past that, the DROPs still
		// hold and the deleted jump is back, below DOCKER-USER.
		time.Sleep(podnetResync + 3*time.Second)
		blockedFor()
		if first := iptablesIn("h1", "-S", "FORWARD", "1"); !strings.Contains(first, "admin") {
			t.Fatalf("the administrator's rule is no longer first in h1's FORWARD: %s", first)
		}
		for _, h := range []string{"h1", "h2", "h3"} {
			if err := belowUser(h); err != nil {
				t.Fatal(err)
			}
		}
		iptablesIn("h3", append([]string{"-D"}, userDrop...)...)
		iptablesIn("h1", append([]string{"-D"}, fwdDrop...)...)
		removed = true
		for _, p := range []*api.Pod{onH1, onH3} {
			poll.Until(t, 5*time.Second, "traffic allowed again", func() error { return reach(p) })
		}
	})

	t.Run("pods ask the cluster DNS at their gateway", func(t *testing.T) {
		out, err := execIn(t, h2, "client", "cat", "/etc/resolv.conf")
		gw := client.Status.PodIP[:strings.LastIndex(client.Status.PodIP, ".")] + ".1"
		for _, want := range []string{"nameserver " + gw + "\n", "search default.svc.cluster.local svc.cluster.local cluster.local\n", "options ndots:5\n"} {
			if err != nil || !strings.Contains(out, want) {
				t.Fatalf("resolv.conf of the client: %v\n%s\nwant %q", err, out, want)
			}
		}
		if strings.Contains(out, "127.0.0.11") {
			t.Fatalf("the engine's resolver is still in the pod's resolv.conf:\n%s", out)
		}
		for _, q := range []struct{ name, typ, want string }{
			{"web-pods", "A", pods[0].Status.PodIP},
			{"_http._tcp.web", "SRV", "web.default.svc.cluster.local"},
			{"ext", "CNAME", "www.example.test"},
			{"www.example.test", "A", "192.0.2.80"},
		} {
			out, err := execIn(t, h2, "client", "lookup", q.name, "--type", q.typ)
			if err != nil || !strings.Contains(out, q.want) {
				t.Fatalf("lookup %s %s in the client: %v %s (want %s)", q.name, q.typ, err, out, q.want)
			}
		}
	})

	t.Run("short and full service names spread over every backend", func(t *testing.T) {
		for _, url := range []string{"http://web/hostname", "http://web.other.svc.cluster.local/hostname"} {
			out, err := execIn(t, h2, "client", "get", url, "--count", "60")
			if err != nil {
				t.Fatalf("%s: %v %s", url, err, out)
			}
			backends := 0
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[1], "web-") {
					backends++
				}
			}
			if backends != 3 {
				t.Fatalf("%s reached %d backends:\n%s", url, backends, out)
			}
		}
	})

	t.Run("the node port answers on every host", func(t *testing.T) {
		for i := 1; i <= 3; i++ {
			url := fmt.Sprintf("http://10.213.0.%d:30080/hostname", 10+i)
			out, err := exec.Command("curl", "-fsS", "--max-time", "5", url).CombinedOutput()
			if err != nil || !strings.HasPrefix(string(out), "web-") {
				t.Fatalf("%s: %v %s", url, err, out)
			}
		}
	})

	t.Run("an unready backend leaves within 2 s", func(t *testing.T) {
		victim := pods[0]
		if _, err := execIn(t, h1, victim.Name, "get", "http://127.0.0.1:8080/ready/off"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		poll.Until(t, 5*time.Second, "endpoint removed", func() error {
			o, err := h2.client.Get(ctx(t), api.KindEndpoints, "default", "web")
			if err != nil {
				return err
			}
			for _, s := range o.(*api.Endpoints).Subsets {
				for _, a := range s.Addresses {
					if a.IP == victim.Status.PodIP {
						return fmt.Errorf("still an endpoint")
					}
				}
			}
			return nil
		})
		poll.Until(t, 2*time.Second, "gone from the rules and DNS of h2", func() error {
			rules, err := exec.Command("ip", "netns", "exec", "shoal-h2", "iptables-save", "-t", "nat").CombinedOutput()
			if err != nil {
				return fmt.Errorf("iptables-save: %v %s", err, rules)
			}
			if strings.Contains(string(rules), victim.Status.PodIP+":8080") {
				return fmt.Errorf("still a DNAT target on h2")
			}
			out, err := exec.Command("dig", "@10.213.0.12", "+short", "web-pods.default.svc.cluster.local", "A").CombinedOutput()
			if err != nil || strings.Contains(string(out), victim.Status.PodIP+"\n") || strings.TrimSpace(string(out)) == "" {
				return fmt.Errorf("dig: %v %q", err, out)
			}
			return nil
		})
		took := time.Since(start)
		out, _ := execIn(t, h2, "client", "get", "http://web/hostname", "--count", "30")
		if strings.Contains(out, victim.Name) {
			t.Fatalf("the unready pod still got traffic:\n%s", out)
		}
		if took > 2*time.Second+time.Second { // the probe period (1 s) comes first
			t.Fatalf("the endpoint left after %s", took)
		}
		t.Logf("unready to gone from Endpoints, rules and DNS: %s", took)
		execIn(t, h1, victim.Name, "get", "http://127.0.0.1:8080/ready/on")
	})

	t.Run("dig against an agent", func(t *testing.T) {
		dns := "@10.213.0.13"
		svc, _ := h1.client.Get(ctx(t), api.KindService, "default", "web")
		vip := svc.(*api.Service).Spec.ClusterIP
		for _, q := range []struct {
			args     []string
			want     string
			fromNode bool // a name outside the cluster: resolved only for the cluster's own addresses
		}{
			{[]string{"web.default.svc.cluster.local", "A"}, vip, false},
			{[]string{"_http._tcp.web.default.svc.cluster.local", "SRV"}, "80 web.default.svc.cluster.local.", false},
			{[]string{"-x", vip}, "web.default.svc.cluster.local.", false},
			{[]string{"-x", pods[0].Status.PodIP}, ".default.pod.cluster.local.", false},
			{[]string{"web-pods.default.svc.cluster.local", "A"}, pods[1].Status.PodIP, false},
			{[]string{"ext.default.svc.cluster.local", "CNAME"}, "www.example.test.", false},
			{[]string{"ext.default.svc.cluster.local", "A"}, "192.0.2.80", true},
			{[]string{"www.example.test", "A"}, "192.0.2.80", true},
			{[]string{"web.other.svc.cluster.local", "A", "+tcp"}, "", false},
		} {
			cmd := append([]string{"dig", dns, "+short", "+time=2", "+tries=2"}, q.args...)
			if q.fromNode {
				cmd = append([]string{"ip", "netns", "exec", "shoal-h1"}, cmd...) // from h1's address
			}
			out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), q.want) || strings.TrimSpace(string(out)) == "" {
				t.Fatalf("dig %v: %v %q (want %q)", q.args, err, out, q.want)
			}
		}
		out, _ := exec.Command("dig", dns, "+time=2", "nothing.default.svc.cluster.local", "A").CombinedOutput()
		if !strings.Contains(string(out), "NXDOMAIN") {
			t.Fatalf("missing name:\n%s", out)
		}
		out, _ = exec.Command("dig", dns, "+time=2", "web.default.svc.cluster.local", "AAAA").CombinedOutput()
		if !strings.Contains(string(out), "NOERROR") || strings.Contains(string(out), "ANSWER SECTION") {
			t.Fatalf("AAAA of a service must be NODATA:\n%s", out)
		}
	})

	t.Run("two services created at once on two agents get different cluster IPs", func(t *testing.T) {
		mk := func(name string) []byte {
			return []byte(fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec:\n  selector: {app: none}\n  ports: [{port: 80}]\n", name))
		}
		var wg sync.WaitGroup
		for i, h := range []*clusterHost{h1, h3} {
			wg.Add(1)
			go func() { defer wg.Done(); h.shoalIn(mk(fmt.Sprintf("twin-%d", i)), "apply", "-f", "-") }()
		}
		wg.Wait()
		poll.Until(t, 15*time.Second, "different cluster IPs everywhere", func() error {
			ips := map[string]bool{}
			for _, n := range []string{"twin-0", "twin-1"} {
				o, err := h2.client.Get(ctx(t), api.KindService, "default", n)
				if err != nil {
					return err
				}
				ips[o.(*api.Service).Spec.ClusterIP] = true
			}
			if len(ips) != 2 {
				return fmt.Errorf("cluster IPs %v", ips)
			}
			return nil
		})
	})

	t.Run("ingress routes by host and path", func(t *testing.T) {
		ing := `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: routes}
spec:
  rules:
  - host: a.example.test
    http:
      paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]
  - host: b.example.test
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
`
		if _, errOut, err := h1.shoalIn([]byte(ing), "apply", "-f", "-"); err != nil {
			t.Fatalf("apply: %v %s", err, errOut)
		}
		poll.Until(t, 10*time.Second, "routes answer", func() error {
			for _, c := range []struct{ host, path, want string }{
				{"a.example.test", "/hostname", "web-"},
				{"b.example.test", "/api", "404"},
				{"c.example.test", "/hostname", "404"},
			} {
				out, _ := exec.Command("curl", "-sS", "--max-time", "3", "-o", "/dev/stdout", "-w", " %{http_code}",
					"-H", "Host: "+c.host, "http://10.213.0.12"+c.path).CombinedOutput()
				if !strings.Contains(string(out), c.want) {
					return fmt.Errorf("%s%s: %q", c.host, c.path, out)
				}
			}
			return nil
		})
	})

	t.Run("bad service input", func(t *testing.T) {
		for _, c := range []struct{ yaml, field string }{
			{"apiVersion: v1\nkind: Service\nmetadata: {name: np}\nspec:\n  type: NodePort\n  ports: [{port: 80, nodePort: 80}]\n", "spec.ports[0].nodePort"},
			{"apiVersion: v1\nkind: Service\nmetadata: {name: taken}\nspec:\n  type: NodePort\n  ports: [{port: 80, nodePort: 30080}]\n", "spec.ports[0].nodePort"},
			{"apiVersion: v1\nkind: Service\nmetadata: {name: badport}\nspec:\n  ports: [{name: HTTP_1, port: 80}]\n", "spec.ports[0].name"},
		} {
			_, errOut, err := h1.shoalIn([]byte(c.yaml), "apply", "-f", "-")
			if err == nil || !strings.Contains(errOut, c.field) {
				t.Fatalf("%s: %v %s", c.field, err, errOut)
			}
		}
		// A Service without a selector and without Endpoints of its user's
		// has no backend: a connection is refused at once, not left to time out.
		if _, errOut, err := h1.shoalIn([]byte("apiVersion: v1\nkind: Service\nmetadata: {name: manual}\nspec:\n  ports: [{port: 80}]\n"), "apply", "-f", "-"); err != nil {
			t.Fatalf("apply manual: %v %s", err, errOut)
		}
		poll.Until(t, 5*time.Second, "refused", func() error {
			start := time.Now()
			out, err := execIn(t, h2, "client", "get", "http://manual/")
			if err == nil || !strings.Contains(out, "refused") || time.Since(start) > 3*time.Second {
				return fmt.Errorf("%v %q after %s", err, out, time.Since(start))
			}
			return nil
		})
	})

	// Last: it takes a host away.
	t.Run("a dead host's backends leave once it is found dead, before eviction", func(t *testing.T) {
		var gone []string
		poll.Until(t, 30*time.Second, "a ready web pod on every host", func() error {
			gone = nil
			web := h1.pods(t, "default", "app=web")
			for _, p := range web {
				if p.Spec.NodeName == "h3" {
					gone = append(gone, p.Status.PodIP)
				}
			}
			return readyOnEveryHost(web)
		})
		start := time.Now()
		c.kill(3)
		poll.Until(t, 30*time.Second, "h3's pods out of the Endpoints", func() error {
			o, err := h2.client.Get(ctx(t), api.KindEndpoints, "default", "web")
			if err != nil {
				return err
			}
			for _, s := range o.(*api.Endpoints).Subsets {
				for _, a := range s.Addresses {
					if slices.Contains(gone, a.IP) {
						return fmt.Errorf("%s still an endpoint", a.IP)
					}
				}
			}
			return nil
		})
		took := time.Since(start)
		poll.Until(t, 5*time.Second, "every request answered", func() error {
			if out, err := execIn(t, h2, "client", "get", "http://web/hostname", "--count", "20"); err != nil {
				return fmt.Errorf("%v %s", err, out)
			}
			return nil
		})
		// Failure detection (about 3 s) and the leader's next sweep (1 s);
		// the pods themselves stay until the 60 s eviction timeout.
		if took > 8*time.Second {
			t.Fatalf("h3's backends left after %s", took)
		}
		if len(h1.pods(t, "default", "app=web")) != 3 {
			t.Fatal("h3's pods were evicted before the timeout")
		}
		t.Logf("host killed to its backends gone: %s", took)
	})

}

// readyOnEveryHost checks that the pods have a ready member on h1, h2 and h3.
func readyOnEveryHost(pods []*api.Pod) error {
	nodes := map[string]bool{}
	for _, p := range pods {
		if api.IsPodReady(p) {
			nodes[p.Spec.NodeName] = true
		}
	}
	if len(nodes) != 3 {
		return fmt.Errorf("ready pods on %v", nodes)
	}
	return nil
}

func podNamed2(t *testing.T, h *clusterHost, name string) *api.Pod {
	o, err := h.client.Get(ctx(t), api.KindPod, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*api.Pod)
}
