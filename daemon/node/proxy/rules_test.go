package proxy

import (
	"bytes"
	"context"
	"flag"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testRulesConfig = RulesConfig{ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")}

func TestRulesGolden(t *testing.T) {
	web := []string{"10.244.1.5", "10.244.2.7", "10.244.3.9"}
	affinity := svc("default", "web", "10.96.0.10", port("", "TCP", 80))
	affinity.Spec.SessionAffinity = api.AffinityClientIP
	nodePort := svc("default", "web", "10.96.0.10", port("http", "TCP", 80))
	nodePort.Spec.Type = api.ServiceTypeNodePort
	nodePort.Spec.Ports[0].NodePort = 30080
	lb := svc("default", "lb", "10.96.0.12", port("", "TCP", 443))
	lb.Spec.Type = api.ServiceTypeLoadBalancer
	lb.Spec.Ports[0].NodePort = 30443
	headless := svc("default", "db", api.ClusterIPNone, port("", "TCP", 5432))
	external := svc("default", "ext", "", port("", "TCP", 80))
	external.Spec.Type = api.ServiceTypeExternalName
	external.Spec.ExternalName = "example.org"
	notReady := eps("default", "web", []string{"10.244.1.5"}, epPort("", "TCP", 8080))
	notReady.Subsets[0].NotReadyAddresses = []api.EndpointAddress{{IP: "10.244.2.7"}}

	cases := []struct {
		name string
		svcs []*api.Service
		eps  []*api.Endpoints
		cfg  RulesConfig
	}{
		{name: "empty"},
		{name: "clusterip-3-endpoints",
			svcs: []*api.Service{svc("default", "web", "10.96.0.10", port("", "TCP", 80))},
			eps:  []*api.Endpoints{eps("default", "web", web, epPort("", "TCP", 8080))}},
		{name: "no-endpoints",
			svcs: []*api.Service{svc("default", "web", "10.96.0.10", port("", "TCP", 80)), lb},
			eps:  []*api.Endpoints{eps("default", "web", nil)}},
		{name: "nodeport",
			svcs: []*api.Service{nodePort},
			eps:  []*api.Endpoints{eps("default", "web", web[:2], epPort("http", "TCP", 8080))}},
		{name: "nodeport-node-ips",
			svcs: []*api.Service{nodePort, lb},
			eps:  []*api.Endpoints{eps("default", "web", web[:1], epPort("http", "TCP", 8080))},
			cfg: RulesConfig{ClusterCIDR: testRulesConfig.ClusterCIDR, MasqueradeMark: 0x8000,
				NodeIPs: []netip.Addr{netip.MustParseAddr("10.213.0.11"), netip.MustParseAddr("192.168.1.5")}}},
		{name: "udp-sctp",
			svcs: []*api.Service{svc("kube-system", "dns", "10.96.0.53", port("dns", "UDP", 53), port("dns-tcp", "TCP", 53)),
				svc("default", "sig", "10.96.0.20", port("", "SCTP", 3868))},
			eps: []*api.Endpoints{
				eps("kube-system", "dns", web[:2], epPort("dns", "UDP", 5353), epPort("dns-tcp", "TCP", 5353)),
				eps("default", "sig", web[2:], epPort("", "SCTP", 3868))}},
		{name: "affinity-clientip",
			svcs: []*api.Service{affinity},
			eps:  []*api.Endpoints{eps("default", "web", web[:2], epPort("", "TCP", 8080))}},
		{name: "headless-externalname",
			svcs: []*api.Service{headless, external},
			eps:  []*api.Endpoints{eps("default", "db", web, epPort("", "TCP", 5432))}},
		{name: "named-multiple-ports",
			// https has no endpoint port of its name: it rejects; metrics
			// is matched by name, not by position.
			svcs: []*api.Service{svc("shop", "api", "10.96.3.4", port("http", "TCP", 80), port("https", "TCP", 443), port("metrics", "TCP", 9100))},
			eps: []*api.Endpoints{{ObjectMeta: api.ObjectMeta{Namespace: "shop", Name: "api"}, Subsets: []api.EndpointSubset{
				{Addresses: []api.EndpointAddress{{IP: "10.244.4.2"}, {IP: "10.244.4.3"}},
					Ports: []api.EndpointPort{epPort("metrics", "TCP", 9090), epPort("http", "TCP", 8080)}},
				{Addresses: []api.EndpointAddress{{IP: "10.244.5.2"}}, Ports: []api.EndpointPort{epPort("http", "TCP", 8081)}},
			}}}},
		{name: "hairpin-not-ready",
			// The only ready backend is 10.244.1.5: its SEP chain marks
			// traffic from 10.244.1.5 itself for masquerade (hairpin); the
			// not-ready address gets no chain.
			svcs: []*api.Service{svc("default", "web", "10.96.0.10", port("", "TCP", 80))},
			eps:  []*api.Endpoints{notReady}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if !cfg.ClusterCIDR.IsValid() {
				cfg = testRulesConfig
			}
			got := Rules(tc.svcs, tc.eps, cfg)
			golden(t, tc.name, got)
		})
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("rules differ from %s (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRulesDeterministic(t *testing.T) {
	ss, es := manyServices(50, 3)
	want := Rules(ss, es, testRulesConfig)
	r := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		r.Shuffle(len(ss), func(i, j int) { ss[i], ss[j] = ss[j], ss[i] })
		r.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
		for _, e := range es {
			a := e.Subsets[0].Addresses
			r.Shuffle(len(a), func(i, j int) { a[i], a[j] = a[j], a[i] })
		}
		if got := Rules(ss, es, testRulesConfig); !bytes.Equal(got, want) {
			t.Fatal("the same state in another order gave other rules")
		}
	}
}

func TestRulesProbabilities(t *testing.T) {
	for n, want := range map[int][]string{
		1: nil,
		2: {"0.5000000000"},
		3: {"0.3333333333", "0.5000000000"},
		4: {"0.2500000000", "0.3333333333", "0.5000000000"},
	} {
		ss, es := manyServices(1, n)
		got := regexp.MustCompile(`--probability (\S+)`).FindAllStringSubmatch(string(Rules(ss, es, testRulesConfig)), -1)
		if len(got) != len(want) {
			t.Fatalf("%d endpoints: %d random rules, want %d", n, len(got), len(want))
		}
		for i := range want {
			if got[i][1] != want[i] {
				t.Errorf("%d endpoints: rule %d has probability %s, want %s", n, i, got[i][1], want[i])
			}
		}
		if jumps := strings.Count(string(Rules(ss, es, testRulesConfig)), "-j SHOAL-SEP-"); jumps != n {
			t.Errorf("%d endpoints: %d jumps to endpoint chains", n, jumps)
		}
	}
}

// TestRulesMasquerade: pod-to-pod traffic through a service keeps its source;
// only traffic from outside the cluster CIDR, node ports and hairpin traffic
// are marked.
func TestRulesMasquerade(t *testing.T) {
	ss, es := manyServices(3, 2)
	ss[0].Spec.Type, ss[0].Spec.Ports[0].NodePort = api.ServiceTypeNodePort, 30001
	out := string(Rules(ss, es, testRulesConfig))
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasSuffix(line, "-j "+chainMarkMasq) {
			continue
		}
		switch {
		case strings.HasPrefix(line, "-A "+svcChainPrefix) && strings.Contains(line, "! -s 10.244.0.0/16 "):
		case strings.HasPrefix(line, "-A "+sepChainPrefix) && regexp.MustCompile(` -s 10\.244\.\d+\.\d+/32 `).MatchString(line):
		case strings.HasPrefix(line, "-A "+chainNodePorts) && strings.Contains(line, "--dport 30001 "):
		default:
			t.Errorf("unexpected masquerade mark: %s", line)
		}
	}
	if n := strings.Count(out, "-j MASQUERADE"); n != 1 {
		t.Errorf("%d MASQUERADE rules, want 1", n)
	}
}

func TestChainNamesFit(t *testing.T) {
	sp := servicePort{name: strings.Repeat("n", 63) + "/" + strings.Repeat("s", 63) + ":" + strings.Repeat("p", 15), proto: "sctp"}
	ep := endpoint{ip: netip.MustParseAddr("255.255.255.255"), port: 65535}
	for _, c := range []string{svcChain(&sp), sepChain(&sp, ep), chainMasq, chainServices} {
		if len(c) > 28 {
			t.Errorf("chain %s is longer than iptables allows (28)", c)
		}
	}
	if svcChain(&sp) == svcChain(&servicePort{name: sp.name, proto: "tcp"}) {
		t.Error("TCP and SCTP ports of one name share a chain")
	}
}

// TestRenderChanged: a sync after one endpoint changed writes only what
// changed, deletes the old endpoint's chain, and nothing when nothing did.
func TestRenderChanged(t *testing.T) {
	ss, es := manyServices(20, 3)
	before := build(servicePorts(ss, es), testRulesConfig)
	prev := before.nat.chainRules()
	same := build(servicePorts(ss, es), testRulesConfig)
	if data := same.nat.renderChanged(prev, nil); data != nil {
		t.Fatalf("unchanged state rendered:\n%s", data)
	}
	es[7].Subsets[0].Addresses[1].IP = "10.244.200.200"
	after := build(servicePorts(ss, es), testRulesConfig)
	var existing []string
	for c := range prev {
		existing = append(existing, c)
	}
	stale := after.nat.staleChains(existing)
	if len(stale) != 1 || !strings.HasPrefix(stale[0], sepChainPrefix) {
		t.Fatalf("stale chains %v, want the old endpoint's", stale)
	}
	data := string(after.nat.renderChanged(prev, stale))
	declared := regexp.MustCompile(`(?m)^:(\S+) `).FindAllStringSubmatch(data, -1)
	// The service's chain, the new endpoint's, the stale one (flushed
	// before its deletion).
	if len(declared) != 3 {
		t.Fatalf("declared %d chains, want 3:\n%s", len(declared), data)
	}
	if !strings.Contains(data, "-X "+stale[0]+"\n") || !strings.Contains(data, "10.244.200.200:8080") {
		t.Errorf("diff misses the deletion or the new endpoint:\n%s", data)
	}
	if strings.Contains(data, chainServices) {
		t.Errorf("diff rewrites %s although no cluster IP changed:\n%s", chainServices, data)
	}
}

// TestRulesLoadBalancerIngress: a LoadBalancer Service's ingress addresses
// take its port, masqueraded, as kube-proxy does; without endpoints they
// are rejected; a ClusterIP Service's stale status publishes nothing.
func TestRulesLoadBalancerIngress(t *testing.T) {
	lb := svc("default", "web", "10.96.0.10", api.ServicePort{Name: "http", Port: 80, Protocol: "TCP", NodePort: 30080})
	lb.Spec.Type = api.ServiceTypeLoadBalancer
	lb.Status.LoadBalancer.Ingress = []api.LoadBalancerIngress{{IP: "10.213.0.12"}, {IP: "10.213.0.11"}, {IP: "127.0.0.1"}}
	plain := svc("default", "db", "10.96.0.11", api.ServicePort{Name: "pg", Port: 5432, Protocol: "TCP"})
	plain.Status.LoadBalancer.Ingress = []api.LoadBalancerIngress{{IP: "10.213.0.11"}}
	es := []*api.Endpoints{eps("default", "web", []string{"10.244.1.5"}, api.EndpointPort{Name: "http", Port: 8080}),
		eps("default", "db", []string{"10.244.1.6"}, api.EndpointPort{Name: "pg", Port: 5432})}
	out := string(Rules([]*api.Service{lb, plain}, es, testRulesConfig))
	for _, ip := range []string{"10.213.0.11", "10.213.0.12"} {
		var mark, jump bool
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "-A "+chainServices) && strings.Contains(line, "-d "+ip+"/32 ") && strings.Contains(line, "--dport 80 ") {
				mark = mark || strings.HasSuffix(line, "-j "+chainMarkMasq)
				jump = jump || strings.Contains(line, "-j "+svcChainPrefix)
			}
		}
		if !mark || !jump {
			t.Errorf("load balancer address %s: masquerade %v, service jump %v\n%s", ip, mark, jump, out)
		}
	}
	if strings.Contains(out, "-d 127.0.0.1/32") || strings.Contains(out, "-d 10.213.0.11/32 -p tcp -m tcp --dport 5432") {
		t.Errorf("loopback or a ClusterIP Service's status published:\n%s", out)
	}
	es[0].Subsets = nil
	out = string(Rules([]*api.Service{lb}, es[:1], testRulesConfig))
	if !strings.Contains(out, "-d 10.213.0.11/32 -p tcp -m tcp --dport 80 -j REJECT") {
		t.Errorf("no reject for a load balancer address without endpoints:\n%s", out)
	}
}

