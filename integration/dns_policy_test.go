package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// dnsStats reads the cluster DNS counters of a host's agent from
// /shoal/v1/agent.
func dnsStats(t *testing.T, h *clusterHost) map[string]any {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.url+"/shoal/v1/agent", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.httpClient(t).Do(req)
	if err != nil {
		t.Fatalf("agent info of %s: %v", h.name, err)
	}
	defer resp.Body.Close()
	var info struct {
		DNS struct {
			Stats map[string]any `json:"stats"`
		} `json:"dns"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("agent info of %s: %s %v", h.name, resp.Status, err)
	}
	return info.DNS.Stats
}

// statNum is one counter of dnsStats, 0 when missing.
func statNum(st map[string]any, key string) float64 {
	f, _ := st[key].(float64)
	return f
}

// rawDNS sends one packed query over UDP from this process (the root
// namespace: 10.213.0.1 on the hosts' bridge, neither a node nor a pod) and
// returns the answer's bytes.
func rawDNS(t *testing.T, server string, q *mdns.Msg) ([]byte, []byte) {
	t.Helper()
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 65535)
	for range 3 {
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
		if n, err := conn.Read(buf); err == nil {
			return b, buf[:n]
		}
	}
	t.Fatalf("no answer from %s to %v", server, q.Question)
	return nil, nil
}

const dnsProbe = `apiVersion: v1
kind: Service
metadata: {name: probe}
spec:
  selector: {app: none}
  ports: [{port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: asker}
spec:
  nodeName: h1
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: shoal-testapp:v1, args: ["sleep", "infinity"]}]
`

// The agents' DNS on the host address answers cluster names to anyone, and
// resolves other names only for pods, nodes and loopback: the root
// namespace's bridge address, 10.213.0.1, is none of them.
func TestClusterDNSIsNotAnOpenResolver(t *testing.T) {
	c := startCluster(t, 2, "--dns-upstream", "10.213.0.1:5353")
	upstreamDNS(t)
	h1 := c.agent(1)
	const dnsH1 = "10.213.0.11:53"
	poll.Until(t, 30*time.Second, "2 Ready nodes", func() error {
		if got := strings.Join(h1.readyNodes(t), ","); got != "h1,h2" {
			return fmt.Errorf("h1 sees %q", got)
		}
		return nil
	})
	if _, errOut, err := h1.shoalIn([]byte(dnsProbe), "apply", "-f", "-"); err != nil {
		t.Fatalf("apply: %v %s", err, errOut)
	}
	var vip string
	poll.Until(t, 30*time.Second, "the probe service's address", func() error {
		o, err := h1.client.Get(ctx(t), api.KindService, "default", "probe")
		if err != nil {
			return err
		}
		if vip = o.(*api.Service).Spec.ClusterIP; vip == "" {
			return fmt.Errorf("no cluster IP yet")
		}
		return nil
	})

	t.Run("a cluster name is answered to a stranger", func(t *testing.T) {
		poll.Until(t, 10*time.Second, "probe resolves", func() error {
			out, err := exec.Command("dig", "@10.213.0.11", "+short", "+time=2", "+tries=1", "probe.default.svc.cluster.local", "A").CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != vip {
				return fmt.Errorf("dig: %v %q, want %s", err, out, vip)
			}
			return nil
		})
	})

	t.Run("another name is refused to a stranger", func(t *testing.T) {
		out, err := exec.Command("dig", "@10.213.0.11", "+time=2", "+tries=1", "www.example.test", "A").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "status: REFUSED") || strings.Contains(string(out), "192.0.2.80") {
			t.Fatalf("dig from the root namespace: %v\n%s", err, out)
		}
		// The amplification a stranger gets: a 44-byte query, the answer's size.
		q := new(mdns.Msg)
		q.SetQuestion("www.example.com.", mdns.TypeA)
		q.SetEdns0(1232, false)
		sent, got := rawDNS(t, dnsH1, q)
		m := new(mdns.Msg)
		if err := m.Unpack(got); err != nil || m.Rcode != mdns.RcodeRefused || m.RecursionAvailable {
			t.Fatalf("raw query: %v %v", m, err)
		}
		t.Logf("a stranger's %d-byte query drew %d bytes (%s): amplification %.2f", len(sent), len(got), mdns.RcodeToString[m.Rcode], float64(len(got))/float64(len(sent)))
		if len(got) > len(sent) {
			t.Errorf("%d bytes answered to a %d-byte query", len(got), len(sent))
		}
		if st := dnsStats(t, h1); statNum(st, "refused") < 2 {
			t.Errorf("refused not counted: %v", st)
		}
	})

	t.Run("another name resolves for a node", func(t *testing.T) {
		out, err := exec.Command("ip", "netns", "exec", "shoal-h2", "dig", "@10.213.0.11", "+short", "+time=2", "+tries=2", "www.example.test", "A").CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "192.0.2.80" {
			t.Fatalf("dig from h2's address: %v %q", err, out)
		}
	})

	t.Run("another name resolves for a pod", func(t *testing.T) {
		poll.Until(t, 90*time.Second, "the asker pod running", func() error {
			o, err := h1.client.Get(ctx(t), api.KindPod, "default", "asker")
			if err != nil {
				return err
			}
			if p := o.(*api.Pod); p.Status.Phase != api.PodRunning {
				return fmt.Errorf("phase %s", p.Status.Phase)
			}
			return nil
		})
		for _, name := range []string{"www.example.test", "probe"} {
			out, err := execIn(t, h1, "asker", "lookup", name, "--type", "A")
			want := map[string]string{"www.example.test": "192.0.2.80", "probe": vip}[name]
			if err != nil || !strings.Contains(out, want) {
				t.Fatalf("lookup %s in a pod: %v %s (want %s)", name, err, out, want)
			}
		}
	})

	t.Run("a flood from a stranger is rate limited", func(t *testing.T) {
		conn, err := net.Dial("udp", dnsH1)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		q := new(mdns.Msg)
		q.SetQuestion("probe.default.svc.cluster.local.", mdns.TypeA)
		b, _ := q.Pack()
		const sent = 3000
		answered := make(chan int)
		go func() {
			n, buf := 0, make([]byte, 1500)
			for {
				_ = conn.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := conn.Read(buf); err != nil {
					answered <- n
					return
				}
				n++
			}
		}()
		for range sent {
			if _, err := conn.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		n := <-answered
		st := dnsStats(t, h1)
		t.Logf("%d queries sent at once, %d answered (slips included); agent: rate limited %v, slipped %v", sent, n, st["rateLimited"], st["slipped"])
		if statNum(st, "rateLimited") == 0 || n >= sent {
			t.Errorf("no rate limit: %d of %d answered, stats %v", n, sent, st)
		}
	})
}