// The FORWARD jumps go right below Docker's jump to DOCKER-USER, so that an
// administrator's rules there come first; the others go first.
func TestJumpsGoBelowDockerUserInForward(t *testing.T) {
	k := newFakeKernel()
	k.tables[TableFilter]["DOCKER-USER"] = []string{"-j RETURN"}
	k.tables[TableFilter]["FORWARD"] = []string{"-d 10.244.2.0/24 -j DROP", "-j DOCKER-USER", "-j DOCKER-ISOLATION-STAGE-1"}
	k.tables[TableNAT]["POSTROUTING"] = []string{"-s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"}
	if _, err := ensureJumps(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	fwd := k.tables[TableFilter]["FORWARD"]
	if len(fwd) != 5 || fwd[0] != "-d 10.244.2.0/24 -j DROP" || fwd[1] != "-j DOCKER-USER" ||
		!strings.HasSuffix(fwd[2], "-j "+chainForward) || !strings.HasSuffix(fwd[3], "-j "+chainServices) {
		t.Fatalf("FORWARD:\n%s", strings.Join(fwd, "\n"))
	}
	if post := k.tables[TableNAT]["POSTROUTING"]; !strings.HasSuffix(post[0], "-j "+chainMasq) {
		t.Fatalf("POSTROUTING:\n%s", strings.Join(post, "\n"))
	}
}
